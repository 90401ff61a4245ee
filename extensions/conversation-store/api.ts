// What conversation-store offers: conversations, their append-only chunk history, and the per-turn event log.
import {
  type AgentEvent,
  type Chunk,
  type ChunkRole,
  defineKey,
  DispatchError,
  type StoredChunk,
  type Usage,
} from "../../src/kernel/mod.ts";

export type ConversationStatus = "active" | "idle" | "closed";

export interface Conversation {
  id: string;
  title: string;
  status: ConversationStatus;
  createdAt: number;
  lastActivityAt: number;
  workspaceId: string;
  cwd: string | null;
  model: string | null;
  reasoningEffort: string | null;
  /** Extension-owned per-conversation settings (compact percent, warming, ...), JSON values. */
  settings: Record<string, unknown>;
}

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

export interface StoredEvent {
  /** Per-conversation event sequence number, gap-free from 1. */
  seq: number;
  event: AgentEvent;
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

  /** Opens a turn; a turn left open (crash, kill) is closed as interrupted by `reconcile` on next load. */
  beginTurn(conversationId: string, turnId: string, model: string | null): void;
  /** Appends an event to the turn's log and folds it into history (chunks) and turn metrics. Returns its seq. */
  appendEvent(event: AgentEvent): number;
  endTurn(conversationId: string, turnId: string, status: Exclude<TurnStatus, "running">): void;
  /** Appends a chunk directly (system notes, imported history). */
  appendChunk(conversationId: string, role: ChunkRole, chunk: Chunk, turnId?: string): StoredChunk;

  history(conversationId: string, query?: HistoryQuery): { chunks: StoredChunk[]; latestSeq: number };
  /** Chunks as `(role, chunk)` of every turn, oldest first, for rebuilding the model's messages. */
  allChunks(conversationId: string): StoredChunk[];
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

/** An argument that does not fit (a malformed event or chunk, a negative cursor, an unknown status). */
export class InvalidInputError extends DispatchError {
  constructor(message: string) {
    super("invalid", "invalid_input", message);
    this.name = "InvalidInputError";
  }
}
