import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "tool-write-file",
  version: "0.1.0",
  description:
    "write_file: creates or replaces a file atomically inside the conversation's working directory",
  dependsOn: [],
  // "$WORKSPACE_ROOTS" is expanded by the host to the configured workspace roots.
  permissions: { read: ["$WORKSPACE_ROOTS"], write: ["$WORKSPACE_ROOTS"] },
  core: false,
};
