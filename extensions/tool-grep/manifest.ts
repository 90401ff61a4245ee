import { type ManifestInput, toolSpec } from "../../src/kernel/mod.ts";
import { description, inputSchema, MAX_GREP_TIMEOUT_MS, NAME } from "./tool_spec.ts";

export const manifest: ManifestInput = {
  id: "tool-grep",
  version: "0.2.0",
  description:
    "grep: regular-expression search (ripgrep, under bubblewrap) of the files under the conversation's working directory",
  dependsOn: [],
  permissions: {
    // Walking the working directory ("$WORKSPACE_ROOTS": the configured workspace roots) and examining the
    // protected paths ("$PROTECTED_PATHS") to mask them in the search's view.
    read: ["$WORKSPACE_ROOTS", "$PROTECTED_PATHS"],
    // bwrap runs rg inside the view.
    run: ["bwrap"],
  },
  core: false,
  // Declared, so the daemon offers the tool without starting the sandbox (it starts on the first call).
  tools: [{ ...toolSpec({ name: NAME, description, inputSchema }), timeoutMs: MAX_GREP_TIMEOUT_MS }],
};
