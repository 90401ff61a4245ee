import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "tool-grep",
  version: "0.1.0",
  description: "grep: regular-expression search of the files under the conversation's working directory",
  dependsOn: [],
  // "$WORKSPACE_ROOTS" is expanded by the host to the configured workspace roots.
  permissions: { read: ["$WORKSPACE_ROOTS"] },
  core: false,
};
