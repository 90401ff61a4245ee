// The HTTP API's shapes (names from shared/WIRE.md). Clients import this module; it imports nothing with I/O.
import { z } from "zod";
import { UsageSchema } from "../kernel/wire.ts";
import { AgentEventSchema, StoredChunkSchema } from "./events.ts";
import { route } from "./route.ts";

// ---------------------------------------------------------------- shared pieces

export const ErrorBodySchema = z.object({
  error: z.string().describe("what went wrong, in words a person can act on"),
  code: z.string().describe("stable machine-readable code"),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

export const ConversationIdSchema = z.string().min(1).max(128).regex(
  /^[A-Za-z0-9][A-Za-z0-9._:-]*$/,
  "conversation ids are letters, digits, '.', '_', ':' and '-'",
);
/** Workspace ids are slugs (WIRE.md). */
export const WORKSPACE_ID = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
export const WorkspaceIdSchema = z.string().regex(
  WORKSPACE_ID,
  "workspace ids are lower-case slugs (a-z, 0-9, '-', at most 40 characters)",
);
export const ReasoningEffortSchema = z.enum(["low", "medium", "high", "xhigh", "max"]);
export const ConversationStatusSchema = z.enum(["active", "idle", "closed"]);
export const MAX_MESSAGE_CHARS = 1_000_000;

const IdParams = z.object({ id: ConversationIdSchema });
const WorkspaceParams = z.object({ id: WorkspaceIdSchema });
/** An absolute path the daemon checks (an existing directory inside the workspace roots). */
export const PathSchema = z.string().min(1).max(4096).refine((p) => p.startsWith("/"), {
  message: "must be an absolute path",
});
/** A non-empty title, trimmed. */
const titleOf = (max: number) =>
  z.string().max(max).transform((t) => t.trim()).refine((t) => t !== "", { message: "title is empty" });
const intParam = (name: string) =>
  z.string().regex(/^\d{1,15}$/, `${name} must be a non-negative whole number`).transform(Number);

export const ConversationSchema = z.object({
  id: z.string(),
  title: z.string(),
  status: ConversationStatusSchema,
  createdAt: z.number().describe("epoch milliseconds"),
  lastActivityAt: z.number().describe("epoch milliseconds"),
  workspaceId: z.string(),
  cwd: z.string().nullable(),
  model: z.string().nullable(),
  reasoningEffort: z.string().nullable(),
});
export type ConversationView = z.infer<typeof ConversationSchema>;

// ---------------------------------------------------------------- requests

export const ChatRequestSchema = z.object({
  conversationId: ConversationIdSchema.optional(),
  message: z.string().min(1).max(MAX_MESSAGE_CHARS).optional(),
  /** The reference's own client says `text`; both are accepted. */
  text: z.string().min(1).max(MAX_MESSAGE_CHARS).optional(),
  model: z.string().min(1).max(256).optional(),
  cwd: z.string().min(1).max(4096).optional(),
  reasoningEffort: ReasoningEffortSchema.optional(),
  /** A workspace that does not exist yet is created (title = id). */
  workspaceId: WorkspaceIdSchema.optional(),
  /** Retrying with the same id attaches to the turn it started instead of running it again. */
  clientRequestId: z.string().min(1).max(128).optional(),
}).refine((b) => b.message !== undefined || b.text !== undefined, {
  message: "message is required",
  path: ["message"],
});
export type ChatRequest = z.infer<typeof ChatRequestSchema>;

export const ListQuerySchema = z.object({
  q: z.string().max(256).optional(),
  status: z.string().max(64).optional().transform((s, ctx) => {
    if (s === undefined || s === "") return undefined;
    const list = s.split(",").map((x) => x.trim());
    const bad = list.filter((x) => !ConversationStatusSchema.options.includes(x as never));
    if (bad.length) {
      ctx.addIssue({
        code: "custom",
        message: `unknown status ${bad.join(",")}; use active, idle or closed`,
      });
      return z.NEVER;
    }
    return list as z.infer<typeof ConversationStatusSchema>[];
  }),
  workspaceId: WorkspaceIdSchema.optional(),
  all: z.enum(["true", "false", "1", "0"]).optional(),
});

export const EventsQuerySchema = z.object({
  /** The `eventSeq` of the last event the client has; 0 (the default) replays from the first. */
  sinceEventSeq: intParam("sinceEventSeq").optional(),
});

export const HistoryQuerySchema = z.object({
  sinceSeq: intParam("sinceSeq").optional(),
  beforeSeq: intParam("beforeSeq").optional(),
  limit: intParam("limit").pipe(z.number().min(1).max(10_000)).optional(),
});

// ---------------------------------------------------------------- responses

/** One NDJSON line of a turn's events: the event and its `eventSeq` (WIRE.md "Two sequence numbers"). */
export const WireEventSchema = z.intersection(
  AgentEventSchema,
  z.object({
    eventSeq: z.number().int().positive().optional()
      .describe(
        "the stored event's number; absent only on the error that ends a stream whose events could not be stored",
      ),
  }),
);
export type WireEvent = z.infer<typeof WireEventSchema>;

export const HealthSchema = z.object({ ok: z.literal(true) });
export const ModelsSchema = z.object({
  models: z.array(z.string()),
  modelInfo: z.record(z.string(), z.object({ contextWindow: z.number().optional() })).optional(),
  /** Providers whose model list could not be read, and why: their models are tried as named. */
  unavailable: z.array(z.object({ credential: z.string(), error: z.string() })).optional(),
});
export const ConversationListSchema = z.object({ conversations: z.array(ConversationSchema) });
export const HistorySchema = z.object({ chunks: z.array(StoredChunkSchema), latestSeq: z.number() });
export const StatusSchema = z.object({
  conversationId: z.string(),
  isActive: z.boolean(),
  status: ConversationStatusSchema,
});
export const LastSchema = z.object({
  conversationId: z.string(),
  content: z.string(),
  turnId: z.string().optional(),
});
export const StopSchema = z.object({ conversationId: z.string(), abortedTurn: z.boolean() });
export const CloseSchema = StopSchema;
export const OpenSchema = z.object({ conversationId: z.string() });

// ---------------------------------------------------------------- per-conversation settings

export const CwdSchema = z.object({ conversationId: z.string(), cwd: z.string().nullable() });
export const SetCwdRequestSchema = z.object({
  cwd: PathSchema,
  /** Moves the conversation into this workspace first (created when it does not exist). */
  workspaceId: WorkspaceIdSchema.optional(),
});
export const ModelSettingSchema = z.object({ conversationId: z.string(), model: z.string().nullable() });
export const SetModelRequestSchema = z.object({
  /** A `<credential>/<model>` name from GET /models; null (or "") clears the choice. */
  model: z.string().max(256).nullable(),
});
export const ReasoningEffortSettingSchema = z.object({
  conversationId: z.string(),
  reasoningEffort: ReasoningEffortSchema.nullable(),
});
export const SetReasoningEffortRequestSchema = z.object({
  /** null clears the choice (turns then use the default, high). */
  reasoningEffort: ReasoningEffortSchema.nullable(),
});
export const TitleSchema = z.object({ conversationId: z.string(), title: z.string() });
export const SetTitleRequestSchema = z.object({ title: titleOf(1000) });

export const StepMetricsSchema = z.object({
  stepId: z.string(),
  usage: UsageSchema,
  ttftMs: z.number().optional(),
  decodeMs: z.number().optional(),
  genTotalMs: z.number().optional(),
});
export const TurnMetricsSchema = z.object({
  turnId: z.string(),
  usage: UsageSchema,
  durationMs: z.number().optional(),
  steps: z.array(StepMetricsSchema),
  contextSize: z.number().optional(),
  model: z.string().optional(),
  status: z.enum(["done", "aborted", "error", "interrupted"]),
  startedAt: z.number(),
  endedAt: z.number().optional(),
});
export const MetricsSchema = z.object({
  /** Every finished turn, oldest first (a running turn appears once it ends). */
  turns: z.array(TurnMetricsSchema),
});

// ---------------------------------------------------------------- settings the reference's web frontend reads

export const CompactPercentSchema = z.object({
  conversationId: z.string(),
  /** Auto-compaction trigger, a percentage of the context window; 0: manual only (the default). */
  threshold: z.number(),
});
/** The README says `percent`, the reference's web frontend sends `threshold`: both are accepted. */
export const SetCompactPercentRequestSchema = z.object({
  threshold: z.number().int().min(0).max(100).optional(),
  percent: z.number().int().min(0).max(100).optional(),
}).refine((b) => b.threshold !== undefined || b.percent !== undefined, {
  message: "threshold (or percent) is required: a whole number 0..100",
  path: ["threshold"],
});
/** Dispatch runs tools on this machine only: no remote computers, so these answer the local choice. */
export const ComputerListSchema = z.object({ computers: z.array(z.never()) });
export const ConversationComputerSchema = z.object({
  conversationId: z.string(),
  computerId: z.null().describe("always null: tools run locally"),
});
export const SetComputerRequestSchema = z.object({
  /** Only null (local) is accepted. */
  computerId: z.string().max(256).nullable(),
});
export const SetWorkspaceDefaultComputerRequestSchema = SetComputerRequestSchema;
/** One language server (the lsp extension's): the reference's LspServerInfo. */
export const LspServerInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  root: z.string(),
  extensions: z.array(z.string()),
  state: z.enum(["connected", "starting", "error", "not-started"]),
  error: z.string().optional(),
  configSource: z.string().optional(),
  pid: z.number().int().optional(),
  restarts: z.number().int().optional(),
});
/** The language servers of the conversation's cwd (none without a cwd). */
export const LspStatusSchema = z.object({
  conversationId: z.string(),
  cwd: z.string().nullable(),
  servers: z.array(LspServerInfoSchema),
});
/** One MCP server (the mcp-client extension's): the reference's McpServerInfo. */
export const McpServerInfoSchema = z.object({
  id: z.string(),
  state: z.enum(["connected", "connecting", "disconnected", "error"]),
  error: z.string().optional(),
  toolCount: z.number().int(),
  /** Where it was configured (the DISPATCH_MCP_CONFIG file). */
  configSource: z.string().optional(),
});
/** The daemon's MCP servers (configured by the operator, so the same for every conversation). */
export const McpStatusSchema = z.object({
  conversationId: z.string(),
  cwd: z.string().nullable(),
  servers: z.array(McpServerInfoSchema),
});

// ---------------------------------------------------------------- compaction (the compaction extension)

export const CompactSchema = z.object({
  conversationId: z.string(),
  newConversationId: z.string(),
  messagesSummarized: z.number(),
  messagesKept: z.number(),
});

// ---------------------------------------------------------------- workspaces

export const WorkspaceSchema = z.object({
  id: z.string(),
  title: z.string(),
  /** Where its conversations work when they have no cwd of their own. */
  defaultCwd: z.string().nullable(),
  /** The reference's remote-computer default; Dispatch runs tools locally, so always null. */
  defaultComputerId: z.null(),
  createdAt: z.number(),
  lastActivityAt: z.number(),
  /** Conversations in it, closed ones included. */
  conversationCount: z.number(),
});
export type WorkspaceView = z.infer<typeof WorkspaceSchema>;
export const WorkspaceListSchema = z.object({ workspaces: z.array(WorkspaceSchema) });
export const PutWorkspaceRequestSchema = z.object({
  title: titleOf(200).optional(),
  defaultCwd: PathSchema.nullable().optional(),
});
export const SetWorkspaceTitleRequestSchema = z.object({ title: titleOf(200) });
export const SetWorkspaceDefaultCwdRequestSchema = z.object({ defaultCwd: PathSchema.nullable() });
export const DeleteWorkspaceSchema = z.object({
  workspaceId: z.string(),
  /** Conversations this closed (all of its conversations move to `default`). */
  closedCount: z.number(),
});

// ---------------------------------------------------------------- metrics

export const ThroughputPeriodSchema = z.enum(["day", "week", "month"]);
export const ThroughputQuerySchema = z.object({
  period: ThroughputPeriodSchema,
  /** `YYYY-MM-DD` for day and week (the ISO week, Monday first, holding it), `YYYY-MM` for month; default today. */
  date: z.string().max(10).regex(/^\d{4}-\d{2}(-\d{2})?$/, "date is YYYY-MM-DD (or YYYY-MM for a month)")
    .optional(),
});
export const ThroughputModelSchema = z.object({
  model: z.string(),
  /** Output tokens over generation seconds, summed over the period's turns. */
  tokensPerSecond: z.number(),
  totalOutputTokens: z.number(),
  totalGenMs: z.number(),
  turns: z.number(),
});
export const ThroughputSchema = z.object({
  period: ThroughputPeriodSchema,
  date: z.string(),
  /** The window, `[start, end)` in epoch milliseconds, in the daemon's local time zone. */
  start: z.number(),
  end: z.number(),
  /** Fastest first. */
  models: z.array(ThroughputModelSchema),
});

export const OpenApiSchema = z.record(z.string(), z.unknown()).describe("an OpenAPI 3.1 document");

// ---------------------------------------------------------------- the routes

const notFound = { 404: "unknown conversation" };
const noWorkspace = { 404: "unknown workspace" };

export const routes = {
  health: route({
    method: "GET",
    path: "/health",
    summary: "Liveness",
    response: HealthSchema,
    public: true,
  }),
  models: route({ method: "GET", path: "/models", summary: "The model catalog", response: ModelsSchema }),
  chat: route({
    method: "POST",
    path: "/chat",
    summary: "Run one turn; streams AgentEvents as NDJSON, the conversation id in X-Conversation-Id",
    body: ChatRequestSchema,
    response: WireEventSchema,
    stream: "ndjson",
    errors: {
      409: "a turn is already running in this conversation, or the clientRequestId started another turn",
      503: "the conversation database is full or failing (code storage_full or storage_unavailable)",
    },
  }),
  conversationEvents: route({
    method: "GET",
    path: "/conversations/:id/events",
    summary:
      "Re-attach to a conversation's events: those after sinceEventSeq, then live until the running turn's " +
      "turn-sealed (NDJSON, each line with its eventSeq); without a running turn, what is stored",
    params: IdParams,
    query: EventsQuerySchema,
    response: WireEventSchema,
    stream: "ndjson",
    errors: notFound,
  }),
  listConversations: route({
    method: "GET",
    path: "/conversations",
    summary: "Conversations, newest activity first",
    query: ListQuerySchema,
    response: ConversationListSchema,
  }),
  history: route({
    method: "GET",
    path: "/conversations/:id",
    summary: "The chunk history: sinceSeq < seq < beforeSeq, the newest `limit`, ascending",
    params: IdParams,
    query: HistoryQuerySchema,
    response: HistorySchema,
    errors: notFound,
  }),
  status: route({
    method: "GET",
    path: "/conversations/:id/status",
    summary: "Whether a turn is running",
    params: IdParams,
    response: StatusSchema,
    errors: notFound,
  }),
  last: route({
    method: "GET",
    path: "/conversations/:id/last",
    summary: "The last assistant message; waits for a running turn to settle",
    params: IdParams,
    response: LastSchema,
    errors: notFound,
  }),
  stop: route({
    method: "POST",
    path: "/conversations/:id/stop",
    summary: "Abort the running turn",
    params: IdParams,
    response: StopSchema,
    errors: notFound,
  }),
  close: route({
    method: "POST",
    path: "/conversations/:id/close",
    summary: "Close the conversation: abort its running turn and mark it closed (a new turn reopens it)",
    params: IdParams,
    response: CloseSchema,
    errors: notFound,
  }),
  open: route({
    method: "POST",
    path: "/conversations/:id/open",
    summary: "Ask frontends to show the conversation (reopens a closed one)",
    params: IdParams,
    response: OpenSchema,
    errors: notFound,
  }),
  metrics: route({
    method: "GET",
    path: "/conversations/:id/metrics",
    summary: "Per-turn and per-step token usage and timings",
    params: IdParams,
    response: MetricsSchema,
    errors: notFound,
  }),
  getCwd: route({
    method: "GET",
    path: "/conversations/:id/cwd",
    summary: "The conversation's working directory (null: the workspace's default, if any)",
    params: IdParams,
    response: CwdSchema,
    errors: notFound,
  }),
  setCwd: route({
    method: "PUT",
    path: "/conversations/:id/cwd",
    summary: "Set the working directory of later turns (creates the conversation if new)",
    params: IdParams,
    body: SetCwdRequestSchema,
    response: CwdSchema,
    errors: { 400: "not an existing directory inside the workspace roots" },
  }),
  clearCwd: route({
    method: "DELETE",
    path: "/conversations/:id/cwd",
    summary: "Clear the working directory",
    params: IdParams,
    response: CwdSchema,
    errors: notFound,
  }),
  getModel: route({
    method: "GET",
    path: "/conversations/:id/model",
    summary: "The conversation's model (null: the default model)",
    params: IdParams,
    response: ModelSettingSchema,
    errors: notFound,
  }),
  setModel: route({
    method: "PUT",
    path: "/conversations/:id/model",
    summary: "Set (or clear, with null) the model of later turns (creates the conversation if new)",
    params: IdParams,
    body: SetModelRequestSchema,
    response: ModelSettingSchema,
    errors: { 400: "unknown model" },
  }),
  getReasoningEffort: route({
    method: "GET",
    path: "/conversations/:id/reasoning-effort",
    summary: "The conversation's reasoning effort (null: the default, high)",
    params: IdParams,
    response: ReasoningEffortSettingSchema,
    errors: notFound,
  }),
  setReasoningEffort: route({
    method: "PUT",
    path: "/conversations/:id/reasoning-effort",
    summary:
      "Set (or clear, with null) the reasoning effort of later turns (creates the conversation if new)",
    params: IdParams,
    body: SetReasoningEffortRequestSchema,
    response: ReasoningEffortSettingSchema,
  }),
  setTitle: route({
    method: "PUT",
    path: "/conversations/:id/title",
    summary: "Rename the conversation (creates it if new)",
    params: IdParams,
    body: SetTitleRequestSchema,
    response: TitleSchema,
  }),
  listWorkspaces: route({
    method: "GET",
    path: "/workspaces",
    summary: "Workspaces, newest activity first; `default` is always there",
    response: WorkspaceListSchema,
  }),
  putWorkspace: route({
    method: "PUT",
    path: "/workspaces/:id",
    summary: "Create a workspace (title defaults to the id), or update the fields given",
    params: WorkspaceParams,
    body: PutWorkspaceRequestSchema,
    response: WorkspaceSchema,
    errors: { 400: "not a slug, or defaultCwd is not an existing directory inside the workspace roots" },
  }),
  getWorkspace: route({
    method: "GET",
    path: "/workspaces/:id",
    summary: "One workspace",
    params: WorkspaceParams,
    response: WorkspaceSchema,
    errors: noWorkspace,
  }),
  setWorkspaceTitle: route({
    method: "PUT",
    path: "/workspaces/:id/title",
    summary: "Rename a workspace",
    params: WorkspaceParams,
    body: SetWorkspaceTitleRequestSchema,
    response: WorkspaceSchema,
    errors: noWorkspace,
  }),
  setWorkspaceDefaultCwd: route({
    method: "PUT",
    path: "/workspaces/:id/default-cwd",
    summary: "Set (or clear, with null) where the workspace's conversations work by default",
    params: WorkspaceParams,
    body: SetWorkspaceDefaultCwdRequestSchema,
    response: WorkspaceSchema,
    errors: noWorkspace,
  }),
  deleteWorkspace: route({
    method: "DELETE",
    path: "/workspaces/:id",
    summary:
      "Delete a workspace: its conversations are closed (running turns aborted) and moved to `default`",
    params: WorkspaceParams,
    response: DeleteWorkspaceSchema,
    errors: { ...noWorkspace, 409: "the default workspace cannot be deleted" },
  }),
  throughput: route({
    method: "GET",
    path: "/metrics/throughput",
    summary: "Output tokens per second per model over a day, an ISO week or a month",
    query: ThroughputQuerySchema,
    response: ThroughputSchema,
  }),
  openapi: route({
    method: "GET",
    path: "/openapi.json",
    summary: "This API as an OpenAPI 3.1 document, generated from the route table",
    response: OpenApiSchema,
  }),
};
export type Routes = typeof routes;

/**
 * Routes the reference's web frontend calls for features Dispatch does not have (remote computers, language and
 * MCP servers) or keeps only as a setting (the auto-compaction threshold). Served so that frontend reads honest
 * answers (no computers, no servers) instead of errors.
 */
export const webClientRoutes = {
  getCompactPercent: route({
    method: "GET",
    path: "/conversations/:id/compact-percent",
    summary: "The conversation's auto-compaction threshold (0: manual only)",
    params: IdParams,
    response: CompactPercentSchema,
    errors: notFound,
  }),
  setCompactPercent: route({
    method: "PUT",
    path: "/conversations/:id/compact-percent",
    summary:
      "Set the auto-compaction threshold, body `{threshold}` or `{percent}` (creates the conversation if new)",
    params: IdParams,
    body: SetCompactPercentRequestSchema,
    response: CompactPercentSchema,
  }),
  listComputers: route({
    method: "GET",
    path: "/computers",
    summary: "Remote computers tools may run on: none (Dispatch runs tools locally)",
    response: ComputerListSchema,
  }),
  getComputer: route({
    method: "GET",
    path: "/conversations/:id/computer",
    summary: "The computer the conversation's tools run on: null, this machine",
    params: IdParams,
    response: ConversationComputerSchema,
    errors: notFound,
  }),
  setComputer: route({
    method: "PUT",
    path: "/conversations/:id/computer",
    summary: "Choose where tools run: only null (this machine) is accepted",
    params: IdParams,
    body: SetComputerRequestSchema,
    response: ConversationComputerSchema,
    errors: { 400: "unknown computer (only null, this machine, is served)" },
  }),
  setWorkspaceDefaultComputer: route({
    method: "PUT",
    path: "/workspaces/:id/default-computer",
    summary: "A workspace's default computer: only null (this machine) is accepted",
    params: WorkspaceParams,
    body: SetWorkspaceDefaultComputerRequestSchema,
    response: WorkspaceSchema,
    errors: { ...noWorkspace, 400: "unknown computer (only null, this machine, is served)" },
  }),
  lspStatus: route({
    method: "GET",
    path: "/conversations/:id/lsp",
    summary: "The language servers of the conversation's cwd and their state (starts those not running)",
    params: IdParams,
    response: LspStatusSchema,
    errors: notFound,
  }),
  mcpStatus: route({
    method: "GET",
    path: "/conversations/:id/mcp",
    summary: "The MCP servers (mcp-client) and their state",
    params: IdParams,
    response: McpStatusSchema,
    errors: notFound,
  }),
};
export type WebClientRoutes = typeof webClientRoutes;

/** The compaction extension's route: a non-destructive fork (the original conversation stays readable). */
export const compactionRoutes = {
  compact: route({
    method: "POST",
    path: "/conversations/:id/compact",
    summary: "Compact the history: a new conversation starts from a summary plus the latest messages",
    params: IdParams,
    response: CompactSchema,
    errors: {
      ...notFound,
      409: "a turn is running, it is being compacted, nothing to compact, or it changed meanwhile",
      503: "the summary could not be written (nothing changed)",
    },
  }),
};
