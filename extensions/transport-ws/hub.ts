// Every connected socket: what each follows (surfaces, conversations), what it is sent, and when it is cut off.
//
// - Frames are validated (src/contract/ui.ts); a bad one gets an `error` (or `chat.error`) frame, never a closed
//   connection or a crashed daemon.
// - Sends never wait: `WebSocket.send` queues. A client whose queue (`bufferedAmount`) passes the limit is cut off,
//   so a slow or dead client costs bounded memory and holds back no one (not the turn, not other clients).
// - Chat events come from the conversation's one feed (the store's cursor: stored events by event seq, then the
//   live tail), as for `POST /chat`; each follow reads its own cursor at the pace its client reads, so there is
//   no gap and no duplicate, and a slow client holds back no one.
import {
  describeZodError,
  DispatchError,
  errorMessage,
  type Events,
  type Logger,
} from "../../src/kernel/mod.ts";
import {
  type ClientMessageOf,
  ClientMessageSchemas,
  type ClientMessageType,
  LEGACY_EVENT_TYPES,
  type ServerMessage,
  type SurfaceSpec,
  type SurfaceUpdate,
} from "../../src/contract/ui.ts";
import type { ConversationStore, EventCursor, StoredEvent } from "../conversation-store/api.ts";
import {
  ConversationCompacted,
  ConversationOpen,
  ConversationStatusChanged,
  type Orchestrator,
} from "../session-orchestrator/api.ts";
import { SurfaceCatalogChanged, type SurfaceRegistry, SurfaceUpdated } from "../surface-registry/api.ts";
import type { MessageQueue } from "../message-queue/api.ts";

export interface HubOptions {
  heartbeatMs: number;
  /** A client with more than this many bytes waiting to be sent is disconnected. */
  maxBufferedBytes: number;
  /** Longest accepted frame, in UTF-16 code units. */
  maxFrameChars: number;
  /** Most events one `chat.subscribe` replays; further behind, the client reloads history instead. */
  maxReplayEvents: number;
  /** How long a follow waits for a client to read its send buffer down before disconnecting it (1013). */
  slowClientMs?: number;
}

export interface HubDeps {
  registry: SurfaceRegistry;
  orchestrator: Orchestrator;
  store: ConversationStore;
  events: Events;
  log: Logger;
  /** The message queue, when its extension is loaded (looked up when used: it may activate later). */
  queue: () => MessageQueue | undefined;
  options: HubOptions;
}

interface SurfaceSub {
  surfaceId: string;
  /** The conversation id the client gave, echoed on every update (also for global surfaces). */
  conversationId?: string;
  /** Until the first `surface` reply is sent, updates are held here (the newest wins). */
  pending: boolean;
  held?: SurfaceSpec;
}

interface Follow {
  client: Client;
  conversationId: string;
  allEvents: boolean;
  /** The last event seq given (or skipped by the filter): nothing at or before it is sent again. */
  lastSeq: number;
  /** The turn of the last event given, for the error frame when its events could not be stored. */
  turnId?: string;
  cursor: EventCursor;
}

/** How long a follow waits for a client to read before giving up on it (unless the options say). */
const SLOW_CLIENT_MS = 30_000;

class Client {
  open = true;
  readonly surfaces = new Map<string, SurfaceSub>();
  readonly follows = new Map<string, Follow>();
  /**
   * The conversation this socket last sent to, queued to or chat-subscribed to: per-conversation surface
   * messages that name none address it (the reference frontend's `subscribe` and `invoke` carry no id).
   */
  focus: string | undefined;
  /** Per-conversation surfaces subscribed without a conversation id → the key they are held under now. */
  readonly focusSubs = new Map<string, string>();
  /** Resolves when the socket's close event came (its close frame went out, or the connection is gone). */
  readonly closed = Promise.withResolvers<void>();
  constructor(readonly id: number, readonly socket: WebSocket) {}
}

/** Client-caused problems: answered with an error frame with this code. */
class FrameError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const subKey = (surfaceId: string, conversationId: string | undefined) =>
  `${surfaceId}\u0000${conversationId ?? ""}`;
/** A client's id-like string, echoed on an error only when it is a plausible id. */
const short = (v: unknown): string | undefined => (typeof v === "string" && v.length <= 200 ? v : undefined);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export class Hub {
  #clients = new Set<Client>();
  #surfaceSubs = new Map<string, Set<Client>>();
  #offs: (() => void)[] = [];
  /** Runs only while some client is connected. */
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #nextId = 1;

  constructor(private readonly deps: HubDeps) {
    const { events } = deps;
    this.#offs.push(
      events.on(SurfaceUpdated, (u) => this.#onSurfaceUpdate(u)),
      events.on(SurfaceCatalogChanged, ({ catalog }) => this.#broadcast({ type: "catalog", catalog })),
      events.on(
        ConversationOpen,
        ({ conversationId, workspaceId }) =>
          this.#broadcast({ type: "conversation.open", conversationId, workspaceId }),
      ),
      events.on(
        ConversationStatusChanged,
        ({ conversationId, status, workspaceId }) =>
          this.#broadcast({ type: "conversation.statusChanged", conversationId, status, workspaceId }),
      ),
      events.on(ConversationCompacted, (c) =>
        this.#broadcast({
          type: "conversation.compacted",
          conversationId: c.conversationId,
          newConversationId: c.newConversationId,
          messagesSummarized: c.messagesSummarized,
          messagesKept: c.messagesKept,
        })),
    );
  }

  /** Takes over an upgraded socket: the catalog on open, then frames until it closes. */
  accept(socket: WebSocket): void {
    const client = new Client(this.#nextId++, socket);
    socket.onopen = () => {
      if (!client.open) return;
      this.#clients.add(client);
      this.#heartbeat ??= setInterval(
        () => this.#broadcast({ type: "heartbeat", time: Date.now() }),
        this.deps.options.heartbeatMs,
      );
      this.deps.log.debug("socket open", { client: client.id });
      this.#send(client, { type: "catalog", catalog: this.deps.registry.catalog() });
    };
    socket.onmessage = (e: MessageEvent) => {
      this.#onFrame(client, e.data).catch((error) =>
        this.deps.log.error("frame handling failed", { client: client.id, error: errorMessage(error) })
      );
    };
    socket.onclose = () => {
      this.#forget(client);
      client.closed.resolve();
    };
    socket.onerror = () => {}; // a close event follows
  }

  /**
   * Closes every socket with 1001 going away (shutdown); resolves once each close went through, or after
   * `waitMs` (a client that stopped reading never answers its close).
   */
  async close(waitMs = 1000): Promise<void> {
    clearInterval(this.#heartbeat);
    for (const off of this.#offs) off();
    const clients = [...this.#clients];
    for (const client of clients) this.#disconnect(client, 1001, "server shutting down");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(clients.map((c) => c.closed.promise)),
      new Promise((resolve) => timer = setTimeout(resolve, waitMs)),
    ]);
    clearTimeout(timer);
  }

  // ---------------------------------------------------------------- frames in

  async #onFrame(client: Client, data: unknown): Promise<void> {
    if (!client.open) return;
    let type: string | undefined;
    let requestId: string | undefined;
    let raw: unknown;
    try {
      if (typeof data !== "string") {
        throw new FrameError("bad_frame", "binary frames are not supported: send JSON text");
      }
      if (data.length > this.deps.options.maxFrameChars) {
        throw new FrameError(
          "frame_too_large",
          `frame is over ${this.deps.options.maxFrameChars} characters`,
        );
      }
      try {
        raw = JSON.parse(data);
      } catch (error) {
        throw new FrameError("bad_json", `frame is not valid JSON (${errorMessage(error)})`);
      }
      if (!isObject(raw) || typeof raw.type !== "string") {
        throw new FrameError("bad_frame", 'a frame is a JSON object with a string "type"');
      }
      type = raw.type;
      requestId = short(raw.requestId);
      if (!Object.hasOwn(ClientMessageSchemas, type)) {
        throw new FrameError(
          "unknown_type",
          `unknown message type ${JSON.stringify(type).slice(0, 80)}; expected one of ${
            Object.keys(ClientMessageSchemas).join(", ")
          }`,
        );
      }
      const schema = ClientMessageSchemas[type as ClientMessageType];
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        throw new FrameError("invalid_message", `${type}: ${describeZodError(parsed.error)}`);
      }
      await this.#handle(client, parsed.data as ClientMessageOf<ClientMessageType>);
    } catch (error) {
      this.#reportError(client, error, type, raw, requestId);
    }
  }

  #handle(client: Client, msg: ClientMessageOf<ClientMessageType>): Promise<void> | void {
    switch (msg.type) {
      case "subscribe":
        if (msg.conversationId === undefined && this.#perConversation(msg.surfaceId)) {
          return this.#subscribeFocused(client, msg.surfaceId);
        }
        return this.#subscribe(client, msg.surfaceId, msg.conversationId);
      case "unsubscribe":
        if (msg.conversationId === undefined && this.#perConversation(msg.surfaceId)) {
          const key = client.focusSubs.get(msg.surfaceId);
          client.focusSubs.delete(msg.surfaceId);
          if (key !== undefined) this.#removeSub(client, key);
          return;
        }
        return this.#unsubscribe(client, msg.surfaceId, msg.conversationId);
      case "invoke":
        return this.#invoke(client, msg);
      case "chat.send":
        return this.#chatSend(client, msg);
      case "chat.subscribe":
        return this.#chatSubscribe(client, msg);
      case "chat.unsubscribe":
        return this.#unfollow(client, msg.conversationId);
      case "chat.queue":
        return this.#chatQueue(client, msg);
      case "chat.queue.cancel":
        return this.#chatQueueCancel(client, msg);
    }
  }

  #reportError(
    client: Client,
    error: unknown,
    type: string | undefined,
    raw: unknown,
    requestId?: string,
  ): void {
    const ids = isObject(raw) ? raw : {};
    let code: string;
    let message: string;
    if (error instanceof FrameError || error instanceof DispatchError) {
      code = error.code;
      message = error.message;
    } else if (type === "invoke") {
      // A contributor's handler refused or failed (possibly across the sandbox bridge): its words, as they are.
      code = "action_failed";
      message = errorMessage(error);
    } else {
      this.deps.log.error("socket request failed", { client: client.id, type, error: errorMessage(error) });
      code = "internal";
      message = "internal error; see the daemon's log";
    }
    const echo = requestId ? { requestId } : {};
    if (type?.startsWith("chat.")) {
      const conversationId = short(ids.conversationId);
      this.#send(client, {
        type: "chat.error",
        ...(conversationId ? { conversationId } : {}),
        message,
        code,
        ...echo,
      });
    } else {
      const surfaceId = short(ids.surfaceId);
      this.#send(client, { type: "error", ...(surfaceId ? { surfaceId } : {}), message, code, ...echo });
    }
  }

  // ---------------------------------------------------------------- surfaces

  #perConversation(surfaceId: string): boolean {
    return this.deps.registry.catalog().find((e) => e.id === surfaceId)?.scope === "conversation";
  }

  /** A per-conversation surface without an id: it shows the focused conversation, and follows the focus. */
  async #subscribeFocused(client: Client, surfaceId: string): Promise<void> {
    const before = client.focusSubs.get(surfaceId);
    const key = this.#keyFor(surfaceId, client.focus);
    if (before !== undefined && before !== key) this.#removeSub(client, before);
    client.focusSubs.set(surfaceId, key);
    await this.#subscribe(client, surfaceId, client.focus);
  }

  /** The socket's focus moves: surfaces it holds by focus are re-subscribed for the new conversation. */
  #setFocus(client: Client, conversationId: string): void {
    if (client.focus === conversationId) return;
    client.focus = conversationId;
    for (const surfaceId of [...client.focusSubs.keys()]) {
      this.#subscribeFocused(client, surfaceId).catch((error) =>
        this.#reportError(client, error, "subscribe", { surfaceId })
      );
    }
  }

  #keyFor(surfaceId: string, conversationId: string | undefined): string {
    const scope = this.deps.registry.catalog().find((e) => e.id === surfaceId)?.scope ?? "global";
    return subKey(surfaceId, scope === "conversation" ? conversationId : undefined);
  }

  async #subscribe(client: Client, surfaceId: string, conversationId: string | undefined): Promise<void> {
    const key = this.#keyFor(surfaceId, conversationId);
    const sub: SurfaceSub = { surfaceId, conversationId, pending: true };
    this.#removeSub(client, key);
    client.surfaces.set(key, sub);
    this.#index(this.#surfaceSubs, key).add(client);
    let spec: SurfaceSpec;
    try {
      spec = await this.deps.registry.spec(surfaceId, conversationId);
    } catch (error) {
      if (client.surfaces.get(key) === sub) this.#removeSub(client, key);
      throw error;
    }
    if (client.surfaces.get(key) !== sub) return; // unsubscribed (or subscribed again) meanwhile
    sub.pending = false;
    this.#send(client, {
      type: "surface",
      spec: sub.held ?? spec,
      ...(conversationId ? { conversationId } : {}),
    });
    sub.held = undefined;
  }

  #unsubscribe(client: Client, surfaceId: string, conversationId: string | undefined): void {
    this.#removeSub(client, this.#keyFor(surfaceId, conversationId));
    this.#removeSub(client, subKey(surfaceId, conversationId)); // the surface may be gone from the catalog
  }

  #removeSub(client: Client, key: string): void {
    if (!client.surfaces.delete(key)) return;
    const set = this.#surfaceSubs.get(key);
    set?.delete(client);
    if (set?.size === 0) this.#surfaceSubs.delete(key);
  }

  #onSurfaceUpdate(update: SurfaceUpdate): void {
    const key = subKey(update.surfaceId, update.conversationId);
    for (const client of this.#surfaceSubs.get(key) ?? []) {
      const sub = client.surfaces.get(key);
      if (!sub) continue;
      if (sub.pending) {
        sub.held = update.spec;
        continue;
      }
      const conversationId = sub.conversationId ?? update.conversationId;
      this.#send(client, {
        type: "update",
        update: {
          surfaceId: update.surfaceId,
          spec: update.spec,
          ...(conversationId ? { conversationId } : {}),
        },
      });
    }
  }

  async #invoke(client: Client, msg: ClientMessageOf<"invoke">): Promise<void> {
    const conversationId = msg.conversationId ??
      (this.#perConversation(msg.surfaceId) ? client.focus : undefined);
    const result = await this.deps.registry.invoke({
      surfaceId: msg.surfaceId,
      actionId: msg.actionId,
      ...(msg.payload !== undefined ? { payload: msg.payload } : {}),
      ...(conversationId ? { conversationId } : {}),
    });
    this.#send(client, {
      type: "invoke.result",
      surfaceId: msg.surfaceId,
      actionId: msg.actionId,
      ...(conversationId ? { conversationId } : {}),
      ...(msg.requestId ? { requestId: msg.requestId } : {}),
      result: result ?? null,
    });
  }

  // ---------------------------------------------------------------- chat

  async #chatSend(client: Client, msg: ClientMessageOf<"chat.send">): Promise<void> {
    const turn = await this.deps.orchestrator.submit({
      conversationId: msg.conversationId,
      message: (msg.message ?? msg.text)!,
      model: msg.model,
      cwd: msg.cwd,
      reasoningEffort: msg.reasoningEffort,
      workspaceId: msg.workspaceId,
      clientRequestId: msg.clientRequestId,
    });
    this.#setFocus(client, turn.conversationId);
    // The turn's first events may already be stored: follow from just before its first one.
    this.#follow(client, turn.conversationId, {
      since: turn.afterEventSeq,
      allEvents: msg.allEvents,
      turnId: turn.turnId,
      requestId: msg.requestId,
      keep: true,
    });
  }

  #chatSubscribe(client: Client, msg: ClientMessageOf<"chat.subscribe">): void {
    const { conversationId } = msg;
    this.#setFocus(client, conversationId);
    let since = msg.sinceEventSeq ?? msg.sinceSeq;
    if (since === undefined) {
      // Late join: the running turn from its start, else only what comes next.
      const running = this.deps.orchestrator.running(conversationId);
      since = running
        ? running.afterEventSeq
        : this.deps.store.get(conversationId)
        ? this.deps.store.latestEventSeq(conversationId)
        : 0;
    }
    this.#follow(client, conversationId, {
      since,
      allEvents: msg.allEvents,
      requestId: msg.requestId,
      keep: false,
    });
  }

  /**
   * Makes `client` follow a conversation from `since`: replays stored events after it, then live ones. With
   * `keep`, an existing follow stays as it is (it has seen everything live already); otherwise it restarts.
   */
  #follow(
    client: Client,
    conversationId: string,
    opts: { since: number; allEvents?: boolean; turnId?: string; requestId?: string; keep: boolean },
  ): void {
    if (!client.open) return;
    const { store } = this.deps;
    const known = store.get(conversationId) !== undefined;
    const latest = known ? store.latestEventSeq(conversationId) : 0;
    const existing = client.follows.get(conversationId);
    if (existing && opts.keep) {
      if (opts.allEvents !== undefined) existing.allEvents = opts.allEvents;
      this.#subscribed(client, conversationId, latest, opts);
      return;
    }
    // A cursor past the end (a store that was reset) would silence the next events: clamp it.
    const since = Math.max(0, Math.min(opts.since, latest));
    // Seqs are gap-free per conversation, so this is the number of events missed.
    if (latest - since > this.deps.options.maxReplayEvents) {
      throw new DispatchError(
        "invalid",
        "replay_too_large",
        `${
          latest - since
        } events after seq ${since} (the most replayed is ${this.deps.options.maxReplayEvents}): ` +
          `read GET /conversations/${conversationId} for the history, then chat.subscribe without sinceSeq`,
      );
    }
    if (existing) this.#unfollow(client, conversationId);
    const follow: Follow = {
      client,
      conversationId,
      allEvents: opts.allEvents ?? false,
      lastSeq: since,
      cursor: store.follow(conversationId, since),
    };
    client.follows.set(conversationId, follow);
    this.#subscribed(client, conversationId, latest, opts);
    this.#pump(follow).catch((error) => {
      this.deps.log.warn("follow failed", { client: client.id, conversationId, error: errorMessage(error) });
      this.#disconnect(client, 1011, "follow failed");
    });
  }

  /**
   * Sends a follower its cursor's events, paced by how fast the client reads (never more than half the buffer
   * limit queued; a client that stays behind for `slowClientMs` is disconnected). When the conversation's events could not be
   * stored, the client gets an `error` and a `done` for the turn (not stored: no event seq), and the follow
   * goes on from the last event it had.
   */
  async #pump(follow: Follow): Promise<void> {
    const { client, conversationId } = follow;
    const following = () => client.open && client.follows.get(conversationId) === follow;
    while (following()) {
      let batch: StoredEvent[] | undefined;
      try {
        batch = await follow.cursor.next();
      } catch (error) {
        if (!following() || !(error instanceof DispatchError) || error.kind !== "unavailable") throw error;
        if (follow.turnId) this.#sendStorageFailure(follow, error);
        follow.cursor = this.deps.store.follow(conversationId, follow.lastSeq);
        continue;
      }
      if (!batch) return;
      // Paced by how fast the client reads, live or replayed: what it has not taken yet waits in the store
      // (the cursor holds a bounded tail, then reads the store), never in this process's send buffer.
      for (const e of batch) {
        if (!following() || !(await this.#roomFor(client))) return;
        follow.lastSeq = e.eventSeq;
        follow.turnId = e.event.type === "status" || e.event.type === "turn-sealed"
          ? undefined
          : e.event.turnId;
        if (!follow.allEvents && !LEGACY_EVENT_TYPES.has(e.event.type)) continue;
        this.#sendText(client, chatDelta(e));
      }
    }
  }

  #sendStorageFailure(follow: Follow, error: DispatchError): void {
    const ids = { conversationId: follow.conversationId, turnId: follow.turnId! };
    this.#send(follow.client, {
      type: "chat.delta",
      event: { type: "error", ...ids, message: error.message, code: error.code },
    });
    this.#send(follow.client, { type: "chat.delta", event: { type: "done", ...ids, reason: "error" } });
    follow.turnId = undefined;
  }

  /** Waits until the client's send buffer is under half the limit; false (and disconnected) if it stays full. */
  async #roomFor(client: Client): Promise<boolean> {
    const half = this.deps.options.maxBufferedBytes / 2;
    if (client.open && client.socket.bufferedAmount <= half) return true;
    const deadline = Date.now() + (this.deps.options.slowClientMs ?? SLOW_CLIENT_MS);
    while (client.open && client.socket.bufferedAmount > half) {
      if (Date.now() > deadline) {
        this.deps.log.warn("socket client too slow; disconnected", {
          client: client.id,
          bufferedBytes: client.socket.bufferedAmount,
        });
        this.#disconnect(client, 1013, "too slow: send buffer full");
        return false;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return client.open;
  }

  #subscribed(
    client: Client,
    conversationId: string,
    latestEventSeq: number,
    opts: { turnId?: string; requestId?: string },
  ): void {
    this.#send(client, {
      type: "chat.subscribed",
      conversationId,
      latestEventSeq,
      ...(opts.turnId ? { turnId: opts.turnId } : {}),
      ...(opts.requestId ? { requestId: opts.requestId } : {}),
    });
  }

  #unfollow(client: Client, conversationId: string): void {
    const follow = client.follows.get(conversationId);
    if (!follow) return;
    client.follows.delete(conversationId);
    follow.cursor.close();
  }

  async #chatQueue(client: Client, msg: ClientMessageOf<"chat.queue">): Promise<void> {
    const queue = this.#queue();
    const result = await queue.enqueue(msg.conversationId, (msg.text ?? msg.message)!);
    this.#setFocus(client, result.conversationId);
    this.#send(client, {
      type: "chat.queued",
      conversationId: result.conversationId,
      startedTurn: result.startedTurn,
      queue: result.queue,
      ...(msg.requestId ? { requestId: msg.requestId } : {}),
    });
    // Like chat.send: whoever started the turn sees it.
    if (result.turn) {
      this.#follow(client, result.turn.conversationId, {
        since: result.turn.afterEventSeq,
        allEvents: msg.allEvents,
        turnId: result.turn.turnId,
        keep: true,
      });
    }
  }

  #chatQueueCancel(client: Client, msg: ClientMessageOf<"chat.queue.cancel">): void {
    const result = this.#queue().cancel(msg.conversationId, msg.messageId);
    this.#send(client, {
      type: "chat.queue.cancelled",
      ...result,
      ...(msg.requestId ? { requestId: msg.requestId } : {}),
    });
  }

  #queue(): MessageQueue {
    const queue = this.deps.queue();
    if (!queue) {
      throw new DispatchError(
        "unavailable",
        "queue_unavailable",
        "the message-queue extension is not loaded",
      );
    }
    return queue;
  }

  // ---------------------------------------------------------------- frames out

  #broadcast(msg: ServerMessage): void {
    if (this.#clients.size === 0) return;
    const text = JSON.stringify(msg);
    for (const client of [...this.#clients]) this.#sendText(client, text);
  }

  #send(client: Client, msg: ServerMessage): boolean {
    return this.#sendText(client, JSON.stringify(msg));
  }

  /** Queues a frame; a client over its buffer limit is disconnected instead. False when nothing was sent. */
  #sendText(client: Client, text: string): boolean {
    if (!client.open || client.socket.readyState !== WebSocket.OPEN) return false;
    const buffered = client.socket.bufferedAmount;
    if (buffered > this.deps.options.maxBufferedBytes) {
      this.deps.log.warn("socket client too slow; disconnected", {
        client: client.id,
        bufferedBytes: buffered,
        limit: this.deps.options.maxBufferedBytes,
      });
      this.#disconnect(client, 1013, "too slow: send buffer full");
      return false;
    }
    try {
      client.socket.send(text);
      return true;
    } catch (error) {
      this.deps.log.debug("socket send failed", { client: client.id, error: errorMessage(error) });
      this.#disconnect(client, 1011, "send failed");
      return false;
    }
  }

  #disconnect(client: Client, code: number, reason: string): void {
    this.#forget(client);
    try {
      client.socket.close(code, reason);
    } catch { /* already closing */ }
  }

  #forget(client: Client): void {
    if (!client.open) return;
    client.open = false;
    this.#clients.delete(client);
    if (this.#clients.size === 0) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
    for (const key of [...client.surfaces.keys()]) this.#removeSub(client, key);
    for (const id of [...client.follows.keys()]) this.#unfollow(client, id);
    this.deps.log.debug("socket closed", { client: client.id });
  }

  #index<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
    let set = map.get(key);
    if (!set) map.set(key, set = new Set());
    return set;
  }
}

/** `chat.delta` frames, serialised once per event whatever the number of followers. */
const frames = new WeakMap<StoredEvent, string>();

/** The `chat.delta` frame of one stored event: the event's wire line (with its eventSeq), and eventSeq beside. */
function chatDelta(e: StoredEvent): string {
  let frame = frames.get(e);
  if (frame === undefined) {
    frame = `{"type":"chat.delta","event":${e.line},"eventSeq":${e.eventSeq}}`;
    frames.set(e, frame);
  }
  return frame;
}
