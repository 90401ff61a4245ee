import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "surface-loaded-extensions",
  version: "0.1.0",
  description:
    "The global `loaded-extensions` surface: a stat per extension with its status, isolation and permissions",
  dependsOn: ["surface-registry"],
  core: true,
};
