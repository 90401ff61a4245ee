// Turn events as NDJSON, from the conversation's one feed: `POST /chat` streams the turn it starts, and
// `GET /conversations/:id/events?sinceEventSeq=N` re-attaches to a running or finished turn (replay, then
// live until `turn-sealed`). Every line is a stored event with its `eventSeq`; a client that has seen up to N
// gets exactly the events after N, whichever way it re-attaches.
import { DispatchError, notFound } from "../../src/kernel/mod.ts";
import { routes } from "../../src/contract/http.ts";
import type { ConversationStore, EventCursor } from "../conversation-store/api.ts";
import { followTurn } from "../session-orchestrator/orchestrator.ts";
import type { Orchestrator } from "../session-orchestrator/api.ts";
import type { HttpServer } from "./api.ts";

export function mountEventRoutes(
  { server, store, orchestrator }: {
    server: HttpServer;
    store: ConversationStore;
    orchestrator: Orchestrator;
  },
): void {
  server.route(routes.conversationEvents, ({ params, query }) => {
    if (!store.get(params.id)) throw notFound("unknown_conversation", `no conversation ${params.id}`);
    const since = query.sinceEventSeq ?? 0;
    const running = orchestrator.running(params.id);
    // A turn runs: everything after the cursor, then live to its seal. Otherwise: what is stored, then done.
    const cursor = running
      ? followTurn(store, params.id, running.turnId, Math.min(since, store.latestEventSeq(params.id)))
      : store.follow(params.id, since, { untilCaughtUp: true });
    return ndjson(cursor, { conversationId: params.id, turnId: running?.turnId });
  });
}

/**
 * Streams a cursor's events, one JSON per line, each batch in one write. A client going away stops the stream,
 * never the turn. When the events could not be stored, the stream ends with an `error` and a `done` line that
 * carry no `eventSeq` (they are not stored; nothing before them was lost).
 */
export function ndjson(cursor: EventCursor, ids: { conversationId: string; turnId?: string }): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let batch;
      try {
        batch = await cursor.next();
      } catch (error) {
        if (!(error instanceof DispatchError) || ids.turnId === undefined) throw error;
        const base = { conversationId: ids.conversationId, turnId: ids.turnId };
        const lines = JSON.stringify({ type: "error", ...base, message: error.message, code: error.code }) +
          "\n" + JSON.stringify({ type: "done", ...base, reason: "error" }) + "\n";
        controller.enqueue(encoder.encode(lines));
        return controller.close();
      }
      if (!batch) return controller.close();
      let text = "";
      for (const e of batch) text += e.line + "\n";
      controller.enqueue(encoder.encode(text));
    },
    cancel() {
      cursor.close();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "application/x-ndjson; charset=utf-8",
      "cache-control": "no-cache",
      "x-conversation-id": ids.conversationId,
    },
  });
}
