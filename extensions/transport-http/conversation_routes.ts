// The turn and conversation routes: chat as NDJSON, listing, history, status, last, stop.
import { notFound } from "../../src/kernel/mod.ts";
import { routes } from "../../src/contract/http.ts";
import type { Conversation, ConversationStore } from "../conversation-store/api.ts";
import type { ModelCatalog } from "../credential-store/api.ts";
import type { Orchestrator, TurnHandle } from "../session-orchestrator/api.ts";
import type { HttpServer } from "./api.ts";

export interface RouteDeps {
  server: HttpServer;
  store: ConversationStore;
  orchestrator: Orchestrator;
  catalog: ModelCatalog;
}

export const view = (c: Conversation) => ({
  id: c.id,
  title: c.title,
  status: c.status,
  createdAt: c.createdAt,
  lastActivityAt: c.lastActivityAt,
  workspaceId: c.workspaceId,
  cwd: c.cwd,
  model: c.model,
  reasoningEffort: c.reasoningEffort,
});

export function mountConversationRoutes({ server, store, orchestrator, catalog }: RouteDeps): void {
  const known = (id: string) => {
    const c = store.get(id);
    if (!c) throw notFound("unknown_conversation", `no conversation ${id}`);
    return c;
  };

  server.route(routes.health, () => ({ ok: true as const }));

  server.route(routes.models, async ({ request }) => {
    const listing = await catalog.list(request.signal);
    return { models: listing.models, modelInfo: listing.modelInfo };
  });

  server.route(routes.chat, async ({ body, request }) => {
    const handle = await orchestrator.submit({
      conversationId: body.conversationId,
      message: (body.message ?? body.text)!,
      model: body.model,
      cwd: body.cwd,
      reasoningEffort: body.reasoningEffort,
      workspaceId: body.workspaceId,
      clientRequestId: body.clientRequestId ?? request.headers.get("x-client-request-id") ?? undefined,
    });
    return ndjson(handle);
  });

  server.route(routes.listConversations, ({ query }) => {
    const all = query.all === "true" || query.all === "1";
    const status = query.status ?? (all ? ["active", "idle", "closed"] as const : undefined);
    return {
      conversations: store.list({
        q: query.q,
        status: status ? [...status] : undefined,
        workspaceId: query.workspaceId,
      })
        .map(view),
    };
  });

  server.route(routes.history, ({ params, query }) => {
    known(params.id);
    return store.history(params.id, query);
  });

  server.route(routes.status, ({ params }) => {
    const c = known(params.id);
    const isActive = orchestrator.running(params.id) !== undefined;
    return { conversationId: c.id, isActive, status: isActive ? "active" as const : c.status };
  });

  server.route(routes.last, async ({ params }) => {
    known(params.id);
    await orchestrator.idle(params.id);
    return { conversationId: params.id, ...store.lastAssistantText(params.id) };
  });

  server.route(routes.stop, async ({ params }) => {
    known(params.id);
    return { conversationId: params.id, abortedTurn: await orchestrator.stop(params.id) };
  });
}

/** Streams a turn's events, one JSON per line. A client going away stops the stream, never the turn. */
export function ndjson(handle: TurnHandle): Response {
  const encoder = new TextEncoder();
  const events = handle.events()[Symbol.asyncIterator]();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await events.next();
      if (next.done) return controller.close();
      controller.enqueue(encoder.encode(JSON.stringify(next.value.event) + "\n"));
    },
    cancel() {
      events.return?.();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "application/x-ndjson; charset=utf-8",
      "cache-control": "no-cache",
      "x-conversation-id": handle.conversationId,
    },
  });
}
