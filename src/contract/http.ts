// The HTTP API's shapes (names from shared/WIRE.md). Clients import this module; it imports nothing with I/O.
import { z } from "zod";
import { AgentEventSchema, StoredChunkSchema } from "../kernel/wire.ts";
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
export const WorkspaceIdSchema = z.string().regex(
  /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/,
  "workspace ids are lower-case slugs (a-z, 0-9, '-', at most 40 characters)",
);
export const ReasoningEffortSchema = z.enum(["low", "medium", "high", "xhigh", "max"]);
export const ConversationStatusSchema = z.enum(["active", "idle", "closed"]);
export const MAX_MESSAGE_CHARS = 1_000_000;

const IdParams = z.object({ id: ConversationIdSchema });
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

export const HistoryQuerySchema = z.object({
  sinceSeq: intParam("sinceSeq").optional(),
  beforeSeq: intParam("beforeSeq").optional(),
  limit: intParam("limit").pipe(z.number().min(1).max(10_000)).optional(),
});

// ---------------------------------------------------------------- responses

export const HealthSchema = z.object({ ok: z.literal(true) });
export const ModelsSchema = z.object({
  models: z.array(z.string()),
  modelInfo: z.record(z.string(), z.object({ contextWindow: z.number().optional() })).optional(),
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

// ---------------------------------------------------------------- the routes

const notFound = { 404: "unknown conversation" };

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
    response: AgentEventSchema,
    stream: "ndjson",
    errors: { 409: "a turn is already running in this conversation", 404: "unknown workspace" },
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
};
export type Routes = typeof routes;
