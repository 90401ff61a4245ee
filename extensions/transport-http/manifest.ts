import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "transport-http",
  version: "0.1.0",
  description: "Hono HTTP transport: POST /chat as NDJSON, the conversation and model API, token auth, CORS",
  dependsOn: ["session-orchestrator", "conversation-store", "credential-store"],
  core: true,
};
