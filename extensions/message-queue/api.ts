// What message-queue offers: queueing a message into a conversation (delivered into the running turn between
// its steps, or starting a turn when none runs), dropping one, and listing what waits.
import { defineKey } from "../../src/kernel/mod.ts";
import type { QueuedMessage } from "../../src/contract/ui.ts";
import type { TurnHandle } from "../session-orchestrator/api.ts";

export type { QueuedMessage };

export interface EnqueueResult {
  conversationId: string;
  /** True when the conversation was idle and this message started a turn. */
  startedTurn: boolean;
  /** What is still queued, oldest first. */
  queue: QueuedMessage[];
  /** The turn it started, when it started one. */
  turn?: TurnHandle;
}

export interface CancelResult {
  conversationId: string;
  /** False when the message was not queued (any more). */
  cancelled: boolean;
  queue: QueuedMessage[];
}

export interface MessageQueue {
  /** Throws DispatchError: unknown conversation (not_found), a full queue (conflict), or the turn's refusal. */
  enqueue(conversationId: string, text: string): Promise<EnqueueResult>;
  /** Throws DispatchError not_found for an unknown conversation. */
  cancel(conversationId: string, messageId: string): CancelResult;
  list(conversationId: string): QueuedMessage[];
}

export const MessageQueueKey = defineKey<MessageQueue>("message-queue");
