import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "transport-ws",
  version: "0.1.0",
  description:
    "WebSocket transport: surfaces (catalog, subscribe, update, invoke) and chat (send, follow with replay, queue)",
  dependsOn: ["surface-registry", "session-orchestrator", "conversation-store", "transport-http"],
  core: true,
};
