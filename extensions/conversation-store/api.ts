// What conversation-store offers: conversations, their append-only chunk history, and the per-turn event log.
import type { AgentEvent, Chunk, ChunkRole, StoredChunk } from "../../src/contract/events.ts";
import { defineKey, DispatchError, type Usage } from "../../src/kernel/mod.ts";
import type { z } from "zod";
import { ConversationStatusSchema, type ConversationView } from "../../src/contract/http.ts";

/** The one status set (the contract's). */
export type ConversationStatus = z.infer<typeof ConversationStatusSchema>;
export const ConversationStatuses: readonly ConversationStatus[] = ConversationStatusSchema.options;

/** The conversation as the contract shows it, plus the settings extensions keep on it. */
export type Conversation = ConversationView & {
  /** Extension-owned per-conversation settings (compact percent, warming, ...), JSON values. */
  settings: Record<string, unknown>;
};

export type ConversationPatch = Partial<
  Pick<
    Conversation,
    "title" | "status" | "workspaceId" | "cwd" | "model" | "reasoningEffort" | "lastActivityAt"
  >
>;

export type TurnStatus = "running" | "done" | "aborted" | "error" | "interrupted";

export interface TurnRecord {
  turnId: string;
  conversationId: string;
  status: TurnStatus;
  model: string | null;
  startedAt: number;
  endedAt: number | null;
  usage: Usage | null;
  durationMs: number | null;
  contextSize: number | null;
  steps: { stepId: string; usage: Usage | null; ttftMs?: number; decodeMs?: number; genTotalMs?: number }[];
}

/** WIRE.md "History": `sinceSeq < seq < beforeSeq`, the newest `limit` of them, ascending. */
export interface HistoryQuery {
  /** Default 0. */
  sinceSeq?: number;
  /** Default: no upper bound. */
  beforeSeq?: number;
  /** Default: all of them (callers serving clients should pass a cap). */
  limit?: number;
}

/** One stored event (WIRE.md "Two sequence numbers"). */
export interface StoredEvent {
  /** Per-conversation event sequence number, gap-free from 1. */
  eventSeq: number;
  event: AgentEvent;
  /** The event as one wire line: its JSON with `eventSeq` added, serialised once for every consumer. */
  line: string;
}

/** A follow of one conversation's events: the stored ones after a sequence number, then the live tail. */
export interface EventCursor {
  /**
   * The next events, oldest first (at least one), once they are committed; undefined when the follow has
   * ended. Rejects with StorageUnavailableError when the conversation's events could not be stored.
   */
  next(): Promise<StoredEvent[] | undefined>;
  /** Ends the follow (a pending `next` resolves undefined). */
  close(): void;
  /** True once the cursor has caught up with the store: what it hands out now is the live tail. */
  readonly live: boolean;
}

export interface FollowOptions {
  /** The follow ends with (after) the first event this accepts, e.g. the turn's `turn-sealed`. */
  until?: (e: StoredEvent) => boolean;
  /** The follow ends once it has read everything stored (no live tail). */
  untilCaughtUp?: boolean;
}

/** A named group of conversations (ids are slugs); `default` always exists and cannot be deleted. */
export interface Workspace {
  id: string;
  title: string;
  /** Where a conversation of this workspace works when it has no cwd of its own. */
  defaultCwd: string | null;
  createdAt: number;
  /** The newest of its own and its conversations' activity. */
  lastActivityAt: number;
  /** Conversations in it, closed ones included. */
  conversationCount: number;
}

export interface WorkspacePatch {
  title?: string;
  defaultCwd?: string | null;
}

export const DEFAULT_WORKSPACE = "default";

export interface ListQuery {
  q?: string;
  status?: ConversationStatus[];
  workspaceId?: string;
}

/**
 * Reads and writes of an unknown conversation throw NotFoundError (`get` returns undefined, `runningTurn`
 * undefined); malformed arguments throw InvalidInputError; duplicate ids ConflictError.
 */
export interface ConversationStore {
  create(init: { id?: string; workspaceId?: string; title?: string; cwd?: string | null }): Conversation;
  get(id: string): Conversation | undefined;
  /** Newest activity first. Closed ones only when `status` asks for them. */
  list(query?: ListQuery): Conversation[];
  update(id: string, patch: ConversationPatch): Conversation;
  setSetting(id: string, key: string, value: unknown): void;

  /**
   * Opens a turn (one transaction, now); a turn left open (crash, kill) is closed as interrupted by
   * `reconcile` on next load. Returns the conversation's last event seq: the turn's events come after it.
   */
  beginTurn(conversationId: string, turnId: string, model: string | null): number;
  /**
   * Queues an event the kernel made (not validated again) for the next group commit: one transaction takes
   * every event queued meanwhile, across conversations, logs it and folds it into history and metrics; then
   * the feed hands it out. Consecutive deltas of one turn queued before a commit are coalesced into one event.
   * Returns its event seq. `done` ends the turn; `turn-sealed` is its last event.
   */
  append(event: AgentEvent): number;
  /** Resolves after the commit that takes everything queued so far has run (whether or not it succeeded). */
  flushed(): Promise<void>;
  /** Validates an event from outside the turn loop and stores it now (its own commit). Returns its event seq. */
  appendEvent(event: AgentEvent): number;
  /** Closes a turn now without its events (the turn loop could not finish it); prefer `done` through `append`. */
  endTurn(conversationId: string, turnId: string, status: Exclude<TurnStatus, "running">): void;
  /**
   * Closes a running turn as a crash repair would (results for open tool calls, an error chunk with this
   * message and code, `done`, `turn-sealed`), in one transaction, now. Throws StorageUnavailableError when
   * that cannot be stored either.
   */
  abandonTurn(conversationId: string, turnId: string, reason: { message: string; code: string }): void;
  /** Called when a commit fails, with the conversations whose queued events were lost (never shown). */
  onCommitFailure(
    listener: (conversationIds: ReadonlySet<string>, error: StorageUnavailableError) => void,
  ): () => void;
  /** Appends a chunk directly (system notes, imported history). */
  appendChunk(conversationId: string, role: ChunkRole, chunk: Chunk, turnId?: string): StoredChunk;

  /** The conversation's events after `afterEventSeq`, then live ones as they are committed. */
  follow(conversationId: string, afterEventSeq: number, opts?: FollowOptions): EventCursor;
  /** Every committed event of every conversation, synchronously after its commit. */
  onCommit(listener: (e: StoredEvent) => void): () => void;

  history(conversationId: string, query?: HistoryQuery): { chunks: StoredChunk[]; latestSeq: number };
  /** Chunks as `(role, chunk)` of every turn, oldest first, for rebuilding the model's messages. */
  allChunks(conversationId: string): StoredChunk[];
  /** The chunks of one turn, in seq order. */
  turnChunks(conversationId: string, turnId: string): StoredChunk[];
  /** Events with `seq > afterSeq`, ascending; all of them unless `limit`. */
  eventsSince(conversationId: string, afterSeq: number, limit?: number): StoredEvent[];
  latestEventSeq(conversationId: string): number;
  turns(conversationId: string): TurnRecord[];
  runningTurn(conversationId: string): TurnRecord | undefined;
  /** Text of the newest assistant message, and its turn. */
  lastAssistantText(conversationId: string): { content: string; turnId?: string };

  // Workspaces. Creating or moving a conversation into a workspace that does not exist creates it.
  getWorkspace(id: string): Workspace | undefined;
  /** Newest activity first; `default` is always there. */
  listWorkspaces(): Workspace[];
  /** Creates the workspace (title defaults to its id), or updates the fields given of an existing one. */
  putWorkspace(id: string, patch?: WorkspacePatch): { workspace: Workspace; created: boolean };
  /** Updates an existing workspace; NotFoundError when there is none. */
  updateWorkspace(id: string, patch: WorkspacePatch): Workspace;
  /**
   * Deletes a workspace: its conversations move to `default` and are closed. ConflictError for `default`,
   * NotFoundError for an unknown one. Returns the conversations it moved and those it closed (were not closed).
   */
  deleteWorkspace(id: string): { moved: string[]; closed: string[] };
}

export const ConversationStoreKey = defineKey<ConversationStore>("conversation-store");

// ---------------------------------------------------------------- errors (thrown at the service boundary)

/** The conversation or turn named does not exist. */
export class NotFoundError extends DispatchError {
  constructor(message: string) {
    super("not_found", "not_found", message);
    this.name = "NotFoundError";
  }
}

/** Creating something that already exists (a conversation id, a turn id). */
export class ConflictError extends DispatchError {
  constructor(message: string) {
    super("conflict", "conflict", message);
    this.name = "ConflictError";
  }
}

/** The database refused a write (disk or database full, I/O error): nothing of it was stored. */
export class StorageUnavailableError extends DispatchError {
  constructor(message: string, code = "storage_unavailable") {
    super("unavailable", code, message);
    this.name = "StorageUnavailableError";
  }
}

/** An argument that does not fit (a malformed event or chunk, a negative cursor, an unknown status). */
export class InvalidInputError extends DispatchError {
  constructor(message: string) {
    super("invalid", "invalid_input", message);
    this.name = "InvalidInputError";
  }
}
