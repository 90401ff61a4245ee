import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "message-queue",
  version: "0.1.0",
  description:
    "Per-conversation message queue: steers a running turn between steps, starts a turn when idle, survives restarts",
  dependsOn: [
    "storage-sqlite",
    "conversation-store",
    "session-orchestrator",
    "surface-registry",
    "transport-http",
  ],
  core: true,
};
