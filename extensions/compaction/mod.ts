// compaction: POST /conversations/:id/compact, and the same fork before a turn whose prompt would pass the
// conversation's compact-percent of its model's context window (the turn then runs in the new conversation).
import type { ExtensionContext } from "../../src/kernel/mod.ts";
import { compactionRoutes } from "../../src/contract/http.ts";
import { ConversationStoreKey } from "../conversation-store/api.ts";
import { DEFAULT_CONTEXT_WINDOW, ModelCatalogKey } from "../credential-store/api.ts";
import { BeforeTurnHook, OrchestratorKey } from "../session-orchestrator/api.ts";
import { HttpServerKey } from "../transport-http/api.ts";
import { COMPACT_PERCENT_KEY, compactPercentOf } from "../transport-http/conversation_routes.ts";
import { Compactor } from "./compactor.ts";
import { estimateTokens } from "./transcript.ts";

export { manifest } from "./manifest.ts";

export function activate(ctx: ExtensionContext): void {
  const store = ctx.services.require(ConversationStoreKey);
  const catalog = ctx.services.require(ModelCatalogKey);
  const orchestrator = ctx.services.require(OrchestratorKey);
  const contextWindow = async (modelName: string) =>
    (await catalog.info(modelName))?.contextWindow ?? DEFAULT_CONTEXT_WINDOW;
  const compactor = new Compactor({ store, orchestrator, events: ctx.events, log: ctx.log, contextWindow });

  ctx.services.require(HttpServerKey).route(
    compactionRoutes.compact,
    ({ params, request }) => compactor.compact(params.id, { signal: request.signal }),
  );

  ctx.hooks.register(BeforeTurnHook, async (plan) => {
    const conversation = store.get(plan.conversationId);
    const percent = compactPercentOf(conversation?.settings[COMPACT_PERCENT_KEY]);
    if (!conversation || percent === 0 || plan.messages.length === 0) return;
    // The last finished step's real size when the provider reported one, else an estimate of the history.
    const last = store.turns(plan.conversationId).findLast((t) => t.contextSize !== null);
    const history = last?.contextSize ?? estimateTokens(plan.messages);
    const prompt = history + estimateTokens(plan.message);
    const window = await contextWindow(plan.modelName);
    if (prompt * 100 < percent * window) return;
    ctx.log.info("compacting before a turn", {
      conversationId: plan.conversationId,
      promptTokens: prompt,
      contextWindow: window,
      percent,
    });
    try {
      const { newConversationId } = await compactor.compact(plan.conversationId, { model: plan.modelName });
      return { ...plan, conversationId: newConversationId };
    } catch (error) {
      ctx.log.warn("automatic compaction failed; the turn goes on in the uncompacted conversation", {
        conversationId: plan.conversationId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  });
}
