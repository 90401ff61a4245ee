import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "credential-store",
  version: "0.1.0",
  description: "The model catalog: providers per credential, models named <credential>/<model>",
  dependsOn: ["auth-apikey"],
  permissions: {},
  core: true,
};
