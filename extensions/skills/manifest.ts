import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "skills",
  version: "0.1.0",
  description:
    "SKILL.md files from .agents/skills (and .claude/skills) of the cwd, its parents and the home folder: listed " +
    "in the system prompt, read with load_skill",
  dependsOn: ["system-prompt"],
  core: true,
};
