// The surface vocabulary and the WebSocket protocol (names from shared/WIRE.md), as zod schemas: the server
// validates what clients send with them, and any client can import this module (no I/O) to type what it reads.
//
// A surface is data, not UI: a titled list of semantic fields mounted in a coarse region. Clients render each
// field kind in their own idiom and skip kinds they do not know. One socket carries surface and chat messages.
import { z } from "zod";
import { AgentEventSchema } from "./events.ts";
import {
  ChatRequestSchema,
  ConversationIdSchema,
  ConversationStatusSchema,
  MAX_MESSAGE_CHARS,
} from "./http.ts";

// ---------------------------------------------------------------- surfaces

const label = z.string().max(200);
/** Surface and action ids: what clients echo back, so kept to a safe alphabet. */
export const SurfaceIdSchema = z.string().min(1).max(100).regex(
  /^[a-z0-9][a-z0-9._/-]*$/,
  "surface ids are lower-case letters, digits, '.', '_', '/' and '-'",
);
export const ActionIdSchema = z.string().min(1).max(100).regex(
  /^[A-Za-z0-9][A-Za-z0-9._/:-]*$/,
  "action ids are letters, digits, '.', '_', '/', ':' and '-'",
);

/** A backend action a field invokes (`invoke` with the surface id and this action id). */
export const ActionRefSchema = z.object({ actionId: ActionIdSchema });
export type ActionRef = z.infer<typeof ActionRefSchema>;

export const SurfaceOptionSchema = z.object({ value: z.string().max(200), label });
export type SurfaceOption = z.infer<typeof SurfaceOptionSchema>;

/** Every field may carry a stable `id` (extra to the reference, which clients ignore). */
const fieldBase = { id: z.string().max(100).optional() };

/** A boolean setting and the action that sets it (payload: the new boolean). */
export const ToggleFieldSchema = z.object({
  kind: z.literal("toggle"),
  ...fieldBase,
  label,
  value: z.boolean(),
  action: ActionRefSchema,
});
/** A read-only ratio in [0, 1]. */
export const ProgressFieldSchema = z.object({
  kind: z.literal("progress"),
  ...fieldBase,
  label,
  value: z.number().min(0).max(1),
});
/** One choice among options, and the action that sets it (payload: the option's value). */
export const SelectorFieldSchema = z.object({
  kind: z.literal("selector"),
  ...fieldBase,
  label,
  value: z.string().max(200),
  options: z.array(SurfaceOptionSchema).max(200),
  action: ActionRefSchema,
});
/** A read-only labelled value. */
export const StatFieldSchema = z.object({
  kind: z.literal("stat"),
  ...fieldBase,
  label,
  value: z.string().max(10_000),
});
/** A number setting and the action that sets it (payload: the new number). */
export const NumberFieldSchema = z.object({
  kind: z.literal("number"),
  ...fieldBase,
  label,
  value: z.number(),
  min: z.number().optional(),
  max: z.number().optional(),
  step: z.number().positive().optional(),
  unit: z.string().max(20).optional(),
  action: ActionRefSchema,
});
/** A labelled trigger. */
export const ButtonFieldSchema = z.object({
  kind: z.literal("button"),
  ...fieldBase,
  label,
  action: ActionRefSchema,
});
/** Data no semantic kind fits: clients with a renderer for `rendererId` show it, others skip it. */
export const CustomFieldSchema = z.object({
  kind: z.literal("custom"),
  ...fieldBase,
  rendererId: z.string().min(1).max(100),
  payload: z.unknown(),
});

export const SurfaceFieldSchema = z.discriminatedUnion("kind", [
  ToggleFieldSchema,
  ProgressFieldSchema,
  SelectorFieldSchema,
  StatFieldSchema,
  NumberFieldSchema,
  ButtonFieldSchema,
  CustomFieldSchema,
]);
export type SurfaceField = z.infer<typeof SurfaceFieldSchema>;
export type SurfaceFieldKind = SurfaceField["kind"];
export type FieldOf<K extends SurfaceFieldKind> = Extract<SurfaceField, { kind: K }>;

export const MAX_FIELDS = 500;
export const SurfaceFieldsSchema = z.array(SurfaceFieldSchema).max(MAX_FIELDS);

/** Where a surface mounts: a placement hint (`side`, `status`, ...), open-ended; clients fall back on unknown ones. */
export const RegionSchema = z.string().min(1).max(50);

/** `global`: one spec for everyone; `conversation`: one spec per conversation (subscribe with its id). */
export const SurfaceScopeSchema = z.enum(["global", "conversation"]);
export type SurfaceScope = z.infer<typeof SurfaceScopeSchema>;

export const SurfaceSpecSchema = z.object({
  id: SurfaceIdSchema,
  region: RegionSchema,
  title: z.string().min(1).max(200),
  fields: SurfaceFieldsSchema,
});
export type SurfaceSpec = z.infer<typeof SurfaceSpecSchema>;

export const SurfaceCatalogEntrySchema = z.object({
  id: SurfaceIdSchema,
  region: RegionSchema,
  title: z.string().min(1).max(200),
  scope: SurfaceScopeSchema.optional(),
});
export type SurfaceCatalogEntry = z.infer<typeof SurfaceCatalogEntrySchema>;
export const SurfaceCatalogSchema = z.array(SurfaceCatalogEntrySchema);
export type SurfaceCatalog = z.infer<typeof SurfaceCatalogSchema>;

export const SurfaceUpdateSchema = z.object({
  surfaceId: SurfaceIdSchema,
  spec: SurfaceSpecSchema,
  conversationId: z.string().optional(),
});
export type SurfaceUpdate = z.infer<typeof SurfaceUpdateSchema>;

// ---------------------------------------------------------------- the reference's surfaces' payloads

export const QueuedMessageSchema = z.object({
  id: z.string(),
  text: z.string(),
  queuedAt: z.number().describe("epoch milliseconds"),
});
export type QueuedMessage = z.infer<typeof QueuedMessageSchema>;

/** `message-queue` surface: custom renderer `message-queue`. */
export const MessageQueuePayloadSchema = z.object({
  messages: z.array(QueuedMessageSchema),
  /** Invoke with `{messageId}` to drop a message (extra to the reference). */
  cancelAction: ActionRefSchema.optional(),
});
export type MessageQueuePayload = z.infer<typeof MessageQueuePayloadSchema>;

export const TodoStatusSchema = z.enum(["pending", "in_progress", "completed"]);
export const TodoItemSchema = z.object({
  content: z.string().min(1).max(2000),
  status: TodoStatusSchema,
});
export type TodoItem = z.infer<typeof TodoItemSchema>;

/** `todo` surface: custom renderer `todo`. */
export const TodoPayloadSchema = z.object({ todos: z.array(TodoItemSchema) });
export type TodoPayload = z.infer<typeof TodoPayloadSchema>;

/** `cache-warming` surface: custom renderer `cache-warming-timer` (epoch ms, null when none). */
export const CacheWarmingTimerPayloadSchema = z.object({
  nextWarmAt: z.number().nullable(),
  lastWarmAt: z.number().nullable(),
});

// ---------------------------------------------------------------- client → server

/** Optional on requests that get an answer: echoed on the answer, so a client can match them up. */
const requestId = z.string().min(1).max(128).optional();
/** Opt-in to the event types the reference's web frontend does not know (see `LEGACY_EVENT_TYPES`). */
const allEvents = z.boolean().optional();

export const SubscribeMessageSchema = z.object({
  type: z.literal("subscribe"),
  surfaceId: SurfaceIdSchema,
  conversationId: ConversationIdSchema.optional(),
});
export const UnsubscribeMessageSchema = z.object({
  type: z.literal("unsubscribe"),
  surfaceId: SurfaceIdSchema,
  conversationId: ConversationIdSchema.optional(),
});
export const InvokeMessageSchema = z.object({
  type: z.literal("invoke"),
  surfaceId: SurfaceIdSchema,
  actionId: ActionIdSchema,
  payload: z.unknown().optional(),
  conversationId: ConversationIdSchema.optional(),
  requestId,
});
/** The fields of `POST /chat`, plus `allEvents` and `requestId`. The sender follows the turn it starts. */
export const ChatSendMessageSchema = z.object({
  type: z.literal("chat.send"),
  ...ChatRequestSchema.shape,
  allEvents,
  requestId,
}).refine((b) => b.message !== undefined || b.text !== undefined, {
  message: "message is required",
  path: ["message"],
});
/**
 * Follow a conversation's events live. Without `sinceEventSeq`: the running turn's events from its start, then
 * live ones. With `sinceEventSeq` (the `eventSeq` of the last `chat.delta` seen): exactly the events after it,
 * from the store, then live ones, with no gap and no duplicate. `sinceSeq` is its older name.
 */
export const ChatSubscribeMessageSchema = z.object({
  type: z.literal("chat.subscribe"),
  conversationId: ConversationIdSchema,
  sinceEventSeq: z.number().int().min(0).optional(),
  sinceSeq: z.number().int().min(0).optional(),
  allEvents,
  requestId,
});
export const ChatUnsubscribeMessageSchema = z.object({
  type: z.literal("chat.unsubscribe"),
  conversationId: ConversationIdSchema,
});
/** Queue a message (`text`, or `message` as in `POST .../queue`): steers a running turn, else starts one. */
export const ChatQueueMessageSchema = z.object({
  type: z.literal("chat.queue"),
  conversationId: ConversationIdSchema,
  text: z.string().max(MAX_MESSAGE_CHARS).optional(),
  message: z.string().max(MAX_MESSAGE_CHARS).optional(),
  allEvents,
  requestId,
}).refine((b) => (b.text ?? b.message ?? "").trim() !== "", {
  message: "text is required (a non-empty string)",
  path: ["text"],
});
export const ChatQueueCancelMessageSchema = z.object({
  type: z.literal("chat.queue.cancel"),
  conversationId: ConversationIdSchema,
  messageId: z.string().min(1).max(128),
  requestId,
});

/** Every client message, by `type`. Servers parse the `type` first, then its schema, for precise errors. */
export const ClientMessageSchemas = {
  "subscribe": SubscribeMessageSchema,
  "unsubscribe": UnsubscribeMessageSchema,
  "invoke": InvokeMessageSchema,
  "chat.send": ChatSendMessageSchema,
  "chat.subscribe": ChatSubscribeMessageSchema,
  "chat.unsubscribe": ChatUnsubscribeMessageSchema,
  "chat.queue": ChatQueueMessageSchema,
  "chat.queue.cancel": ChatQueueCancelMessageSchema,
} as const;
export type ClientMessageType = keyof typeof ClientMessageSchemas;
export type ClientMessageOf<T extends ClientMessageType> = z.infer<(typeof ClientMessageSchemas)[T]>;
export type ClientMessage = { [T in ClientMessageType]: ClientMessageOf<T> }[ClientMessageType];
export const ClientMessageSchema = z.union(Object.values(ClientMessageSchemas)) as z.ZodType<ClientMessage>;

// ---------------------------------------------------------------- server → client

export const CatalogMessageSchema = z.object({ type: z.literal("catalog"), catalog: SurfaceCatalogSchema });
export const SurfaceMessageSchema = z.object({
  type: z.literal("surface"),
  spec: SurfaceSpecSchema,
  conversationId: z.string().optional(),
});
export const UpdateMessageSchema = z.object({ type: z.literal("update"), update: SurfaceUpdateSchema });
export const ErrorMessageSchema = z.object({
  type: z.literal("error"),
  surfaceId: z.string().optional(),
  message: z.string(),
  /** Extra to the reference: a stable code (`bad_frame`, `unknown_surface`, `action_failed`, ...). */
  code: z.string().optional(),
  requestId: z.string().optional(),
});
/** The answer to `invoke` (extra to the reference; its web frontend ignores types it does not know). */
export const InvokeResultMessageSchema = z.object({
  type: z.literal("invoke.result"),
  surfaceId: z.string(),
  actionId: z.string(),
  conversationId: z.string().optional(),
  requestId: z.string().optional(),
  result: z.unknown(),
});
/**
 * One stored event of a followed conversation; `eventSeq` (extra to the reference) is its per-conversation
 * number, beside the event and inside it (as on the NDJSON lines).
 */
export const ChatDeltaMessageSchema = z.object({
  type: z.literal("chat.delta"),
  event: AgentEventSchema,
  eventSeq: z.number().int().positive().optional(),
});
export const ChatErrorMessageSchema = z.object({
  type: z.literal("chat.error"),
  conversationId: z.string().optional(),
  message: z.string(),
  code: z.string().optional(),
  requestId: z.string().optional(),
});
/** Extra: answers `chat.send` / `chat.subscribe` once the client follows the conversation. */
export const ChatSubscribedMessageSchema = z.object({
  type: z.literal("chat.subscribed"),
  conversationId: z.string(),
  /** The last event seq already in the store when following began (replayed events included). */
  latestEventSeq: z.number().int().min(0),
  turnId: z.string().optional(),
  requestId: z.string().optional(),
});
/** Extra: answers `chat.queue`. */
export const ChatQueuedMessageSchema = z.object({
  type: z.literal("chat.queued"),
  conversationId: z.string(),
  startedTurn: z.boolean(),
  queue: z.array(QueuedMessageSchema),
  requestId: z.string().optional(),
});
/** Extra: answers `chat.queue.cancel`. */
export const ChatQueueCancelledMessageSchema = z.object({
  type: z.literal("chat.queue.cancelled"),
  conversationId: z.string(),
  cancelled: z.boolean(),
  queue: z.array(QueuedMessageSchema),
  requestId: z.string().optional(),
});
export const ConversationOpenMessageSchema = z.object({
  type: z.literal("conversation.open"),
  conversationId: z.string(),
  workspaceId: z.string(),
});
export const ConversationStatusChangedMessageSchema = z.object({
  type: z.literal("conversation.statusChanged"),
  conversationId: z.string(),
  status: ConversationStatusSchema,
  workspaceId: z.string(),
});
export const ConversationCompactedMessageSchema = z.object({
  type: z.literal("conversation.compacted"),
  conversationId: z.string(),
  newConversationId: z.string(),
  messagesSummarized: z.number(),
  messagesKept: z.number(),
});
/** Sent every heartbeat interval (default 20 s) so idle connections and their proxies stay up. */
export const HeartbeatMessageSchema = z.object({ type: z.literal("heartbeat"), time: z.number() });

export const ServerMessageSchema = z.discriminatedUnion("type", [
  CatalogMessageSchema,
  SurfaceMessageSchema,
  UpdateMessageSchema,
  ErrorMessageSchema,
  InvokeResultMessageSchema,
  ChatDeltaMessageSchema,
  ChatErrorMessageSchema,
  ChatSubscribedMessageSchema,
  ChatQueuedMessageSchema,
  ChatQueueCancelledMessageSchema,
  ConversationOpenMessageSchema,
  ConversationStatusChangedMessageSchema,
  ConversationCompactedMessageSchema,
  HeartbeatMessageSchema,
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
export type ServerMessageType = ServerMessage["type"];
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;

/**
 * Event types the reference's web frontend handles inside `chat.delta`; any other breaks its page. The others
 * (`user-message`, `step-complete`, `provider-retry`, `steering`, `status`, `tool-output`) go only to clients
 * that set `allEvents` on `chat.send` / `chat.subscribe`.
 */
export const LEGACY_EVENT_TYPES: ReadonlySet<string> = new Set([
  "turn-start",
  "text-delta",
  "reasoning-delta",
  "tool-call",
  "tool-result",
  "error",
  "usage",
  "done",
  "turn-sealed",
]);

/** The `Sec-WebSocket-Protocol` entry that carries the token from a browser: `bearer.<token>`. */
export const BEARER_PROTOCOL_PREFIX = "bearer.";
