// throughput-store: one sample per finished turn (its model, output tokens and generation time), taken from
// the orchestrator's stored events, and GET /metrics/throughput over them.
import { type ExtensionContext, StorageKey } from "../../src/kernel/mod.ts";
import { routes } from "../../src/contract/http.ts";
import { ConversationStoreKey } from "../conversation-store/api.ts";
import { SessionEvent } from "../session-orchestrator/api.ts";
import { HttpServerKey } from "../transport-http/api.ts";
import { ThroughputStoreKey } from "./api.ts";
import { SqliteThroughputStore } from "./store.ts";

export { manifest } from "./manifest.ts";
export * from "./api.ts";

/** Turns being measured at once; a turn that never ends (a crash) is dropped beyond this. */
const MAX_OPEN_TURNS = 1000;

export function activate(ctx: ExtensionContext): void {
  const conversations = ctx.services.require(ConversationStoreKey);
  const store = new SqliteThroughputStore(
    ctx.services.require(StorageKey).openDatabase("throughput"),
    ctx.clock,
  );
  ctx.services.provide(ThroughputStoreKey, store);

  const open = new Map<string, { model: string | null; genMs: number; outputTokens: number }>();
  ctx.events.on(SessionEvent, ({ event }) => {
    if (event.type === "status") return;
    const key = `${event.conversationId}\n${event.turnId}`;
    if (event.type === "user-message") {
      const running = conversations.runningTurn(event.conversationId);
      open.set(key, {
        model: running?.turnId === event.turnId ? running.model : null,
        genMs: 0,
        outputTokens: 0,
      });
      if (open.size > MAX_OPEN_TURNS) open.delete(open.keys().next().value!);
      return;
    }
    const turn = open.get(key);
    if (!turn) return;
    switch (event.type) {
      case "usage":
        turn.outputTokens += event.usage.outputTokens;
        break;
      case "step-complete":
        turn.genMs += event.genTotalMs ?? 0;
        break;
      case "done":
        open.delete(key);
        if (turn.model && turn.genMs > 0) {
          try {
            store.record({
              model: turn.model,
              at: ctx.clock.now(),
              outputTokens: event.usage?.outputTokens ?? turn.outputTokens,
              genMs: turn.genMs,
            });
          } catch (error) {
            ctx.log.warn("could not record a throughput sample", { error: String(error) });
          }
        }
        break;
      case "turn-sealed":
        open.delete(key);
        break;
    }
  });

  ctx.services.require(HttpServerKey).route(routes.throughput, ({ query }) => store.aggregate(query));
}
