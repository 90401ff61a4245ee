// One conversation's way out: stored events by sequence number, then the live tail. Every consumer (the
// `POST /chat` stream, the re-attach route, WebSocket followers) reads a cursor from here. A cursor replays
// from the store in pages, joins the live tail in the same tick as its last read (so there is no gap and no
// duplicate), and falls back to reading the store when it lags too far behind (bounded memory per cursor).
import type { EventCursor, FollowOptions, StoredEvent } from "./api.ts";

/** Stored events read per page during a replay. */
const REPLAY_PAGE = 500;
/** Live events a cursor holds for a slow reader before it goes back to reading the store. */
const MAX_LIVE_BUFFER = 5000;

export type ReadSince = (conversationId: string, afterEventSeq: number, limit: number) => StoredEvent[];

export class Feed {
  /** Every open cursor per conversation; the live ones get each committed event pushed. */
  #cursors = new Map<string, Set<Cursor>>();
  #listeners = new Set<(e: StoredEvent) => void>();

  constructor(private readonly readSince: ReadSince) {}

  follow(conversationId: string, afterEventSeq: number, opts: FollowOptions = {}): EventCursor {
    const cursor = new Cursor(this, conversationId, afterEventSeq, opts);
    let set = this.#cursors.get(conversationId);
    if (!set) this.#cursors.set(conversationId, set = new Set());
    set.add(cursor);
    return cursor;
  }

  /** Every committed event of every conversation, synchronously after its commit. */
  onCommit(listener: (e: StoredEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Called by the writer after each commit, with the events it committed, in order. */
  publish(events: StoredEvent[]): void {
    for (const e of events) {
      const set = this.#cursors.get(e.event.conversationId);
      if (set) { for (const c of set) c.push(e); }
      for (const l of this.#listeners) {
        try {
          l(e);
        } catch { /* a listener's bug is not the feed's: it keeps delivering */ }
      }
    }
  }

  /** The conversation's events could not be stored: every cursor on it ends with this error. */
  fail(conversationId: string, error: Error): void {
    for (const c of [...this.#cursors.get(conversationId) ?? []]) c.fail(error);
  }

  /** @internal */
  read(conversationId: string, after: number): StoredEvent[] {
    return this.readSince(conversationId, after, REPLAY_PAGE);
  }

  /** @internal */
  forget(cursor: Cursor): void {
    const set = this.#cursors.get(cursor.conversationId);
    set?.delete(cursor);
    if (set?.size === 0) this.#cursors.delete(cursor.conversationId);
  }
}

class Cursor implements EventCursor {
  #buffer: StoredEvent[] = [];
  #live = false;
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(
    private readonly feed: Feed,
    readonly conversationId: string,
    /** The last event seq handed out (or buffered): nothing at or before it comes again. */
    private position: number,
    private readonly opts: FollowOptions,
  ) {}

  get live(): boolean {
    return this.#live;
  }

  async next(): Promise<StoredEvent[] | undefined> {
    while (true) {
      if (this.#buffer.length > 0) {
        const batch = this.#buffer;
        this.#buffer = [];
        return this.#cut(batch);
      }
      if (this.#ended) return undefined;
      if (this.#failure) {
        const failure = this.#failure;
        this.close();
        throw failure;
      }
      if (!this.#live) {
        const page = this.feed.read(this.conversationId, this.position);
        if (page.length > 0) {
          this.position = page[page.length - 1].eventSeq;
          this.#buffer = page;
          continue;
        }
        if (this.opts.untilCaughtUp) {
          this.close();
          return undefined;
        }
        this.#live = true; // caught up: the live tail from here, in the same tick as the read
        continue;
      }
      await new Promise<void>((resolve) => this.#wake = resolve);
      this.#wake = undefined;
    }
  }

  /** A committed event (the feed calls this for every cursor of the conversation). */
  push(e: StoredEvent): void {
    if (!this.#live || this.#ended || e.eventSeq <= this.position) return;
    if (this.#buffer.length >= MAX_LIVE_BUFFER) {
      this.#live = false; // too far behind: drain the buffer, then read the rest from the store
      return;
    }
    this.#buffer.push(e);
    this.position = e.eventSeq;
    this.#wakeUp();
  }

  fail(error: Error): void {
    if (this.#ended) return;
    this.#failure = error;
    this.#wakeUp();
  }

  close(): void {
    this.#ended = true;
    this.feed.forget(this);
    this.#wakeUp();
  }

  /** Ends the follow after the first event `until` accepts. */
  #cut(batch: StoredEvent[]): StoredEvent[] {
    const until = this.opts.until;
    if (!until) return batch;
    const i = batch.findIndex(until);
    if (i < 0) return batch;
    this.close();
    this.#buffer = [];
    return i === batch.length - 1 ? batch : batch.slice(0, i + 1);
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
