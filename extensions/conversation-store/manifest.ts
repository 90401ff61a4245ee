import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "conversation-store",
  version: "0.1.0",
  description: "Conversations, their chunk history, turn metrics and per-turn event logs, in SQLite",
  dependsOn: ["storage-sqlite"],
  permissions: {},
  core: true,
};
