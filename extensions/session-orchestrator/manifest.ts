import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "session-orchestrator",
  version: "0.1.0",
  description: "Drives one turn end to end: history, model, tools, runTurn, persistence; one turn at a time",
  dependsOn: ["conversation-store", "credential-store"],
  core: true,
};
