import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "compaction",
  version: "0.1.0",
  description:
    "Compaction: POST /conversations/:id/compact forks the conversation into a summary plus its latest turn; " +
    "automatic before a turn whose prompt would pass the conversation's compact-percent of the context window",
  dependsOn: ["conversation-store", "credential-store", "session-orchestrator", "transport-http"],
  core: true,
};
