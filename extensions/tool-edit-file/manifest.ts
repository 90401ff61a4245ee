import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "tool-edit-file",
  version: "0.1.0",
  description: "edit_file: exact-string replacement in a file inside the conversation's working directory",
  dependsOn: [],
  // "$WORKSPACE_ROOTS" is expanded by the host to the configured workspace roots.
  permissions: { read: ["$WORKSPACE_ROOTS"], write: ["$WORKSPACE_ROOTS"] },
  core: false,
};
