import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "journal-sink",
  version: "0.1.0",
  description: "Spans of every turn (its steps, provider calls and tool calls) into the journal",
  dependsOn: ["session-orchestrator"],
  core: true,
};
