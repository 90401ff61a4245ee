// skills: SKILL.md files found for each turn's cwd, listed in the system prompt (`prompt:skills`) and read by
// the `load_skill` tool. The list is found again per turn, so a skill added meanwhile shows up next turn.
//
// Core (in-process): it looks in every folder above the cwd and in the user's home, which no workspace-root
// permission covers, and it adds its variable to the core system-prompt service. Its reads are confined instead:
// a SKILL.md is read only inside the folder it was found in (symlinks resolved), capped, and `load_skill`
// takes a skill's name, never a path, so a model can only read what the list offers.
import { z } from "zod";
import type { ExtensionContext } from "../../src/kernel/mod.ts";
import { defineTool, fail } from "../../src/sdk/tool.ts";
import { protectedPaths } from "../system-prompt/files.ts";
import { SystemPromptKey } from "../system-prompt/api.ts";
import { type DiscoverOptions, discoverSkills, formatSkillList, loadSkill } from "./discover.ts";

export { manifest } from "./manifest.ts";

export const LOAD_SKILL = "load_skill";

export function skillsOptions(ctx: ExtensionContext, home = Deno.env.get("HOME")): DiscoverOptions {
  const warned = new Set<string>();
  return {
    ...(home ? { home } : {}),
    protectedPaths: protectedPaths(ctx.config),
    onSkip: (path, why) => {
      // Once per file and reason: the list is found again every turn.
      const id = `${path}\n${why}`;
      if (warned.has(id)) return;
      warned.add(id);
      ctx.log.warn("a skill is skipped", { path, why });
    },
  };
}

export function activate(ctx: ExtensionContext): void {
  const options = skillsOptions(ctx);

  ctx.services.require(SystemPromptKey).addVariable({
    type: "prompt",
    name: "skills",
    description:
      "The skills found for the working directory and the user (name: description (path)), by name",
    resolve: async (c) => formatSkillList(await discoverSkills(c.cwd, options)),
  });

  ctx.tools.register(defineTool({
    name: LOAD_SKILL,
    description: "Load a skill's instructions by its name, from the skills listed in the system prompt. " +
      "Call it before a task the skill describes, then follow what it says; files it mentions are relative to " +
      "its folder.",
    inputSchema: z.object({
      name: z.string().min(1).max(128).describe("The skill's name, exactly as listed"),
    }),
    async execute({ name }, tctx) {
      const skills = await discoverSkills(tctx.cwd, options);
      const skill = skills.find((s) => s.name === name);
      if (!skill) {
        const names = skills.map((s) => s.name).join(", ") || "none";
        fail(`no skill named "${name}"; available: ${names}`);
      }
      const body = await loadSkill(skill, options);
      if (typeof body !== "string") fail(body.error);
      return `Skill "${skill.name}" (${skill.path})\n\n${body}`;
    },
  }));
}
