// Routes of the session extensions: the message queue, cache warming, and the surface WebSocket's upgrade.
// Shapes from shared/WIRE.md; re-exported with the rest of the HTTP contract.
import { z } from "zod";
import { ConversationIdSchema, MAX_MESSAGE_CHARS, ReasoningEffortSchema } from "./http.ts";
import { route } from "./route.ts";
import { QueuedMessageSchema } from "./ui.ts";

const IdParams = z.object({ id: ConversationIdSchema });
const notFound = { 404: "unknown conversation" };

/** The README says `message`, the reference's own client sends `text`: both are accepted. */
export const QueueRequestSchema = z.object({
  message: z.string().max(MAX_MESSAGE_CHARS).optional(),
  text: z.string().max(MAX_MESSAGE_CHARS).optional(),
}).refine((b) => (b.message ?? b.text ?? "").trim() !== "", {
  message: "message is required (a non-empty string; `text` is accepted too)",
  path: ["message"],
});
export type QueueRequest = z.infer<typeof QueueRequestSchema>;

export const QueueResponseSchema = z.object({
  conversationId: z.string(),
  /** True when the conversation was idle and the message started a turn (follow it on the socket). */
  startedTurn: z.boolean(),
  /** What is still queued, oldest first. */
  queue: z.array(QueuedMessageSchema),
});
export type QueueResponse = z.infer<typeof QueueResponseSchema>;

export const CancelQueuedParamsSchema = z.object({
  id: ConversationIdSchema,
  messageId: z.string().min(1).max(128),
});
export const CancelQueuedResponseSchema = z.object({
  conversationId: z.string(),
  /** False when the message was no longer queued (already delivered, or never there). */
  cancelled: z.boolean(),
  queue: z.array(QueuedMessageSchema),
});
export type CancelQueuedResponse = z.infer<typeof CancelQueuedResponseSchema>;

export const WarmRequestSchema = z.object({
  conversationId: ConversationIdSchema,
  /** Warm for this model instead of the conversation's (what the next turn would use if it names it). */
  model: z.string().min(1).max(256).optional(),
  cwd: z.string().min(1).max(4096).optional(),
  reasoningEffort: ReasoningEffortSchema.optional(),
});
export type WarmRequest = z.infer<typeof WarmRequestSchema>;

export const WarmResponseSchema = z.object({
  inputTokens: z.number(),
  outputTokens: z.number(),
  cacheReadTokens: z.number(),
  cacheWriteTokens: z.number(),
  /** cacheReadTokens / inputTokens, as a whole percentage 0..100. */
  cachePct: z.number(),
  /** cacheReadTokens / (cacheReadTokens + cacheWriteTokens), as a whole percentage 0..100 (0 when both are 0). */
  expectedCacheRate: z.number(),
});
export type WarmResponse = z.infer<typeof WarmResponseSchema>;

export const SurfaceSocketQuerySchema = z.object({
  /** The token when DISPATCH_TOKEN is set (browsers cannot set headers on a WebSocket). */
  token: z.string().max(1024).optional(),
});

export const sessionRoutes = {
  queue: route({
    method: "POST",
    path: "/conversations/:id/queue",
    summary: "Queue a message: delivered into the running turn between steps, or starts a turn when idle",
    params: IdParams,
    body: QueueRequestSchema,
    response: QueueResponseSchema,
    errors: notFound,
  }),
  cancelQueued: route({
    method: "DELETE",
    path: "/conversations/:id/queue/:messageId",
    summary: "Drop a queued message before it is delivered",
    params: CancelQueuedParamsSchema,
    response: CancelQueuedResponseSchema,
    errors: notFound,
  }),
  warm: route({
    method: "POST",
    path: "/chat/warm",
    summary: "Re-send the conversation's prompt prefix (one output token) so the provider's cache stays warm",
    body: WarmRequestSchema,
    response: WarmResponseSchema,
    errors: { ...notFound, 409: "a turn is running in this conversation (it keeps the cache warm itself)" },
  }),
  surfaceSocket: route({
    method: "GET",
    path: "/surface",
    summary:
      "WebSocket upgrade: surfaces and chat on one socket (messages in src/contract/ui.ts). With DISPATCH_TOKEN " +
      "set, pass it as `?token=` or as a `bearer.<token>` Sec-WebSocket-Protocol entry",
    query: SurfaceSocketQuerySchema,
    response: z.unknown().describe("101 Switching Protocols"),
    errors: { 401: "missing or wrong token", 403: "Origin not allowed", 426: "not a WebSocket upgrade" },
    public: true,
  }),
};
export type SessionRoutes = typeof sessionRoutes;
