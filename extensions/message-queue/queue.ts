// The queue: rows in its own database, drained by the orchestrator between a turn's steps (steering).
//
// Delivery rules:
// - a turn runs: the message waits for the turn's next step boundary (or its end: the turn loop polls once more
//   after the model's last step), and is delivered into that turn as a `steering` user message;
// - no turn runs: the oldest queued message starts a turn; the rest join it before its first model call;
// - a message that missed the last poll of a turn that ended normally starts the next turn when it ends;
// - after a stop, a failed turn, or a restart, queued messages wait (shown on the surface, cancellable): the
//   turn they were meant for is gone, and a daemon must not start turns on its own at boot (a crash loop would
//   spend tokens each time). They go out with the conversation's next turn, which any new message starts.
import {
  type Clock,
  conflict,
  DispatchError,
  errorMessage,
  type Logger,
  notFound,
  type SqlDatabase,
} from "../../src/kernel/mod.ts";
import type { SurfaceField } from "../../src/contract/ui.ts";
import type { ConversationStore } from "../conversation-store/api.ts";
import type { Orchestrator, TurnHandle } from "../session-orchestrator/api.ts";
import type { CancelResult, EnqueueResult, MessageQueue, QueuedMessage } from "./api.ts";

export const MAX_QUEUED_PER_CONVERSATION = 100;
export const SURFACE_ID = "message-queue";
export const RENDERER_ID = "message-queue";
export const CANCEL_ACTION = "message-queue/cancel";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS queued_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  conversation_id TEXT NOT NULL,
  text TEXT NOT NULL,
  queued_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queued_messages_by_conversation ON queued_messages (conversation_id, seq);
`;

const SQL = {
  insert: `INSERT INTO queued_messages (id, conversation_id, text, queued_at) VALUES (?, ?, ?, ?)`,
  reinsert: `INSERT INTO queued_messages (seq, id, conversation_id, text, queued_at) VALUES (?, ?, ?, ?, ?)`,
  list: `SELECT seq, id, text, queued_at FROM queued_messages WHERE conversation_id = ? ORDER BY seq`,
  count: `SELECT COUNT(*) AS n FROM queued_messages WHERE conversation_id = ?`,
  remove: `DELETE FROM queued_messages WHERE conversation_id = ? AND id = ?`,
  conversations: `SELECT DISTINCT conversation_id FROM queued_messages`,
};

interface Row extends QueuedMessage {
  seq: number;
}

export interface QueueDeps {
  db: SqlDatabase;
  store: ConversationStore;
  orchestrator: Orchestrator;
  clock: Clock;
  log: Logger;
  /** Called whenever a conversation's queue changed (the surface pushes it). */
  changed?: (conversationId: string) => void;
  newId?: () => string;
}

export class QueueService implements MessageQueue {
  #locks = new Map<string, Promise<unknown>>();
  #watched = new WeakSet<TurnHandle>();

  constructor(private readonly deps: QueueDeps) {
    deps.db.exec(SCHEMA);
  }

  list(conversationId: string): QueuedMessage[] {
    return this.#rows(conversationId).map(({ id, text, queuedAt }) => ({ id, text, queuedAt }));
  }

  /** Conversations with something queued (after a restart: what waits). */
  conversations(): string[] {
    return this.deps.db.prepare(SQL.conversations).all().map((r) => String(r.conversation_id));
  }

  enqueue(conversationId: string, text: string): Promise<EnqueueResult> {
    this.#known(conversationId);
    return this.#serial(conversationId, async () => {
      const count = Number(this.deps.db.prepare(SQL.count).get(conversationId)?.n ?? 0);
      if (count >= MAX_QUEUED_PER_CONVERSATION) {
        throw conflict(
          "queue_full",
          `conversation ${conversationId} already has ${count} queued messages; wait or cancel some`,
        );
      }
      const id = (this.deps.newId ?? (() => crypto.randomUUID()))();
      this.deps.db.prepare(SQL.insert).run(id, conversationId, text, this.deps.clock.now());
      const running = this.deps.orchestrator.running(conversationId);
      if (running) {
        this.#watch(running);
        this.#changed(conversationId);
        return { conversationId, startedTurn: false, queue: this.list(conversationId) };
      }
      try {
        const turn = await this.#start(conversationId);
        this.#changed(conversationId);
        return {
          conversationId,
          startedTurn: turn !== undefined,
          queue: this.list(conversationId),
          ...(turn ? { turn } : {}),
        };
      } catch (error) {
        // The daemon is shutting down: the message waits in the queue for the next start.
        if (error instanceof DispatchError && error.code === "shutting_down") {
          this.#changed(conversationId);
          return { conversationId, startedTurn: false, queue: this.list(conversationId) };
        }
        // Refused (no model, bad cwd...): the caller hears why, and the message does not linger.
        this.deps.db.prepare(SQL.remove).run(conversationId, id);
        this.#changed(conversationId);
        throw error;
      }
    });
  }

  cancel(conversationId: string, messageId: string): CancelResult {
    this.#known(conversationId);
    const { changes } = this.deps.db.prepare(SQL.remove).run(conversationId, messageId);
    const cancelled = Number(changes) > 0;
    if (cancelled) this.#changed(conversationId);
    return { conversationId, cancelled, queue: this.list(conversationId) };
  }

  /** The steering source: everything queued for the conversation, oldest first, removed from the queue. */
  drain(conversationId: string): string[] {
    const rows = this.#rows(conversationId);
    if (rows.length === 0) return [];
    this.deps.db.transaction(() => {
      for (const row of rows) this.deps.db.prepare(SQL.remove).run(conversationId, row.id);
    });
    this.#changed(conversationId);
    return rows.map((r) => r.text);
  }

  /** The surface's fields for a conversation: the queue and the action that drops an item. */
  fields(conversationId: string | undefined): SurfaceField[] {
    const messages = conversationId === undefined ? [] : this.list(conversationId);
    return [{
      kind: "custom",
      rendererId: RENDERER_ID,
      payload: { messages, cancelAction: { actionId: CANCEL_ACTION } },
    }];
  }

  // ---------------------------------------------------------------- internals

  /** Starts a turn with the oldest queued message (the rest are drained into it before its first step). */
  async #start(conversationId: string): Promise<TurnHandle | undefined> {
    const first = this.#rows(conversationId)[0];
    if (!first) return undefined;
    // Out of the queue before the turn's first poll, so it is not delivered twice.
    this.deps.db.prepare(SQL.remove).run(conversationId, first.id);
    try {
      const turn = await this.deps.orchestrator.submit({ conversationId, message: first.text });
      this.#watch(turn);
      return turn;
    } catch (error) {
      this.deps.db.prepare(SQL.reinsert).run(first.seq, first.id, conversationId, first.text, first.queuedAt);
      const running = this.deps.orchestrator.running(conversationId);
      if (error instanceof DispatchError && error.code === "turn_running" && running) {
        // Someone else started a turn meanwhile: it drains the queue between its steps.
        this.#watch(running);
        return undefined;
      }
      throw error;
    }
  }

  /** When a turn ends normally with messages that missed its last poll, they start the next turn. */
  #watch(turn: TurnHandle): void {
    if (this.#watched.has(turn)) return;
    this.#watched.add(turn);
    turn.settled.then((outcome) => {
      const { conversationId } = turn;
      if (outcome?.reason !== "stop" || this.#rows(conversationId).length === 0) return;
      if (this.deps.orchestrator.running(conversationId)) return; // its own steps drain the queue
      return this.#serial(conversationId, async () => {
        if (this.deps.orchestrator.running(conversationId)) return;
        await this.#start(conversationId);
        this.#changed(conversationId);
      });
    }).catch((error) => {
      this.deps.log.warn("queued messages could not start a turn; they wait", {
        conversationId: turn.conversationId,
        error: errorMessage(error),
      });
    });
  }

  #rows(conversationId: string): Row[] {
    return this.deps.db.prepare(SQL.list).all(conversationId).map((r) => ({
      seq: Number(r.seq),
      id: String(r.id),
      text: String(r.text),
      queuedAt: Number(r.queued_at),
    }));
  }

  #known(conversationId: string): void {
    if (!this.deps.store.get(conversationId)) {
      throw notFound("unknown_conversation", `no conversation ${conversationId}`);
    }
  }

  #changed(conversationId: string): void {
    try {
      this.deps.changed?.(conversationId);
    } catch (error) {
      this.deps.log.warn("queue change listener failed", { conversationId, error: errorMessage(error) });
    }
  }

  /** One enqueue (or restart) at a time per conversation: two idle-time messages must not race to submit. */
  #serial<T>(conversationId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(conversationId) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(fn);
    this.#locks.set(conversationId, next);
    const cleanup = () => {
      if (this.#locks.get(conversationId) === next) this.#locks.delete(conversationId);
    };
    next.then(cleanup, cleanup);
    return next;
  }
}
