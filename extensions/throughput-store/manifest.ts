import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "throughput-store",
  version: "0.1.0",
  description: "Output tokens per second per model, one sample per finished turn; GET /metrics/throughput",
  dependsOn: ["storage-sqlite", "conversation-store", "session-orchestrator", "transport-http"],
  core: true,
};
