import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "system-prompt",
  version: "0.1.0",
  description:
    "The system message of every turn, from a stored template with variables and conditional sections; " +
    "GET/PUT /system-prompt, GET /system-prompt/variables",
  dependsOn: ["storage-sqlite", "conversation-store", "session-orchestrator", "transport-http"],
  core: true,
};
