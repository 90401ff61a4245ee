// What session-orchestrator offers: submitting turns, following them live, stopping them.
import { type AgentEvent, defineKey, type TurnOutcome } from "../../src/kernel/mod.ts";

export interface TurnRequest {
  conversationId?: string;
  message: string;
  model?: string;
  cwd?: string;
  reasoningEffort?: string;
  workspaceId?: string;
  clientRequestId?: string;
}

/** One event as stored: its per-conversation sequence number and the event. */
export interface SequencedEvent {
  seq: number;
  event: AgentEvent;
}

export interface TurnHandle {
  conversationId: string;
  turnId: string;
  /** Every event of the turn from its first, then live ones until `turn-sealed`. */
  events(): AsyncIterable<SequencedEvent>;
  /** Settles after the turn is sealed (all stored). */
  settled: Promise<TurnOutcome | undefined>;
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
  /** Resolves when no turn runs in the conversation. */
  idle(conversationId: string): Promise<void>;
  addSteeringSource(source: SteeringSource): () => void;
}

export const OrchestratorKey = defineKey<Orchestrator>("session-orchestrator");

/** Every stored event of every conversation, in order, after it is durable. */
export const SessionEvent = defineKey<SequencedEvent>("session.event");

/** A client asked frontends to show this conversation (POST /conversations/:id/open, `send --open`). */
export const ConversationOpen = defineKey<{ conversationId: string; workspaceId: string }>(
  "conversation.open",
);

/** A conversation became active, idle or closed. */
export const ConversationStatusChanged = defineKey<
  { conversationId: string; status: "active" | "idle" | "closed"; workspaceId: string }
>("conversation.status-changed");
