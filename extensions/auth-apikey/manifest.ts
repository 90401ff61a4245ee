import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "auth-apikey",
  version: "0.1.0",
  description: "API-key credentials from the environment (DISPATCH_*, UMANS_*)",
  dependsOn: [],
  permissions: {},
  core: true,
};
