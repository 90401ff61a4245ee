// The turn and conversation routes: chat as NDJSON, listing, history, status, last, stop, close, open,
// metrics, and the per-conversation settings (cwd, model, reasoning effort, title).
import { type Events, invalid, notFound } from "../../src/kernel/mod.ts";
import { ReasoningEffortSchema, routes, webClientRoutes } from "../../src/contract/http.ts";
import {
  type Conversation,
  ConversationStatuses,
  type ConversationStore,
  type TurnRecord,
} from "../conversation-store/api.ts";
import { type ModelCatalog, UnknownModelError } from "../credential-store/api.ts";
import type { Orchestrator } from "../session-orchestrator/api.ts";
import type { HttpServer } from "./api.ts";
import type { LspServerInfo } from "../lsp/api.ts";
import type { McpServerInfo } from "../mcp/api.ts";
import { noComputer } from "./workspace_routes.ts";
import { ndjson } from "./event_routes.ts";

export interface RouteDeps {
  server: HttpServer;
  store: ConversationStore;
  orchestrator: Orchestrator;
  catalog: ModelCatalog;
  events: Events;
  /** Checks a directory a client names (cwd, a workspace's default cwd); throws DispatchError `bad_cwd`. */
  checkDir: (path: string) => Promise<string>;
  /** The language servers of a cwd (the lsp extension's service, looked up per request; none without it). */
  lspServers: (cwd: string) => Promise<LspServerInfo[]>;
  /** The MCP servers' state (mcp-client's service, looked up per request; none without it). */
  mcpServers: () => McpServerInfo[];
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

export function mountConversationRoutes(
  { server, store, orchestrator, catalog, checkDir, lspServers, mcpServers }: RouteDeps,
): void {
  const known = (id: string) => {
    const c = store.get(id);
    if (!c) throw notFound("unknown_conversation", `no conversation ${id}`);
    return c;
  };
  /** Settings may be PUT before the first turn (the web client does, for a draft): PUT creates. */
  const ensure = (id: string): Conversation => {
    return store.get(id) ?? store.create({ id });
  };
  server.route(routes.health, () => ({ ok: true as const }));

  server.route(routes.models, async ({ request }) => {
    const listing = await catalog.list(request.signal);
    return {
      models: listing.models,
      modelInfo: listing.modelInfo,
      ...(listing.unavailable.length > 0 ? { unavailable: listing.unavailable } : {}),
    };
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
    return ndjson(handle.follow(), handle);
  });

  server.route(routes.listConversations, ({ query }) => {
    const all = query.all === "true" || query.all === "1";
    const status = query.status ?? (all ? ConversationStatuses : undefined);
    return {
      conversations: store.list({
        q: query.q,
        status: status ? [...status] : undefined,
        workspaceId: query.workspaceId,
      })
        .map(view),
    };
  });

  // A tail sync (`sinceSeq` given) of an unknown conversation finds nothing after the cursor, as in the
  // reference: the web frontend reads the history of a conversation it has just named in `chat.send`, before or
  // while the daemon creates it, and shows an error on a 404. A plain read of an unknown id stays a 404.
  server.route(routes.history, ({ params, query }) => {
    if (query.sinceSeq !== undefined && !store.get(params.id)) {
      return { chunks: [], latestSeq: query.sinceSeq };
    }
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

  server.route(routes.close, async ({ params }) => ({
    conversationId: params.id,
    ...await orchestrator.close(params.id),
  }));

  server.route(
    routes.open,
    ({ params }) => ({ conversationId: orchestrator.open(params.id).conversationId }),
  );

  server.route(routes.metrics, ({ params }) => {
    known(params.id);
    return { turns: store.turns(params.id).filter((t) => t.status !== "running").map(turnMetrics) };
  });

  server.route(routes.getCwd, ({ params }) => ({ conversationId: params.id, cwd: known(params.id).cwd }));

  server.route(routes.setCwd, async ({ params, body }) => {
    await checkDir(body.cwd);
    ensure(params.id);
    const c = store.update(params.id, {
      cwd: body.cwd,
      ...(body.workspaceId ? { workspaceId: body.workspaceId } : {}),
    });
    return { conversationId: c.id, cwd: c.cwd };
  });

  server.route(routes.clearCwd, ({ params }) => {
    known(params.id);
    return { conversationId: params.id, cwd: store.update(params.id, { cwd: null }).cwd };
  });

  server.route(
    routes.getModel,
    ({ params }) => ({ conversationId: params.id, model: known(params.id).model }),
  );

  server.route(routes.setModel, async ({ params, body, request }) => {
    let model: string | null = null;
    if (body.model !== null && body.model.trim() !== "") {
      try {
        model = (await catalog.check(body.model, request.signal)).name;
      } catch (error) {
        if (error instanceof UnknownModelError) throw invalid("unknown_model", error.message);
        throw error;
      }
    }
    ensure(params.id);
    return { conversationId: params.id, model: store.update(params.id, { model }).model };
  });

  server.route(routes.getReasoningEffort, ({ params }) => ({
    conversationId: params.id,
    reasoningEffort: effortOf(known(params.id).reasoningEffort),
  }));

  server.route(routes.setReasoningEffort, ({ params, body }) => {
    ensure(params.id);
    const c = store.update(params.id, { reasoningEffort: body.reasoningEffort });
    return { conversationId: c.id, reasoningEffort: effortOf(c.reasoningEffort) };
  });

  server.route(routes.setTitle, ({ params, body }) => {
    ensure(params.id);
    return { conversationId: params.id, title: store.update(params.id, { title: body.title }).title };
  });

  // ---- settings the reference's web frontend reads and writes

  server.route(webClientRoutes.getCompactPercent, ({ params }) => ({
    conversationId: params.id,
    threshold: compactPercentOf(known(params.id).settings[COMPACT_PERCENT_KEY]),
  }));

  server.route(webClientRoutes.setCompactPercent, ({ params, body }) => {
    ensure(params.id);
    const threshold = (body.threshold ?? body.percent)!;
    store.setSetting(params.id, COMPACT_PERCENT_KEY, threshold);
    return { conversationId: params.id, threshold };
  });

  server.route(webClientRoutes.listComputers, () => ({ computers: [] }));

  server.route(webClientRoutes.getComputer, ({ params }) => {
    known(params.id);
    return { conversationId: params.id, computerId: null };
  });

  server.route(webClientRoutes.setComputer, ({ params, body }) => {
    if (body.computerId !== null) throw noComputer(body.computerId);
    ensure(params.id);
    return { conversationId: params.id, computerId: null };
  });

  server.route(webClientRoutes.lspStatus, async ({ params }) => {
    const cwd = known(params.id).cwd;
    return { conversationId: params.id, cwd, servers: cwd ? await lspServers(cwd) : [] };
  });
  server.route(webClientRoutes.mcpStatus, ({ params }) => ({
    conversationId: params.id,
    cwd: known(params.id).cwd,
    servers: mcpServers(),
  }));
}

/** The per-conversation setting the compact-percent routes keep (read by a compaction extension). */
export const COMPACT_PERCENT_KEY = "compactPercent";
export const compactPercentOf = (value: unknown) =>
  typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 100 ? value : 0;

const EFFORTS = ReasoningEffortSchema.options;
/** A stored effort the wire does not know (written by an older build) reads as unset. */
const effortOf = (value: string | null) => EFFORTS.find((e) => e === value) ?? null;

const NO_USAGE = { inputTokens: 0, outputTokens: 0 };

function turnMetrics(t: TurnRecord) {
  return {
    turnId: t.turnId,
    usage: t.usage ?? NO_USAGE,
    ...(t.durationMs !== null ? { durationMs: t.durationMs } : {}),
    steps: t.steps.map((s) => ({ ...s, usage: s.usage ?? NO_USAGE })),
    ...(t.contextSize !== null ? { contextSize: t.contextSize } : {}),
    ...(t.model !== null ? { model: t.model } : {}),
    status: t.status as Exclude<TurnRecord["status"], "running">,
    startedAt: t.startedAt,
    ...(t.endedAt !== null ? { endedAt: t.endedAt } : {}),
  };
}
