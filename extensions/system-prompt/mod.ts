// system-prompt: the stored template rendered into a system message at the first step of every turn (later steps
// of the turn reuse it, byte for byte), GET/PUT /system-prompt and GET /system-prompt/variables.
//
// Core (in-process): its prepare-step hook receives the whole step plan, tool handles (functions) included,
// which cannot cross a sandbox's message bridge, and it quotes AGENTS.md from every folder above the cwd, which
// no workspace-root permission covers. What it reads is confined instead (files.ts).
import { type ExtensionContext, PrepareStepHook, type StepPlan, StorageKey } from "../../src/kernel/mod.ts";
import { systemPromptRoutes } from "../../src/contract/system_prompt_routes.ts";
import { ConversationStoreKey } from "../conversation-store/api.ts";
import { OrchestratorKey } from "../session-orchestrator/api.ts";
import { HttpServerKey } from "../transport-http/api.ts";
import { SystemPromptKey } from "./api.ts";
import { protectedPaths } from "./files.ts";
import { SystemPrompt } from "./service.ts";
import { TemplateStore } from "./store.ts";
import { builtinVariables, describeOs } from "./variables.ts";

export { manifest } from "./manifest.ts";
export * from "./api.ts";

/** Runs after hooks that change the tool list, so `prompt:tools` names what the model really gets. */
export const PROMPT_HOOK_PRIORITY = 100;
/** Conversations whose current turn's prompt is kept (one entry each; the oldest goes first). */
const MAX_KEPT = 1000;

export function activate(ctx: ExtensionContext): void {
  const conversations = ctx.services.require(ConversationStoreKey);
  const service = new SystemPrompt(
    new TemplateStore(ctx.services.require(StorageKey).openDatabase("system-prompt")),
    ctx.log,
  );
  const skipped = new Set<string>();
  for (
    const variable of builtinVariables({
      now: () => ctx.clock.now(),
      home: Deno.env.get("HOME"),
      os: describeOs(readOptional("/etc/os-release"), Deno.build.os, Deno.build.arch),
      hostname: Deno.hostname(),
      protectedPaths: protectedPaths(ctx.config),
      onSkip: (path, why) => {
        if (skipped.has(path)) return;
        skipped.add(path);
        ctx.log.warn("an AGENTS.md is not quoted in the system prompt", { path, why });
      },
    })
  ) service.addVariable(variable);
  ctx.services.provide(SystemPromptKey, service);

  /** A conversation's facts from the store (the step plan carries the cwd when the turn has one, not the workspace). */
  const storedFacts = async (conversationId: string, planCwd?: string) => {
    const conversation = conversations.get(conversationId);
    const cwd = planCwd ?? conversation?.cwd ??
      (conversation ? conversations.getWorkspace(conversation.workspaceId)?.defaultCwd : undefined) ??
      undefined;
    return {
      conversation,
      // The orchestrator hands turns the real path; a workspace default may be stored as typed.
      cwd: cwd === undefined ? undefined : await Deno.realPath(cwd).catch(() => cwd),
    };
  };

  const kept = new Map<string, { turnId: string; prompt: string }>();
  ctx.hooks.register(PrepareStepHook, async (plan: StepPlan): Promise<StepPlan | void> => {
    let entry = kept.get(plan.conversationId);
    if (entry?.turnId !== plan.turnId) {
      let prompt = "";
      try {
        const { conversation, cwd } = await storedFacts(plan.conversationId, plan.cwd);
        prompt = await service.render({
          conversationId: plan.conversationId,
          ...(cwd !== undefined ? { cwd } : {}),
          ...(conversation ? { workspaceId: conversation.workspaceId } : {}),
          model: plan.model,
          tools: plan.tools.map((t) => t.spec.name).sort(),
        });
      } catch (error) {
        // Only storage can fail here (variables fail soft): the turn goes on, without a system message.
        ctx.log.error("the system prompt could not be rendered; this turn has none", {
          error: String(error),
        });
      }
      entry = { turnId: plan.turnId, prompt };
      kept.delete(plan.conversationId);
      kept.set(plan.conversationId, entry);
      if (kept.size > MAX_KEPT) kept.delete(kept.keys().next().value!);
    }
    if (entry.prompt === "") return;
    return { ...plan, messages: [{ role: "system" as const, content: entry.prompt }, ...plan.messages] };
  }, { priority: PROMPT_HOOK_PRIORITY });

  const server = ctx.services.require(HttpServerKey);
  server.route(systemPromptRoutes.getSystemPrompt, () => service.template());
  server.route(systemPromptRoutes.setSystemPrompt, ({ body }) => {
    service.setTemplate(body.template);
    return service.template();
  });
  server.route(systemPromptRoutes.systemPromptVariables, async ({ query }) => {
    const catalog = service.variables().map(({ type, name, description }) => ({ type, name, description }));
    if (query.conversationId === undefined) return { variables: catalog };
    // The next turn's model, cwd and tools, built by the code that builds the turn.
    const prefix = await ctx.services.require(OrchestratorKey).prefix(query.conversationId);
    const { conversation } = await storedFacts(query.conversationId);
    const values = await service.resolve({
      conversationId: query.conversationId,
      ...(prefix.cwd !== undefined ? { cwd: prefix.cwd } : {}),
      ...(conversation ? { workspaceId: conversation.workspaceId } : {}),
      model: prefix.model,
      tools: prefix.tools.map((t) => t.spec.name).sort(),
    });
    return { variables: catalog.map((v) => ({ ...v, value: values.get(`${v.type}:${v.name}`) ?? null })) };
  });
}

function readOptional(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}
