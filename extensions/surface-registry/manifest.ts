import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "surface-registry",
  version: "0.1.0",
  description: "Where extensions contribute UI surfaces (frontend-agnostic data) and their actions",
  dependsOn: [],
  core: true,
};
