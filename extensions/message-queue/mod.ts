// message-queue: POST/DELETE /conversations/:id/queue, the steering source that delivers queued messages into
// running turns, and the per-conversation `message-queue` surface. Queued messages live in the
// `message-queue` database, so they survive a restart (they then wait: see queue.ts).
import { z } from "zod";
import { type ExtensionContext, invalid, StorageKey } from "../../src/kernel/mod.ts";
import { sessionRoutes } from "../../src/contract/session_routes.ts";
import { ConversationStoreKey } from "../conversation-store/api.ts";
import { OrchestratorKey } from "../session-orchestrator/api.ts";
import { contributeConversationSurface, SurfaceRegistryKey } from "../surface-registry/api.ts";
import { HttpServerKey } from "../transport-http/api.ts";
import { MessageQueueKey } from "./api.ts";
import { CANCEL_ACTION, QueueService, SURFACE_ID } from "./queue.ts";

export * from "./api.ts";
export { manifest } from "./manifest.ts";
export {
  CANCEL_ACTION,
  MAX_QUEUED_PER_CONVERSATION,
  QueueService,
  RENDERER_ID,
  SURFACE_ID,
} from "./queue.ts";

export const DATABASE_NAME = "message-queue";

const CancelPayload = z.union([
  z.object({ messageId: z.string().min(1).max(128) }),
  z.object({ id: z.string().min(1).max(128) }).transform((p) => ({ messageId: p.id })),
  z.string().min(1).max(128).transform((messageId) => ({ messageId })),
]);

export function activate(ctx: ExtensionContext) {
  const registry = ctx.services.require(SurfaceRegistryKey);
  const orchestrator = ctx.services.require(OrchestratorKey);
  const queue = new QueueService({
    db: ctx.services.require(StorageKey).openDatabase(DATABASE_NAME),
    store: ctx.services.require(ConversationStoreKey),
    orchestrator,
    clock: ctx.clock,
    log: ctx.log,
    changed: (conversationId) => void registry.refresh(SURFACE_ID, conversationId).catch(() => {}),
  });
  const waiting = queue.conversations();
  if (waiting.length > 0) {
    ctx.log.info("queued messages from the previous run wait for their conversation's next turn", {
      conversations: waiting.length,
    });
  }

  const removeSurface = contributeConversationSurface(registry, {
    id: SURFACE_ID,
    title: "Message Queue",
    fields: (conversationId) => queue.fields(conversationId),
    invoke: ({ actionId, payload, conversationId }) => {
      if (actionId !== CANCEL_ACTION) {
        throw invalid(
          "unknown_action",
          `surface ${SURFACE_ID} has no action ${actionId}; use ${CANCEL_ACTION}`,
        );
      }
      const parsed = CancelPayload.safeParse(payload);
      if (!parsed.success) {
        throw invalid("invalid_payload", `${CANCEL_ACTION} takes {messageId}: the id of a queued message`);
      }
      return queue.cancel(conversationId!, parsed.data.messageId);
    },
  });
  const removeSource = orchestrator.addSteeringSource((conversationId) => queue.drain(conversationId));

  const server = ctx.services.require(HttpServerKey);
  server.route(sessionRoutes.queue, async ({ params, body }) => {
    const { turn: _turn, ...result } = await queue.enqueue(params.id, (body.message ?? body.text)!);
    return result;
  });
  server.route(sessionRoutes.cancelQueued, ({ params }) => queue.cancel(params.id, params.messageId));

  ctx.services.provide(MessageQueueKey, queue);
  return () => {
    removeSource();
    removeSurface();
  };
}
