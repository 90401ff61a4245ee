import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "cache-warming",
  version: "0.1.0",
  description:
    "Keeps a conversation's provider prompt cache warm while it is open and idle: timers, POST /chat/warm, a surface",
  dependsOn: ["conversation-store", "session-orchestrator", "surface-registry", "transport-http"],
  core: true,
};
