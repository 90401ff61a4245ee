import { type ManifestInput, toolSpec } from "../../src/kernel/mod.ts";
import { description, inputSchema, NAME } from "./tool_spec.ts";

export const manifest: ManifestInput = {
  id: "tool-glob",
  version: "0.1.0",
  description: "glob: finds files by glob pattern under the conversation's working directory",
  dependsOn: [],
  // "$WORKSPACE_ROOTS" is expanded by the host to the configured workspace roots.
  permissions: { read: ["$WORKSPACE_ROOTS"] },
  core: false,
  // Declared, so the daemon offers the tool without starting the sandbox (it starts on the first call).
  tools: [toolSpec({ name: NAME, description, inputSchema })],
};
