import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "lsp",
  version: "0.1.0",
  description:
    "Language servers per working directory (confined by bubblewrap): the lsp tool, diagnostics after edit_file " +
    "and write_file, GET /conversations/:id/lsp and a surface",
  dependsOn: ["surface-registry"],
  // In the daemon's process: it spawns bwrap (the servers are the untrusted part and run confined), rewrites
  // each step's edit tools (a prepare-step hook) and answers the HTTP route in-process.
  core: true,
};
