import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "provider-umans",
  version: "0.1.0",
  description: "The Umans AI Coding Plan provider (UMANS_API_KEY), models named umans/<model>",
  dependsOn: ["auth-apikey", "credential-store"],
  permissions: { net: true },
  core: true,
};
