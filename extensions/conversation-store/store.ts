// ConversationStore on one SQL database. Events of turns go through one writer with group commit: `append`
// queues an event, and one transaction (on the next turn of the event loop) logs every event queued meanwhile,
// across all conversations, and folds them into history; then the feed hands them to clients. So a client is
// never shown an event that is not stored, and a process crash loses only events nobody was shown. Streamed
// text stays in memory until its chunk closes and is written once, complete (chunks are immutable).
import {
  type AgentEvent,
  AgentEventSchema,
  type Chunk,
  type ChunkRole,
  ChunkRoleSchema,
  ChunkSchema,
  type StoredChunk,
} from "../../src/contract/events.ts";
import { setImmediate } from "node:timers";
import {
  addUsage,
  type Clock,
  describeZodError,
  type SqlDatabase,
  type Usage,
} from "../../src/kernel/mod.ts";
import {
  ConflictError,
  type Conversation,
  type ConversationPatch,
  type ConversationStatus,
  type ConversationStore,
  type EventCursor,
  type FollowOptions,
  type HistoryQuery,
  InvalidInputError,
  type ListQuery,
  StorageUnavailableError,
  type StoredEvent,
  type TurnRecord,
  type TurnStatus,
  type Workspace,
  type WorkspacePatch,
} from "./api.ts";
import { migrate } from "./schema.ts";
import {
  reconcile,
  type RepairReason,
  type Repairs,
  repairTurn,
  type RunningTurnState,
} from "./reconcile.ts";
import { type FoldOp, replayFold, TurnFold } from "./fold.ts";
import { Feed } from "./feed.ts";
import { Workspaces } from "./workspaces.ts";
import { chunkText, toConversation, toStep, toStoredChunk, toTurn } from "./rows.ts";
import {
  checkCount,
  checkId,
  checkNullableString,
  checkStatus,
  checkTime,
  checkTitle,
  checkWorkspace,
  notFound,
  turnNotFound,
} from "./validation.ts";

const END_STATUSES: readonly TurnStatus[] = ["done", "aborted", "error", "interrupted"];
/** Streamed events (deltas, tool output) move `lastActivityAt` at most this often. */
export const STREAMING_ACTIVITY_RESOLUTION_MS = 1000;
/** The longest a commit waits for the one before it (see `#tick`). */
const MAX_COMMIT_PACING_MS = 5;
/** SQLite reads a negative LIMIT as "no limit". */
const NO_LIMIT = -1;

const SQL = {
  insertConversation: `INSERT INTO conversations
      (id, title, status, created_at, last_activity_at, workspace_id, cwd, model, reasoning_effort, settings)
    VALUES (?, ?, 'idle', ?, ?, ?, ?, NULL, NULL, '{}') ON CONFLICT (id) DO NOTHING`,
  getConversation: `SELECT * FROM conversations WHERE id = ?`,
  listConversations: `SELECT * FROM conversations
    WHERE status IN (SELECT value FROM json_each(?1)) AND (?2 IS NULL OR workspace_id = ?2)
    ORDER BY last_activity_at DESC, created_at DESC, id`,
  updateConversation: `UPDATE conversations SET title = ?, status = ?, workspace_id = ?, cwd = ?, model = ?,
      reasoning_effort = ?, last_activity_at = ? WHERE id = ?`,
  setSettings: `UPDATE conversations SET settings = ? WHERE id = ?`,
  touch: `UPDATE conversations SET last_activity_at = MAX(last_activity_at, ?) WHERE id = ?`,
  activityOf: `SELECT last_activity_at FROM conversations WHERE id = ?`,
  activate:
    `UPDATE conversations SET status = 'active', last_activity_at = MAX(last_activity_at, ?) WHERE id = ?`,
  idleIfNothingRuns: `UPDATE conversations SET status = 'idle' WHERE id = ?1 AND status = 'active'
    AND NOT EXISTS (SELECT 1 FROM turns WHERE conversation_id = ?1 AND status = 'running')`,
  forceIdle: `UPDATE conversations SET status = 'idle' WHERE id = ? AND status = 'active'`,
  activeConversations: `SELECT id, status FROM conversations WHERE status = 'active'`,

  insertTurn: `INSERT INTO turns (conversation_id, id, status, model, started_at, event_seq_base)
    VALUES (?, ?, 'running', ?, ?, ?) ON CONFLICT DO NOTHING`,
  endTurn: `UPDATE turns SET status = ?, ended_at = ?, open_seq = NULL WHERE conversation_id = ? AND id = ?`,
  turnDone:
    `UPDATE turns SET usage = ?, duration_ms = ?, context_size = ? WHERE conversation_id = ? AND id = ?`,
  endRunningTurn: `UPDATE turns SET status = ?, ended_at = ?, open_seq = NULL
    WHERE conversation_id = ? AND id = ? AND status = 'running'`,
  turns: `SELECT * FROM turns WHERE conversation_id = ? ORDER BY started_at, rowid`,
  runningTurn: `SELECT * FROM turns WHERE conversation_id = ? AND status = 'running'
    ORDER BY started_at DESC, rowid DESC LIMIT 1`,
  runningTurnsOf: `SELECT id, event_seq_base FROM turns WHERE conversation_id = ? AND status = 'running'`,
  allRunningTurns: `SELECT conversation_id, id, started_at, event_seq_base FROM turns WHERE status = 'running'
    ORDER BY started_at, rowid`,
  turnRow: `SELECT started_at, event_seq_base, status FROM turns WHERE conversation_id = ? AND id = ?`,

  stepUsage: `SELECT usage FROM steps WHERE conversation_id = ? AND turn_id = ? AND step_id = ?`,
  upsertStepUsage: `INSERT INTO steps (conversation_id, turn_id, step_id, usage) VALUES (?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET usage = excluded.usage`,
  upsertStepTimings: `INSERT INTO steps (conversation_id, turn_id, step_id, ttft_ms, decode_ms, gen_total_ms)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET ttft_ms = excluded.ttft_ms,
    decode_ms = excluded.decode_ms, gen_total_ms = excluded.gen_total_ms`,
  steps: `SELECT * FROM steps WHERE conversation_id = ? ORDER BY rowid`,
  turnSteps: `SELECT * FROM steps WHERE conversation_id = ? AND turn_id = ? ORDER BY rowid`,

  latestChunkSeq: `SELECT COALESCE(MAX(seq), 0) AS seq FROM chunks WHERE conversation_id = ?`,
  insertChunk:
    `INSERT INTO chunks (conversation_id, seq, turn_id, role, kind, chunk) VALUES (?, ?, ?, ?, ?, ?)`,
  history: `SELECT seq, role, chunk FROM chunks WHERE conversation_id = ? AND seq > ? AND seq < ?
    ORDER BY seq DESC LIMIT ?`,
  allChunks: `SELECT seq, role, chunk FROM chunks WHERE conversation_id = ? ORDER BY seq`,
  turnChunks: `SELECT seq, role, chunk FROM chunks WHERE conversation_id = ? AND turn_id = ? ORDER BY seq`,
  lastAssistantTextChunk: `SELECT seq, turn_id, chunk FROM chunks
    WHERE conversation_id = ? AND role = 'assistant' AND kind = 'text' ORDER BY seq DESC LIMIT 1`,
  turnAssistantText: `SELECT chunk FROM chunks
    WHERE conversation_id = ? AND turn_id = ? AND role = 'assistant' AND kind = 'text' ORDER BY seq`,
  turnToolChunks: `SELECT seq, role, chunk FROM chunks
    WHERE conversation_id = ? AND turn_id = ? AND kind IN ('tool-call', 'tool-result') ORDER BY seq`,

  latestEventSeq: `SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE conversation_id = ?`,
  insertEvent:
    `INSERT INTO events (conversation_id, seq, turn_id, type, at, event) VALUES (?, ?, ?, ?, ?, ?)`,
  eventsSince: `SELECT seq, event FROM events WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
  turnEvents: `SELECT event FROM events WHERE conversation_id = ? AND seq > ? AND turn_id = ? ORDER BY seq`,
  turnControlEvents: `SELECT event FROM events WHERE conversation_id = ? AND seq > ? AND turn_id = ?
    AND type NOT IN ('text-delta', 'reasoning-delta', 'tool-output') ORDER BY seq`,
  turnLastEventAt: `SELECT MAX(at) AS at FROM events WHERE conversation_id = ? AND seq > ? AND turn_id = ?`,
} as const;

/** What the writer knows of one conversation: the counters and the running turns' folds. */
interface ConversationState {
  /** The newest event seq handed out (queued events included). */
  lastEventSeq: number;
  /** The newest chunk seq written. */
  lastChunkSeq: number;
  lastActivityAt: number;
  turns: Map<string, TurnFold>;
}

/** An event waiting for the next commit. */
interface Queued {
  eventSeq: number;
  event: AgentEvent;
  at: number;
}

const isStreamed = (e: AgentEvent) =>
  e.type === "text-delta" || e.type === "reasoning-delta" || e.type === "tool-output";

/** A delta that can join the queued event before it: same turn, same kind (same tool and stream). */
function coalesce(into: AgentEvent, e: AgentEvent): boolean {
  if (into.type !== e.type) return false;
  if (e.type === "text-delta" || e.type === "reasoning-delta") {
    const target = into as typeof e;
    if (target.turnId !== e.turnId) return false;
    target.delta += e.delta;
    return true;
  }
  if (e.type === "tool-output") {
    const target = into as typeof e;
    if (target.turnId !== e.turnId || target.toolCallId !== e.toolCallId || target.stream !== e.stream) {
      return false;
    }
    target.data += e.data;
    return true;
  }
  return false;
}

/** The wire line of a stored event: its JSON with `eventSeq` added. */
const lineOf = (json: string, eventSeq: number) => `${json.slice(0, -1)},"eventSeq":${eventSeq}}`;

/** SQLite's refusals to write, as errors a client can act on. */
export function storageError(error: unknown): StorageUnavailableError {
  if (error instanceof StorageUnavailableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const errcode = (error as { errcode?: number }).errcode;
  // SQLITE_FULL is 13 (disk full, or the database's max_page_count reached)
  if (errcode === 13 || /database or disk is full/i.test(message)) {
    return new StorageUnavailableError(
      `the conversation database is full (${message}); free disk space, then retry`,
      "storage_full",
    );
  }
  return new StorageUnavailableError(`the conversation database refused a write: ${message}`);
}

const systemClock: Clock = { now: () => Date.now() };

/** Migrates the database, repairs what a previous run left open, and returns the store with what it repaired. */
export function openConversationStore(
  db: SqlDatabase,
  opts: { clock?: Clock } = {},
): { store: SqliteConversationStore; repairs: Repairs } {
  migrate(db);
  const store = new SqliteConversationStore(db, opts.clock);
  const repairs = store.reconcileOnLoad();
  return { store, repairs };
}

export class SqliteConversationStore implements ConversationStore {
  readonly #db: SqlDatabase;
  readonly #clock: Clock;
  readonly #workspaces: Workspaces;
  readonly #feed: Feed;
  #states = new Map<string, ConversationState>();
  #queue: Queued[] = [];
  /** Per conversation, its newest queued event (coalescing joins deltas to it). */
  #lastQueued = new Map<string, Queued>();
  #scheduled = false;
  #nextCommitAt = 0;
  #flushWaiters: (() => void)[] = [];
  #failureListeners = new Set<(ids: ReadonlySet<string>, error: StorageUnavailableError) => void>();

  /** Expects a migrated database (see `openConversationStore`). */
  constructor(db: SqlDatabase, clock: Clock = systemClock) {
    this.#db = db;
    this.#clock = clock;
    this.#workspaces = new Workspaces(db, clock);
    // A conversation not created yet has no events (a client may follow it before its first turn).
    this.#feed = new Feed((cid, after, limit) => this.get(cid) ? this.eventsSince(cid, after, limit) : []);
  }

  // ------------------------------------------------------------ conversations

  create(
    init: { id?: string; workspaceId?: string; title?: string; cwd?: string | null } = {},
  ): Conversation {
    if (typeof init !== "object" || init === null) throw new InvalidInputError("create expects an object");
    const id = init.id === undefined ? crypto.randomUUID() : checkId(init.id, "conversation id");
    const title = init.title === undefined ? "" : checkTitle(init.title);
    const workspaceId = init.workspaceId === undefined ? "default" : checkWorkspace(init.workspaceId);
    const cwd = init.cwd === undefined ? null : checkNullableString(init.cwd, "cwd");
    const now = this.#clock.now();
    return this.#db.transaction(() => {
      const { changes } = this.#db.prepare(SQL.insertConversation).run(id, title, now, now, workspaceId, cwd);
      if (Number(changes) === 0) throw new ConflictError(`conversation ${id} already exists`);
      this.#workspaces.ensure(workspaceId, now);
      return this.#mustGet(id);
    });
  }

  get(id: string): Conversation | undefined {
    if (typeof id !== "string") return undefined;
    const row = this.#db.prepare(SQL.getConversation).get(id);
    return row ? toConversation(row) : undefined;
  }

  list(query: ListQuery = {}): Conversation[] {
    const statuses = query.status === undefined ? ["active", "idle"] : query.status.map(checkStatus);
    const workspaceId = query.workspaceId === undefined || query.workspaceId === ""
      ? null
      : checkWorkspace(query.workspaceId);
    const rows = this.#db.prepare(SQL.listConversations).all(JSON.stringify(statuses), workspaceId);
    let conversations = rows.map(toConversation);
    if (query.q !== undefined && query.q !== "") {
      if (typeof query.q !== "string") throw new InvalidInputError("q must be a string");
      const needle = query.q.toLowerCase();
      conversations = conversations.filter((c) =>
        c.title.toLowerCase().includes(needle) || c.id.startsWith(query.q!)
      );
    }
    return conversations;
  }

  update(id: string, patch: ConversationPatch): Conversation {
    if (typeof patch !== "object" || patch === null) throw new InvalidInputError("patch must be an object");
    const known = new Set([
      "title",
      "status",
      "workspaceId",
      "cwd",
      "model",
      "reasoningEffort",
      "lastActivityAt",
    ]);
    for (const key of Object.keys(patch)) {
      if (!known.has(key)) throw new InvalidInputError(`cannot update conversation field "${key}"`);
    }
    return this.#db.transaction(() => {
      const c = this.#mustGet(id);
      const next: Conversation = {
        ...c,
        ...(patch.title !== undefined ? { title: checkTitle(patch.title) } : {}),
        ...(patch.status !== undefined ? { status: checkStatus(patch.status) } : {}),
        ...(patch.workspaceId !== undefined ? { workspaceId: checkWorkspace(patch.workspaceId) } : {}),
        ...(patch.cwd !== undefined ? { cwd: checkNullableString(patch.cwd, "cwd") } : {}),
        ...(patch.model !== undefined ? { model: checkNullableString(patch.model, "model") } : {}),
        ...(patch.reasoningEffort !== undefined
          ? { reasoningEffort: checkNullableString(patch.reasoningEffort, "reasoningEffort") }
          : {}),
        ...(patch.lastActivityAt !== undefined ? { lastActivityAt: checkTime(patch.lastActivityAt) } : {}),
      };
      this.#db.prepare(SQL.updateConversation).run(
        next.title,
        next.status,
        next.workspaceId,
        next.cwd,
        next.model,
        next.reasoningEffort,
        next.lastActivityAt,
        id,
      );
      if (next.workspaceId !== c.workspaceId) this.#workspaces.ensure(next.workspaceId, this.#clock.now());
      return next;
    });
  }

  /** Sets one setting; `undefined` removes it. The value must survive JSON. */
  setSetting(id: string, key: string, value: unknown): void {
    if (typeof key !== "string" || key === "") {
      throw new InvalidInputError("setting key must be a non-empty string");
    }
    let json: string | undefined;
    if (value !== undefined) {
      try {
        json = JSON.stringify(value);
      } catch (error) {
        throw new InvalidInputError(`setting ${key} is not JSON-serializable: ${(error as Error).message}`);
      }
      if (json === undefined) throw new InvalidInputError(`setting ${key} is not JSON-serializable`);
    }
    this.#db.transaction(() => {
      const settings = { ...this.#mustGet(id).settings };
      if (json === undefined) delete settings[key];
      else settings[key] = JSON.parse(json);
      this.#db.prepare(SQL.setSettings).run(JSON.stringify(settings), id);
    });
  }

  // ------------------------------------------------------------ turns and events

  beginTurn(conversationId: string, turnId: string, model: string | null): number {
    checkId(turnId, "turn id");
    const m = checkNullableString(model, "model");
    const now = this.#clock.now();
    return this.#write(() => {
      const s = this.#state(conversationId);
      const { changes } = this.#db.prepare(SQL.activate).run(now, conversationId);
      if (Number(changes) === 0) throw notFound(conversationId);
      const inserted = this.#db.prepare(SQL.insertTurn).run(conversationId, turnId, m, now, s.lastEventSeq);
      if (Number(inserted.changes) === 0) {
        throw new ConflictError(`turn ${turnId} of conversation ${conversationId} already exists`);
      }
      s.turns.set(turnId, new TurnFold());
      return s.lastEventSeq;
    }, conversationId);
  }

  append(event: AgentEvent): number {
    const cid = event.conversationId;
    const s = this.#state(cid);
    if (event.type !== "status" && !s.turns.has(event.turnId)) throw turnNotFound(cid, event.turnId);
    const last = this.#lastQueued.get(cid);
    if (last && isStreamed(event) && coalesce(last.event, event)) return last.eventSeq;
    // Deltas are copied: coalescing appends to the queued copy, never to the caller's object.
    const queued = {
      eventSeq: ++s.lastEventSeq,
      event: isStreamed(event) ? { ...event } : event,
      at: this.#clock.now(),
    };
    this.#queue.push(queued);
    this.#lastQueued.set(cid, queued);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#tick);
    }
    return queued.eventSeq;
  }

  flushed(): Promise<void> {
    if (this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  appendEvent(event: AgentEvent): number {
    const parsed = AgentEventSchema.safeParse(event);
    if (!parsed.success) {
      const why = describeZodError(parsed.error, "event");
      throw new InvalidInputError(`invalid event: ${why}`);
    }
    const seq = this.append(parsed.data);
    const failure = this.#flush();
    if (failure) throw failure;
    return seq;
  }

  endTurn(conversationId: string, turnId: string, status: Exclude<TurnStatus, "running">): void {
    if (!END_STATUSES.includes(status)) {
      throw new InvalidInputError(
        `a turn ends as one of ${END_STATUSES.join(", ")}, not ${JSON.stringify(status)}`,
      );
    }
    const now = this.#clock.now();
    this.#write(() => {
      const { changes } = this.#db.prepare(SQL.endTurn).run(status, now, conversationId, turnId);
      if (Number(changes) === 0) throw turnNotFound(conversationId, turnId);
      const s = this.#state(conversationId);
      const open = s.turns.get(turnId)?.close();
      if (open) this.#insertChunk(conversationId, s, turnId, "assistant", open);
      this.#db.prepare(SQL.touch).run(now, conversationId);
      this.#db.prepare(SQL.idleIfNothingRuns).run(conversationId);
    }, conversationId);
  }

  abandonTurn(conversationId: string, turnId: string, reason: { message: string; code: string }): void {
    const why: RepairReason = { ...reason, status: "error" };
    try {
      const stored = this.#write(() => {
        const turn = this.#runningTurnState(conversationId, turnId);
        if (!turn) return [];
        const repair = repairTurn(turn, why);
        const stored = this.#store(repair.events.map((event) => this.#enqueueNow(event, repair.endedAt)));
        this.#db.prepare(SQL.endTurn).run(repair.status, repair.endedAt, conversationId, turnId);
        this.#db.prepare(SQL.idleIfNothingRuns).run(conversationId);
        this.#states.get(conversationId)?.turns.delete(turnId);
        return stored;
      }, conversationId);
      // Followers of the turn get its closing events like any others (else one following live waits forever).
      this.#feed.publish(stored);
    } catch (error) {
      // At least show the conversation idle (an update in place, which a full database usually still takes);
      // the turn stays running in the database, for the next attempt or the next start's reconcile.
      try {
        this.#db.prepare(SQL.forceIdle).run(conversationId);
      } catch { /* nothing more to do now */ }
      throw error;
    }
  }

  onCommitFailure(
    listener: (conversationIds: ReadonlySet<string>, error: StorageUnavailableError) => void,
  ): () => void {
    this.#failureListeners.add(listener);
    return () => this.#failureListeners.delete(listener);
  }

  appendChunk(conversationId: string, role: ChunkRole, chunk: Chunk, turnId?: string): StoredChunk {
    const r = ChunkRoleSchema.safeParse(role);
    if (!r.success) throw new InvalidInputError(`invalid chunk role ${JSON.stringify(role)}`);
    const c = ChunkSchema.safeParse(chunk);
    if (!c.success) {
      throw new InvalidInputError(`invalid chunk: ${c.error.issues.map((i) => i.message).join("; ")}`);
    }
    if (turnId !== undefined) checkId(turnId, "turn id");
    const now = this.#clock.now();
    return this.#write(() => {
      const { changes } = this.#db.prepare(SQL.touch).run(now, conversationId);
      if (Number(changes) === 0) throw notFound(conversationId);
      const s = this.#state(conversationId);
      // Whatever was streaming is finished: its chunk closes before this one, later deltas start a new one.
      for (const [id, fold] of s.turns) {
        const closed = fold.close();
        if (closed) this.#insertChunk(conversationId, s, id, "assistant", closed);
      }
      return this.#insertChunk(conversationId, s, turnId ?? null, r.data, c.data);
    }, conversationId);
  }

  follow(conversationId: string, afterEventSeq: number, opts?: FollowOptions): EventCursor {
    checkCount(afterEventSeq, "afterEventSeq");
    return this.#feed.follow(conversationId, afterEventSeq, opts);
  }

  onCommit(listener: (e: StoredEvent) => void): () => void {
    return this.#feed.onCommit(listener);
  }

  // ------------------------------------------------------------ the writer

  /**
   * The next commit waits, in turns of the event loop, as long as the last one took: what a writer on its own
   * thread would collect while the previous transaction ran. An idle store commits on the next turn.
   */
  #tick = (): void => {
    if (performance.now() < this.#nextCommitAt) setImmediate(this.#tick);
    else this.#flush();
  };

  /** One group commit: every queued event, all conversations, one transaction; then the feed. */
  #flush(): StorageUnavailableError | undefined {
    this.#scheduled = false;
    const batch = this.#queue;
    const waiters = this.#flushWaiters;
    this.#queue = [];
    this.#flushWaiters = [];
    this.#lastQueued.clear();
    let failure: StorageUnavailableError | undefined;
    if (batch.length > 0) {
      let stored: StoredEvent[] | undefined;
      const started = performance.now();
      try {
        stored = this.#db.transaction(() => this.#store(batch));
        const ended = performance.now();
        this.#nextCommitAt = ended + Math.min(ended - started, MAX_COMMIT_PACING_MS);
      } catch (error) {
        failure = storageError(error);
        this.#failed(new Set(batch.map((q) => q.event.conversationId)), failure);
      }
      if (stored) this.#feed.publish(stored);
    }
    for (const wake of waiters) wake();
    return failure;
  }

  /** A commit failed: its events are gone (nobody saw them); the conversations' state is reloaded when used. */
  #failed(ids: Set<string>, error: StorageUnavailableError): void {
    for (const id of ids) {
      this.#states.delete(id);
      this.#feed.fail(id, error);
    }
    for (const listener of this.#failureListeners) {
      try {
        listener(ids, error);
      } catch { /* a listener's bug must not stop the others */ }
    }
  }

  /** Inside a transaction: logs the events and folds them into history, metrics and activity. */
  #store(batch: Queued[]): StoredEvent[] {
    const db = this.#db;
    const insertEvent = db.prepare(SQL.insertEvent);
    const out: StoredEvent[] = new Array(batch.length);
    const activity = new Map<string, { at: number; streamedOnly: boolean }>();
    for (let i = 0; i < batch.length; i++) {
      const { eventSeq, event, at } = batch[i];
      const cid = event.conversationId;
      const turnId = event.type === "status" ? null : event.turnId;
      const json = JSON.stringify(event);
      insertEvent.run(cid, eventSeq, turnId, event.type, at, json);
      out[i] = { eventSeq, event, line: lineOf(json, eventSeq) };
      const seen = activity.get(cid);
      const streamed = isStreamed(event);
      if (!seen) activity.set(cid, { at, streamedOnly: streamed });
      else {
        seen.at = Math.max(seen.at, at);
        seen.streamedOnly &&= streamed;
      }
      if (turnId === null) continue;
      const s = this.#state(cid);
      const fold = s.turns.get(turnId);
      if (!fold) throw turnNotFound(cid, turnId);
      for (const op of fold.apply(event)) this.#applyOp(cid, s, turnId, op, at);
      if (event.type === "turn-sealed") s.turns.delete(turnId);
    }
    for (const [cid, { at, streamedOnly }] of activity) {
      const s = this.#state(cid);
      if (at <= s.lastActivityAt) continue;
      if (streamedOnly && at - s.lastActivityAt < STREAMING_ACTIVITY_RESOLUTION_MS) continue;
      db.prepare(SQL.touch).run(at, cid);
      s.lastActivityAt = at;
    }
    return out;
  }

  #applyOp(cid: string, s: ConversationState, turnId: string, op: FoldOp, at: number): void {
    const db = this.#db;
    switch (op.op) {
      case "chunk":
        this.#insertChunk(cid, s, turnId, op.role, op.chunk);
        return;
      case "step-usage": {
        const row = db.prepare(SQL.stepUsage).get(cid, turnId, op.stepId);
        const before = row?.usage ? JSON.parse(String(row.usage)) as Usage : undefined;
        const total = before ? addUsage(before, op.usage) : op.usage;
        db.prepare(SQL.upsertStepUsage).run(cid, turnId, op.stepId, JSON.stringify(total));
        return;
      }
      case "step-timings":
        db.prepare(SQL.upsertStepTimings).run(
          cid,
          turnId,
          op.stepId,
          op.ttftMs ?? null,
          op.decodeMs ?? null,
          op.genTotalMs ?? null,
        );
        return;
      case "turn-done":
        db.prepare(SQL.turnDone).run(
          op.usage ? JSON.stringify(op.usage) : null,
          op.durationMs ?? null,
          op.contextSize ?? null,
          cid,
          turnId,
        );
        return;
      case "turn-end":
        db.prepare(SQL.endRunningTurn).run(op.status, at, cid, turnId);
        db.prepare(SQL.idleIfNothingRuns).run(cid);
        return;
    }
  }

  #insertChunk(
    cid: string,
    s: ConversationState,
    turnId: string | null,
    role: ChunkRole,
    chunk: Chunk,
  ): StoredChunk {
    const seq = s.lastChunkSeq + 1;
    this.#db.prepare(SQL.insertChunk).run(cid, seq, turnId, role, chunk.type, JSON.stringify(chunk));
    s.lastChunkSeq = seq;
    return { seq, role, chunk };
  }

  /** An event given a seq now, for a commit that is already running (repairs). */
  #enqueueNow(event: AgentEvent, at: number): Queued {
    const s = this.#state(event.conversationId);
    return { eventSeq: ++s.lastEventSeq, event, at };
  }

  /**
   * Runs a write of its own now (after what is queued), and maps a refusal to StorageUnavailableError. If it
   * fails, the conversation's in-memory state is reloaded from the database when next used.
   */
  #write<T>(fn: () => T, conversationId: string): T {
    if (this.#queue.length > 0) this.#flush();
    try {
      return this.#db.transaction(fn);
    } catch (error) {
      this.#states.delete(conversationId);
      if (error instanceof InvalidInputError || error instanceof ConflictError) throw error;
      if ((error as { name?: string }).name === "NotFoundError") throw error;
      throw storageError(error);
    }
  }

  /** The writer's view of a conversation, loaded from the database on first use. */
  #state(cid: string): ConversationState {
    let s = this.#states.get(cid);
    if (s) return s;
    const row = this.#db.prepare(SQL.activityOf).get(cid);
    if (!row) throw notFound(cid);
    s = {
      lastEventSeq: Number(this.#db.prepare(SQL.latestEventSeq).get(cid)!.seq),
      lastChunkSeq: Number(this.#db.prepare(SQL.latestChunkSeq).get(cid)!.seq),
      lastActivityAt: Number(row.last_activity_at),
      turns: new Map(),
    };
    // A running turn's open chunk is the fold of its stored events (its deltas are in the log).
    for (const t of this.#db.prepare(SQL.runningTurnsOf).all(cid)) {
      const turnId = String(t.id);
      const events = this.#db.prepare(SQL.turnEvents).all(cid, Number(t.event_seq_base), turnId)
        .map((r) => JSON.parse(String(r.event)) as AgentEvent);
      s.turns.set(turnId, replayFold(events));
    }
    this.#states.set(cid, s);
    return s;
  }

  /** What crash repair needs to know of one running turn. */
  #runningTurnState(conversationId: string, turnId: string): RunningTurnState | undefined {
    const row = this.#db.prepare(SQL.turnRow).get(conversationId, turnId);
    if (!row || row.status !== "running") return undefined;
    const base = Number(row.event_seq_base);
    const lastAt = this.#db.prepare(SQL.turnLastEventAt).get(conversationId, base, turnId)?.at;
    return {
      conversationId,
      turnId,
      startedAt: Number(row.started_at),
      lastEventAt: lastAt === null || lastAt === undefined ? null : Number(lastAt),
      chunks: this.#db.prepare(SQL.turnToolChunks).all(conversationId, turnId).map(toStoredChunk),
      events: this.#db.prepare(SQL.turnControlEvents).all(conversationId, base, turnId)
        .map((r) => JSON.parse(String(r.event)) as AgentEvent),
    };
  }

  // ------------------------------------------------------------ reads

  history(conversationId: string, query: HistoryQuery = {}): { chunks: StoredChunk[]; latestSeq: number } {
    const sinceSeq = query.sinceSeq === undefined ? 0 : checkCount(query.sinceSeq, "sinceSeq");
    const beforeSeq = query.beforeSeq === undefined
      ? Number.MAX_SAFE_INTEGER
      : checkCount(query.beforeSeq, "beforeSeq");
    const limit = query.limit === undefined ? NO_LIMIT : checkCount(query.limit, "limit");
    this.#mustExist(conversationId);
    const rows = this.#db.prepare(SQL.history).all(conversationId, sinceSeq, beforeSeq, limit);
    const chunks = rows.reverse().map(toStoredChunk);
    return { chunks, latestSeq: chunks.at(-1)?.seq ?? sinceSeq };
  }

  allChunks(conversationId: string): StoredChunk[] {
    this.#mustExist(conversationId);
    return this.#db.prepare(SQL.allChunks).all(conversationId).map(toStoredChunk);
  }

  turnChunks(conversationId: string, turnId: string): StoredChunk[] {
    this.#mustExist(conversationId);
    return this.#db.prepare(SQL.turnChunks).all(conversationId, turnId).map(toStoredChunk);
  }

  eventsSince(conversationId: string, afterSeq: number, limit?: number): StoredEvent[] {
    const after = checkCount(afterSeq, "afterSeq");
    const max = limit === undefined ? NO_LIMIT : checkCount(limit, "limit");
    this.#mustExist(conversationId);
    return this.#db.prepare(SQL.eventsSince).all(conversationId, after, max).map((row) => {
      const json = String(row.event);
      const eventSeq = Number(row.seq);
      return { eventSeq, event: JSON.parse(json) as AgentEvent, line: lineOf(json, eventSeq) };
    });
  }

  latestEventSeq(conversationId: string): number {
    this.#mustExist(conversationId);
    return Number(this.#db.prepare(SQL.latestEventSeq).get(conversationId)?.seq ?? 0);
  }

  turns(conversationId: string): TurnRecord[] {
    this.#mustExist(conversationId);
    const steps = new Map<string, TurnRecord["steps"]>();
    for (const row of this.#db.prepare(SQL.steps).all(conversationId)) {
      const id = String(row.turn_id);
      let list = steps.get(id);
      if (!list) steps.set(id, list = []);
      list.push(toStep(row));
    }
    return this.#db.prepare(SQL.turns).all(conversationId).map((row) =>
      toTurn(row, steps.get(String(row.id)) ?? [])
    );
  }

  runningTurn(conversationId: string): TurnRecord | undefined {
    const row = this.#db.prepare(SQL.runningTurn).get(conversationId);
    if (!row) return undefined;
    return toTurn(row, this.#db.prepare(SQL.turnSteps).all(conversationId, String(row.id)).map(toStep));
  }

  /** The assistant text of the newest turn that has any, its text chunks joined by a blank line. */
  lastAssistantText(conversationId: string): { content: string; turnId?: string } {
    this.#mustExist(conversationId);
    const last = this.#db.prepare(SQL.lastAssistantTextChunk).get(conversationId);
    if (!last) return { content: "" };
    if (last.turn_id === null) return { content: chunkText(last.chunk) };
    const turnId = String(last.turn_id);
    const texts = this.#db.prepare(SQL.turnAssistantText).all(conversationId, turnId).map((r) =>
      chunkText(r.chunk)
    );
    return { content: texts.filter((t) => t !== "").join("\n\n"), turnId };
  }

  // ------------------------------------------------------------ workspaces

  getWorkspace(id: string): Workspace | undefined {
    return this.#workspaces.get(id);
  }

  listWorkspaces(): Workspace[] {
    return this.#workspaces.list();
  }

  putWorkspace(id: string, patch: WorkspacePatch = {}): { workspace: Workspace; created: boolean } {
    return this.#workspaces.put(id, patch);
  }

  updateWorkspace(id: string, patch: WorkspacePatch): Workspace {
    return this.#workspaces.update(id, patch);
  }

  deleteWorkspace(id: string): { moved: string[]; closed: string[] } {
    return this.#workspaces.delete(id);
  }

  // ------------------------------------------------------------ crash repair

  /**
   * Closes every turn a previous run left `running` (see reconcile.ts) in one transaction, and returns what
   * it did. Safe to call again: a second call finds nothing to do.
   */
  reconcileOnLoad(): Repairs {
    return this.#db.transaction(() => {
      const runningTurns = this.#db.prepare(SQL.allRunningTurns).all().map((row) =>
        this.#runningTurnState(String(row.conversation_id), String(row.id))!
      );
      const conversations = this.#db.prepare(SQL.activeConversations).all().map((row) => ({
        id: String(row.id),
        status: String(row.status) as ConversationStatus,
      }));
      const repairs = reconcile({ conversations, runningTurns });
      for (const turn of repairs.turns) {
        this.#store(turn.events.map((event) => this.#enqueueNow(event, turn.endedAt)));
        this.#db.prepare(SQL.endTurn).run(turn.status, turn.endedAt, turn.conversationId, turn.turnId);
        this.#states.get(turn.conversationId)?.turns.delete(turn.turnId);
      }
      for (const id of repairs.idle) this.#db.prepare(SQL.idleIfNothingRuns).run(id);
      return repairs;
    });
  }

  // ------------------------------------------------------------ internals

  #mustGet(id: string): Conversation {
    const c = this.get(id);
    if (!c) throw notFound(id);
    return c;
  }

  #mustExist(id: string): void {
    if (typeof id !== "string" || !this.#db.prepare(SQL.getConversation).get(id)) throw notFound(id);
  }
}
