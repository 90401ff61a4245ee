// ConversationStore on one SQL database. Every write is one short transaction; every statement is prepared
// once (the storage caches them by text). History is folded from events as they are appended, so a crash
// loses at most the event being written: partial streamed text is already in its chunk.
import {
  addUsage,
  type AgentEvent,
  AgentEventSchema,
  type Chunk,
  type ChunkRole,
  ChunkRoleSchema,
  ChunkSchema,
  type Clock,
  describeZodError,
  type SqlDatabase,
  type SqlValue,
  type StoredChunk,
  type Usage,
} from "../../src/kernel/mod.ts";
import {
  ConflictError,
  type Conversation,
  type ConversationPatch,
  type ConversationStatus,
  type ConversationStore,
  DEFAULT_WORKSPACE,
  type HistoryQuery,
  InvalidInputError,
  type ListQuery,
  NotFoundError,
  type StoredEvent,
  type TurnRecord,
  type TurnStatus,
  type Workspace,
  type WorkspacePatch,
} from "./api.ts";
import { WORKSPACE_ID } from "../../src/contract/http.ts";
import { migrate } from "./schema.ts";
import { reconcile, type Repairs, type RunningTurnState } from "./reconcile.ts";

const STATUSES: readonly ConversationStatus[] = ["active", "idle", "closed"];
const END_STATUSES: readonly TurnStatus[] = ["done", "aborted", "error", "interrupted"];
const MAX_ID_LENGTH = 256;
const MAX_TITLE_LENGTH = 1000;
const MAX_WORKSPACE_TITLE_LENGTH = 200;
const MAX_PATH_LENGTH = 4096;
/** Streamed events (deltas, tool output) move `lastActivityAt` at most this often: one write saved per delta. */
export const STREAMING_ACTIVITY_RESOLUTION_MS = 1000;
/** SQLite reads a negative LIMIT as "no limit". */
const NO_LIMIT = -1;

type Row = Record<string, SqlValue>;

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
  setActivity: `UPDATE conversations SET last_activity_at = ? WHERE id = ?`,
  activate:
    `UPDATE conversations SET status = 'active', last_activity_at = MAX(last_activity_at, ?) WHERE id = ?`,
  idleIfNothingRuns: `UPDATE conversations SET status = 'idle' WHERE id = ?1 AND status = 'active'
    AND NOT EXISTS (SELECT 1 FROM turns WHERE conversation_id = ?1 AND status = 'running')`,
  activeConversations: `SELECT id, status FROM conversations WHERE status = 'active'`,

  insertTurn: `INSERT INTO turns (conversation_id, id, status, model, started_at, event_seq_base)
    VALUES (?1, ?2, 'running', ?3, ?4, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE conversation_id = ?1))
    ON CONFLICT DO NOTHING`,
  endTurn: `UPDATE turns SET status = ?, ended_at = ?, open_seq = NULL WHERE conversation_id = ? AND id = ?`,
  /** Everything an event of a turn needs to know, in one read: activity, the turn, its open chunk's kind. */
  turnForEvent: `SELECT cv.last_activity_at AS last_activity_at, t.id AS turn_id, t.open_seq AS open_seq,
    c.kind AS open_kind FROM conversations cv
    LEFT JOIN turns t ON t.conversation_id = cv.id AND t.id = ?2
    LEFT JOIN chunks c ON c.conversation_id = cv.id AND c.seq = t.open_seq
    WHERE cv.id = ?1`,
  openChunk: `UPDATE turns SET open_seq = ? WHERE conversation_id = ? AND id = ?`,
  closeChunk: `UPDATE turns SET open_seq = NULL WHERE conversation_id = ? AND id = ?`,
  closeAllChunks: `UPDATE turns SET open_seq = NULL WHERE conversation_id = ? AND open_seq IS NOT NULL`,
  turnDone:
    `UPDATE turns SET usage = ?, duration_ms = ?, context_size = ? WHERE conversation_id = ? AND id = ?`,
  turns: `SELECT * FROM turns WHERE conversation_id = ? ORDER BY started_at, rowid`,
  runningTurn: `SELECT * FROM turns WHERE conversation_id = ? AND status = 'running'
    ORDER BY started_at DESC, rowid DESC LIMIT 1`,
  allRunningTurns: `SELECT conversation_id, id, started_at, event_seq_base FROM turns WHERE status = 'running'
    ORDER BY started_at, rowid`,

  stepUsage: `SELECT usage FROM steps WHERE conversation_id = ? AND turn_id = ? AND step_id = ?`,
  upsertStepUsage: `INSERT INTO steps (conversation_id, turn_id, step_id, usage) VALUES (?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET usage = excluded.usage`,
  upsertStepTimings: `INSERT INTO steps (conversation_id, turn_id, step_id, ttft_ms, decode_ms, gen_total_ms)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET ttft_ms = excluded.ttft_ms,
    decode_ms = excluded.decode_ms, gen_total_ms = excluded.gen_total_ms`,
  steps: `SELECT * FROM steps WHERE conversation_id = ? ORDER BY rowid`,
  turnSteps: `SELECT * FROM steps WHERE conversation_id = ? AND turn_id = ? ORDER BY rowid`,

  nextChunkSeq: `SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM chunks WHERE conversation_id = ?`,
  insertChunk:
    `INSERT INTO chunks (conversation_id, seq, turn_id, role, kind, chunk) VALUES (?, ?, ?, ?, ?, ?)`,
  appendText: `UPDATE chunks SET chunk = json_set(chunk, '$.text', json_extract(chunk, '$.text') || ?)
    WHERE conversation_id = ? AND seq = ?`,
  history: `SELECT seq, role, chunk FROM chunks WHERE conversation_id = ? AND seq > ? AND seq < ?
    ORDER BY seq DESC LIMIT ?`,
  allChunks: `SELECT seq, role, chunk FROM chunks WHERE conversation_id = ? ORDER BY seq`,
  lastAssistantTextChunk: `SELECT seq, turn_id, chunk FROM chunks
    WHERE conversation_id = ? AND role = 'assistant' AND kind = 'text' ORDER BY seq DESC LIMIT 1`,
  turnAssistantText: `SELECT chunk FROM chunks
    WHERE conversation_id = ? AND turn_id = ? AND role = 'assistant' AND kind = 'text' ORDER BY seq`,
  turnToolChunks: `SELECT seq, role, chunk FROM chunks
    WHERE conversation_id = ? AND turn_id = ? AND kind IN ('tool-call', 'tool-result') ORDER BY seq`,

  nextEventSeq: `SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM events WHERE conversation_id = ?`,
  latestEventSeq: `SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE conversation_id = ?`,
  insertEvent:
    `INSERT INTO events (conversation_id, seq, turn_id, type, at, event) VALUES (?, ?, ?, ?, ?, ?)`,
  eventsSince: `SELECT seq, event FROM events WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
  turnControlEvents: `SELECT event FROM events WHERE conversation_id = ? AND seq > ? AND turn_id = ?
    AND type NOT IN ('text-delta', 'reasoning-delta', 'tool-output') ORDER BY seq`,
  turnLastEventAt: `SELECT MAX(at) AS at FROM events WHERE conversation_id = ? AND seq > ? AND turn_id = ?`,

  ensureWorkspace: `INSERT INTO workspaces (id, title, default_cwd, created_at, last_activity_at)
    VALUES (?1, ?1, NULL, ?2, ?2) ON CONFLICT (id) DO NOTHING`,
  insertWorkspace: `INSERT INTO workspaces (id, title, default_cwd, created_at, last_activity_at)
    VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
  updateWorkspace: `UPDATE workspaces SET title = ?, default_cwd = ? WHERE id = ?`,
  getWorkspace: `${workspaceView()} WHERE w.id = ? GROUP BY w.id`,
  listWorkspaces: `${workspaceView()} GROUP BY w.id ORDER BY last_activity_at DESC, w.created_at DESC, w.id`,
  workspaceConversations: `SELECT id, status FROM conversations WHERE workspace_id = ? ORDER BY id`,
  evacuateWorkspace: `UPDATE conversations SET workspace_id = ?, status = 'closed' WHERE workspace_id = ?`,
  deleteWorkspace: `DELETE FROM workspaces WHERE id = ?`,
} as const;

/** A workspace with its derived activity (its conversations' newest) and conversation count. */
function workspaceView(): string {
  return `SELECT w.id AS id, w.title AS title, w.default_cwd AS default_cwd, w.created_at AS created_at,
      MAX(w.last_activity_at, COALESCE(MAX(c.last_activity_at), 0)) AS last_activity_at,
      COUNT(c.id) AS conversation_count
    FROM workspaces w LEFT JOIN conversations c ON c.workspace_id = w.id`;
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

  /** Expects a migrated database (see `openConversationStore`). */
  constructor(db: SqlDatabase, clock: Clock = systemClock) {
    this.#db = db;
    this.#clock = clock;
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
      this.#db.prepare(SQL.ensureWorkspace).run(workspaceId, now);
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
      if (next.workspaceId !== c.workspaceId) {
        this.#db.prepare(SQL.ensureWorkspace).run(next.workspaceId, this.#clock.now());
      }
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

  beginTurn(conversationId: string, turnId: string, model: string | null): void {
    checkId(turnId, "turn id");
    const m = checkNullableString(model, "model");
    const now = this.#clock.now();
    this.#db.transaction(() => {
      const { changes } = this.#db.prepare(SQL.activate).run(now, conversationId);
      if (Number(changes) === 0) throw notFound(conversationId);
      const inserted = this.#db.prepare(SQL.insertTurn).run(conversationId, turnId, m, now);
      if (Number(inserted.changes) === 0) {
        throw new ConflictError(`turn ${turnId} of conversation ${conversationId} already exists`);
      }
    });
  }

  appendEvent(event: AgentEvent): number {
    const parsed = AgentEventSchema.safeParse(event);
    if (!parsed.success) {
      const why = describeZodError(parsed.error, "event");
      throw new InvalidInputError(`invalid event: ${why}`);
    }
    const now = this.#clock.now();
    return this.#db.transaction(() => this.#append(parsed.data, now));
  }

  endTurn(conversationId: string, turnId: string, status: Exclude<TurnStatus, "running">): void {
    if (!END_STATUSES.includes(status)) {
      throw new InvalidInputError(
        `a turn ends as one of ${END_STATUSES.join(", ")}, not ${JSON.stringify(status)}`,
      );
    }
    const now = this.#clock.now();
    this.#db.transaction(() => {
      const { changes } = this.#db.prepare(SQL.endTurn).run(status, now, conversationId, turnId);
      if (Number(changes) === 0) throw turnNotFound(conversationId, turnId);
      this.#db.prepare(SQL.touch).run(now, conversationId);
      this.#db.prepare(SQL.idleIfNothingRuns).run(conversationId);
    });
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
    return this.#db.transaction(() => {
      const { changes } = this.#db.prepare(SQL.touch).run(now, conversationId);
      if (Number(changes) === 0) throw notFound(conversationId);
      // Whatever was streaming is finished: later deltas start a new chunk after this one.
      this.#db.prepare(SQL.closeAllChunks).run(conversationId);
      return this.#insertChunk(conversationId, turnId ?? null, r.data, c.data);
    });
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

  eventsSince(conversationId: string, afterSeq: number, limit?: number): StoredEvent[] {
    const after = checkCount(afterSeq, "afterSeq");
    const max = limit === undefined ? NO_LIMIT : checkCount(limit, "limit");
    this.#mustExist(conversationId);
    return this.#db.prepare(SQL.eventsSince).all(conversationId, after, max).map((row) => ({
      seq: Number(row.seq),
      event: JSON.parse(String(row.event)) as AgentEvent,
    }));
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
    if (typeof id !== "string" || !WORKSPACE_ID.test(id)) return undefined;
    const row = this.#db.prepare(SQL.getWorkspace).get(id);
    return row ? toWorkspace(row) : undefined;
  }

  listWorkspaces(): Workspace[] {
    return this.#db.prepare(SQL.listWorkspaces).all().map(toWorkspace);
  }

  putWorkspace(id: string, patch: WorkspacePatch = {}): { workspace: Workspace; created: boolean } {
    const wid = checkWorkspace(id);
    const p = checkWorkspacePatch(patch);
    return this.#db.transaction(() => {
      const existing = this.getWorkspace(wid);
      if (existing) return { workspace: this.#updateWorkspace(existing, p), created: false };
      const now = this.#clock.now();
      this.#db.prepare(SQL.insertWorkspace).run(wid, p.title ?? wid, p.defaultCwd ?? null, now, now);
      return { workspace: this.getWorkspace(wid)!, created: true };
    });
  }

  updateWorkspace(id: string, patch: WorkspacePatch): Workspace {
    const wid = checkWorkspace(id);
    const p = checkWorkspacePatch(patch);
    return this.#db.transaction(() => {
      const existing = this.getWorkspace(wid);
      if (!existing) throw workspaceNotFound(wid);
      return this.#updateWorkspace(existing, p);
    });
  }

  deleteWorkspace(id: string): { moved: string[]; closed: string[] } {
    const wid = checkWorkspace(id);
    if (wid === DEFAULT_WORKSPACE) {
      throw new ConflictError(`the "${DEFAULT_WORKSPACE}" workspace cannot be deleted`);
    }
    return this.#db.transaction(() => {
      if (!this.getWorkspace(wid)) throw workspaceNotFound(wid);
      const rows = this.#db.prepare(SQL.workspaceConversations).all(wid);
      this.#db.prepare(SQL.evacuateWorkspace).run(DEFAULT_WORKSPACE, wid);
      this.#db.prepare(SQL.deleteWorkspace).run(wid);
      return {
        moved: rows.map((r) => String(r.id)),
        closed: rows.filter((r) => r.status !== "closed").map((r) => String(r.id)),
      };
    });
  }

  #updateWorkspace(existing: Workspace, patch: WorkspacePatch): Workspace {
    const title = patch.title ?? existing.title;
    const defaultCwd = patch.defaultCwd === undefined ? existing.defaultCwd : patch.defaultCwd;
    this.#db.prepare(SQL.updateWorkspace).run(title, defaultCwd, existing.id);
    return { ...existing, title, defaultCwd };
  }

  // ------------------------------------------------------------ crash repair

  /**
   * Closes every turn a previous run left `running` (see reconcile.ts) in one transaction, and returns what
   * it did. Safe to call again: a second call finds nothing to do.
   */
  reconcileOnLoad(): Repairs {
    return this.#db.transaction(() => {
      const runningTurns: RunningTurnState[] = this.#db.prepare(SQL.allRunningTurns).all().map((row) => {
        const conversationId = String(row.conversation_id);
        const turnId = String(row.id);
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
      });
      const conversations = this.#db.prepare(SQL.activeConversations).all().map((row) => ({
        id: String(row.id),
        status: String(row.status) as ConversationStatus,
      }));
      const repairs = reconcile({ conversations, runningTurns });
      for (const turn of repairs.turns) {
        for (const event of turn.events) this.#append(event, turn.endedAt);
        this.#db.prepare(SQL.endTurn).run(turn.status, turn.endedAt, turn.conversationId, turn.turnId);
      }
      for (const id of repairs.idle) this.#db.prepare(SQL.idleIfNothingRuns).run(id);
      return repairs;
    });
  }

  // ------------------------------------------------------------ internals

  /** Logs one (validated) event and folds it into history and metrics. Runs inside a transaction. */
  #append(event: AgentEvent, at: number): number {
    const db = this.#db;
    const cid = event.conversationId;
    const turnId = event.type === "status" ? null : event.turnId;
    // One read for events of a turn (the hot path: every delta); status events only need the activity.
    const activity = turnId === null
      ? db.prepare(SQL.activityOf).get(cid)
      : db.prepare(SQL.turnForEvent).get(cid, turnId);
    if (!activity) throw notFound(cid);
    const last = Number(activity.last_activity_at);
    const streamed = event.type === "text-delta" || event.type === "reasoning-delta" ||
      event.type === "tool-output";
    if (at > last && (!streamed || at - last >= STREAMING_ACTIVITY_RESOLUTION_MS)) {
      db.prepare(SQL.setActivity).run(at, cid);
    }

    let turn: { openSeq: number | null; openKind: string | null } | undefined;
    if (turnId !== null) {
      if (activity.turn_id === null) throw turnNotFound(cid, turnId);
      turn = {
        openSeq: activity.open_seq === null ? null : Number(activity.open_seq),
        openKind: activity.open_kind === null ? null : String(activity.open_kind),
      };
    }

    const seq = Number(db.prepare(SQL.nextEventSeq).get(cid)!.seq);
    db.prepare(SQL.insertEvent).run(cid, seq, turnId, event.type, at, JSON.stringify(event));
    if (!turn || turnId === null) return seq;

    switch (event.type) {
      case "text-delta":
      case "reasoning-delta": {
        // Streamed text goes into one chunk per run of same-kind deltas, written through on every delta.
        if (event.delta === "") return seq;
        const kind = event.type === "text-delta" ? "text" : "thinking";
        if (turn.openSeq !== null && turn.openKind === kind) {
          db.prepare(SQL.appendText).run(event.delta, cid, turn.openSeq);
        } else {
          const chunk = this.#insertChunk(cid, turnId, "assistant", { type: kind, text: event.delta });
          db.prepare(SQL.openChunk).run(chunk.seq, cid, turnId);
        }
        return seq;
      }
      // Metadata that may arrive mid-stream without splitting the model's output.
      case "usage":
        if (event.stepId) this.#addStepUsage(cid, turnId, event.stepId, event.usage);
        return seq;
      case "tool-output":
        return seq;
    }

    // Anything else ends the run of deltas. turn-start, provider-retry and turn-sealed are only logged.
    if (turn.openSeq !== null) db.prepare(SQL.closeChunk).run(cid, turnId);
    switch (event.type) {
      case "user-message":
      case "steering":
        this.#insertChunk(cid, turnId, "user", { type: "text", text: event.text });
        break;
      case "tool-call":
        this.#insertChunk(cid, turnId, "assistant", {
          type: "tool-call",
          toolCallId: event.toolCallId,
          toolName: event.toolName,
          input: event.input,
          ...(event.stepId ? { stepId: event.stepId } : {}),
        });
        break;
      case "tool-result":
        this.#insertChunk(cid, turnId, "tool", {
          type: "tool-result",
          toolCallId: event.toolCallId,
          toolName: event.toolName,
          content: event.content,
          isError: event.isError,
          ...(event.stepId ? { stepId: event.stepId } : {}),
        });
        break;
      case "error":
        this.#insertChunk(cid, turnId, "assistant", {
          type: "error",
          message: event.message,
          ...(event.code !== undefined ? { code: event.code } : {}),
        });
        break;
      case "step-complete":
        db.prepare(SQL.upsertStepTimings).run(
          cid,
          turnId,
          event.stepId,
          event.ttftMs ?? null,
          event.decodeMs ?? null,
          event.genTotalMs ?? null,
        );
        break;
      case "done":
        db.prepare(SQL.turnDone).run(
          event.usage ? JSON.stringify(event.usage) : null,
          event.durationMs ?? null,
          event.contextSize ?? null,
          cid,
          turnId,
        );
        break;
    }
    return seq;
  }

  #insertChunk(cid: string, turnId: string | null, role: ChunkRole, chunk: Chunk): StoredChunk {
    const seq = Number(this.#db.prepare(SQL.nextChunkSeq).get(cid)!.seq);
    this.#db.prepare(SQL.insertChunk).run(cid, seq, turnId, role, chunk.type, JSON.stringify(chunk));
    return { seq, role, chunk };
  }

  #addStepUsage(cid: string, turnId: string, stepId: string, usage: Usage): void {
    const row = this.#db.prepare(SQL.stepUsage).get(cid, turnId, stepId);
    const before = row?.usage ? JSON.parse(String(row.usage)) as Usage : undefined;
    const total = before ? addUsage(before, usage) : usage;
    this.#db.prepare(SQL.upsertStepUsage).run(cid, turnId, stepId, JSON.stringify(total));
  }

  #mustGet(id: string): Conversation {
    const c = this.get(id);
    if (!c) throw notFound(id);
    return c;
  }

  #mustExist(id: string): void {
    if (typeof id !== "string" || !this.#db.prepare(SQL.getConversation).get(id)) throw notFound(id);
  }
}

// ---------------------------------------------------------------- rows

function toConversation(row: Row): Conversation {
  return {
    id: String(row.id),
    title: String(row.title),
    status: String(row.status) as ConversationStatus,
    createdAt: Number(row.created_at),
    lastActivityAt: Number(row.last_activity_at),
    workspaceId: String(row.workspace_id),
    cwd: row.cwd === null ? null : String(row.cwd),
    model: row.model === null ? null : String(row.model),
    reasoningEffort: row.reasoning_effort === null ? null : String(row.reasoning_effort),
    settings: parseObject(row.settings),
  };
}

function toWorkspace(row: Row): Workspace {
  return {
    id: String(row.id),
    title: String(row.title),
    defaultCwd: row.default_cwd === null ? null : String(row.default_cwd),
    createdAt: Number(row.created_at),
    lastActivityAt: Number(row.last_activity_at),
    conversationCount: Number(row.conversation_count),
  };
}

function toStoredChunk(row: Row): StoredChunk {
  return {
    seq: Number(row.seq),
    role: String(row.role) as ChunkRole,
    chunk: JSON.parse(String(row.chunk)) as Chunk,
  };
}

function toTurn(row: Row, steps: TurnRecord["steps"]): TurnRecord {
  return {
    turnId: String(row.id),
    conversationId: String(row.conversation_id),
    status: String(row.status) as TurnStatus,
    model: row.model === null ? null : String(row.model),
    startedAt: Number(row.started_at),
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
    usage: row.usage === null ? null : JSON.parse(String(row.usage)) as Usage,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    contextSize: row.context_size === null ? null : Number(row.context_size),
    steps,
  };
}

function toStep(row: Row): TurnRecord["steps"][number] {
  return {
    stepId: String(row.step_id),
    usage: row.usage === null ? null : JSON.parse(String(row.usage)) as Usage,
    ...(row.ttft_ms !== null ? { ttftMs: Number(row.ttft_ms) } : {}),
    ...(row.decode_ms !== null ? { decodeMs: Number(row.decode_ms) } : {}),
    ...(row.gen_total_ms !== null ? { genTotalMs: Number(row.gen_total_ms) } : {}),
  };
}

function chunkText(json: SqlValue | undefined): string {
  const chunk = JSON.parse(String(json)) as Chunk;
  return "text" in chunk ? chunk.text : "";
}

function parseObject(json: SqlValue): Record<string, unknown> {
  try {
    const value = JSON.parse(String(json));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------- validation

const notFound = (id: string) => new NotFoundError(`conversation ${JSON.stringify(id)} does not exist`);
const workspaceNotFound = (id: string) => new NotFoundError(`workspace ${JSON.stringify(id)} does not exist`);
const turnNotFound = (cid: string, turnId: string) =>
  new NotFoundError(
    `turn ${JSON.stringify(turnId)} of conversation ${
      JSON.stringify(cid)
    } does not exist (call beginTurn first)`,
  );

function checkId(id: unknown, what: string): string {
  // deno-lint-ignore no-control-regex
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH || /[\x00-\x1f\x7f]/.test(id)) {
    throw new InvalidInputError(`${what} must be 1 to ${MAX_ID_LENGTH} printable characters`);
  }
  return id;
}

function checkTitle(title: unknown): string {
  if (typeof title !== "string" || title.length > MAX_TITLE_LENGTH) {
    throw new InvalidInputError(`title must be a string of at most ${MAX_TITLE_LENGTH} characters`);
  }
  return title;
}

function checkWorkspace(id: unknown): string {
  if (typeof id !== "string" || !WORKSPACE_ID.test(id)) {
    throw new InvalidInputError(
      `workspace id ${JSON.stringify(id)} is not a slug (lower-case letters, digits and inner dashes, 1-40)`,
    );
  }
  return id;
}

function checkWorkspacePatch(patch: unknown): WorkspacePatch {
  if (typeof patch !== "object" || patch === null) throw new InvalidInputError("patch must be an object");
  const { title, defaultCwd, ...rest } = patch as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) throw new InvalidInputError(`cannot update workspace field "${unknown[0]}"`);
  if (
    title !== undefined &&
    (typeof title !== "string" || title.trim() === "" || title.length > MAX_WORKSPACE_TITLE_LENGTH)
  ) {
    throw new InvalidInputError(
      `workspace title must be a non-empty string of at most ${MAX_WORKSPACE_TITLE_LENGTH} characters`,
    );
  }
  if (defaultCwd !== undefined) {
    checkNullableString(defaultCwd, "defaultCwd");
    if (typeof defaultCwd === "string" && (defaultCwd === "" || defaultCwd.length > MAX_PATH_LENGTH)) {
      throw new InvalidInputError(`defaultCwd must be 1 to ${MAX_PATH_LENGTH} characters, or null`);
    }
  }
  return {
    ...(title !== undefined ? { title: title as string } : {}),
    ...(defaultCwd !== undefined ? { defaultCwd: defaultCwd as string | null } : {}),
  };
}

function checkStatus(status: unknown): ConversationStatus {
  if (!STATUSES.includes(status as ConversationStatus)) {
    throw new InvalidInputError(
      `status must be one of ${STATUSES.join(", ")}, not ${JSON.stringify(status)}`,
    );
  }
  return status as ConversationStatus;
}

function checkNullableString(value: unknown, what: string): string | null {
  if (value !== null && typeof value !== "string") {
    throw new InvalidInputError(`${what} must be a string or null`);
  }
  return value;
}

function checkCount(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`${what} must be a non-negative integer, not ${JSON.stringify(value)}`);
  }
  return value;
}

function checkTime(value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new InvalidInputError(`lastActivityAt must be a non-negative number of milliseconds`);
  }
  return value;
}
