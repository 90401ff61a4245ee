import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "provider-openai-compat",
  version: "0.1.0",
  description: "OpenAI-compatible chat-completions providers, one per API-key credential",
  dependsOn: ["auth-apikey", "credential-store"],
  permissions: { net: true },
  core: true,
};
