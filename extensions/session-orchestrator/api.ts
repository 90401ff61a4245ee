// What session-orchestrator offers: submitting turns, following them live, stopping them.
import type { ConversationStatus, EventCursor, StoredEvent } from "../conversation-store/api.ts";
import {
  defineKey,
  type ModelMessage,
  type Provider,
  type ToolHandle,
  type TurnOutcome,
} from "../../src/kernel/mod.ts";

export interface TurnRequest {
  conversationId?: string;
  message: string;
  model?: string;
  cwd?: string;
  reasoningEffort?: string;
  workspaceId?: string;
  clientRequestId?: string;
}

export interface TurnHandle {
  conversationId: string;
  turnId: string;
  /** The conversation's last event seq before the turn: follow from it to see the whole turn. */
  readonly afterEventSeq: number;
  /** The turn's events from the conversation's feed: from its first, then live ones, to its `turn-sealed`. */
  follow(): EventCursor;
  /** Settles after the turn is sealed (all stored). */
  settled: Promise<TurnOutcome | undefined>;
}

/** The reasoning effort sent when neither the request nor the conversation chose one (as the CLI's usage says). */
export const DEFAULT_REASONING_EFFORT = "high";

/** What decides the next turn's request, besides the conversation's stored settings. */
export interface PrefixOptions {
  model?: string;
  cwd?: string;
  reasoningEffort?: string;
}

/**
 * The request a conversation's next turn would start with, before its new user message: the same provider,
 * model, history and tools `submit` hands the turn loop (the loop's `turn.prepare-step` hooks then run on it,
 * as they would on any step).
 */
export interface RequestPrefix {
  conversationId: string;
  provider: Provider;
  /** The catalog name (`<credential>/<model>`). */
  modelName: string;
  /** The provider's own model id, as sent. */
  model: string;
  /** The history as the model is sent it, oldest first. */
  messages: ModelMessage[];
  tools: ToolHandle[];
  reasoningEffort?: string;
  /** The checked working directory, absolute. */
  cwd?: string;
}

/** Supplies messages to deliver into a running turn between steps (the message queue). */
export type SteeringSource = (conversationId: string) => string[];

export interface Orchestrator {
  /** Starts a turn (or attaches to the one `clientRequestId` already started). Throws DispatchError. */
  submit(request: TurnRequest): Promise<TurnHandle>;
  /** The running turn of a conversation, if any. */
  running(conversationId: string): TurnHandle | undefined;
  /** Aborts the running turn; resolves once it is sealed. False when nothing ran. */
  stop(conversationId: string): Promise<boolean>;
  /**
   * Closes a conversation: stops its turn (resolving once it is sealed), sets it `closed` and says so
   * (ConversationStatusChanged). Returns whether a turn was stopped. NotFound for an unknown id.
   */
  close(conversationId: string): Promise<{ abortedTurn: boolean }>;
  /** Re-opens a closed conversation (idle) and asks frontends to show it (ConversationOpen). */
  open(conversationId: string): { conversationId: string; workspaceId: string };
  /** Resolves when no turn runs in the conversation. */
  idle(conversationId: string): Promise<void>;
  addSteeringSource(source: SteeringSource): () => void;
  /** Aborts every running turn and resolves once each is sealed (graceful shutdown). */
  stopAll(): Promise<void>;
  /**
   * Graceful shutdown: from now on `submit` throws DispatchError("unavailable", "shutting_down") (503 over HTTP).
   * Waits until no turn runs, `graceMs` passes or `cutShort` settles; then aborts the turns still running,
   * each stored as `interrupted` (an `error` with code `interrupted` before its `done`), and resolves once
   * every one is sealed. Queued messages and other per-conversation state are left as they are.
   */
  drain(graceMs: number, cutShort?: Promise<unknown>): Promise<DrainResult>;
  /**
   * The next turn's request prefix, built by the same code as `submit` (no turn starts, nothing is stored).
   * Throws DispatchError: unknown conversation (not_found), unknown model or bad cwd (invalid).
   */
  prefix(conversationId: string, options?: PrefixOptions): Promise<RequestPrefix>;
}

export interface DrainResult {
  /** Why the wait ended: every turn finished, the grace period passed, or `cutShort` settled. */
  ended: "finished" | "grace" | "cut-short";
  /** Turns running when the drain began. */
  running: number;
  /** Turns aborted and stored as interrupted. */
  interrupted: number;
}

export const OrchestratorKey = defineKey<Orchestrator>("session-orchestrator");

/** Every stored event of every conversation, in order, after it is durable (for observers; clients read the feed). */
export const SessionEvent = defineKey<StoredEvent>("session.event");

/** A client asked frontends to show this conversation (POST /conversations/:id/open, `send --open`). */
export const ConversationOpen = defineKey<{ conversationId: string; workspaceId: string }>(
  "conversation.open",
);

/** A conversation became active, idle or closed. */
export const ConversationStatusChanged = defineKey<
  { conversationId: string; status: ConversationStatus; workspaceId: string }
>("conversation.status-changed");

/**
 * Before a turn in a conversation that has history: a handler may move the turn to another conversation it
 * made from this one (compaction's fork) by answering that conversation's id. The turn then runs there.
 */
export interface BeforeTurnPlan {
  conversationId: string;
  /** The catalog name of the turn's model. */
  modelName: string;
  message: string;
  /** The history as the model would be sent it, before the new message. */
  messages: ModelMessage[];
}
export const BeforeTurnHook = defineKey<BeforeTurnPlan>("session.before-turn");

/** A conversation's history was compacted into a new conversation (the compaction extension's fork). */
export const ConversationCompacted = defineKey<
  { conversationId: string; newConversationId: string; messagesSummarized: number; messagesKept: number }
>("conversation.compacted");
