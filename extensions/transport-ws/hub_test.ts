// The hub in-process, behind a real socket, with the real registry, a real store on a SQLite file, and an event
// bus standing in for the rest of the daemon.
import { assertEquals } from "../../tests/assert.ts";
import { WsClient } from "../../tests/ws_client.ts";
import { EventBus, makeLogger, ServiceRegistry } from "../../src/kernel/mod.ts";
import type { SurfaceField } from "../../src/contract/ui.ts";
import type { AgentEvent } from "../../src/contract/events.ts";
import {
  ConversationCompacted,
  ConversationOpen,
  ConversationStatusChanged,
  type Orchestrator,
} from "../session-orchestrator/api.ts";
import { openSqlite } from "../storage-sqlite/database.ts";
import { openConversationStore } from "../conversation-store/store.ts";
import { Registry } from "../surface-registry/registry.ts";
import { Hub } from "./hub.ts";
import { upgrade } from "./upgrade.ts";

function setup() {
  const dir = Deno.makeTempDirSync({ prefix: "dispatch-hub-" });
  const db = openSqlite(`${dir}/conversations.sqlite`);
  const { store } = openConversationStore(db);
  const events = new EventBus();
  const log = makeLogger({ write: () => {} }, { now: () => 0 }, "transport-ws");
  const registry = new Registry({ events, services: new ServiceRegistry().scope("t"), log });
  const hub = new Hub({
    registry,
    orchestrator: { running: () => undefined } as unknown as Orchestrator,
    store,
    events,
    log,
    queue: () => undefined,
    options: {
      heartbeatMs: 60_000,
      maxBufferedBytes: 1 << 20,
      maxFrameChars: 1 << 20,
      maxReplayEvents: 1045,
    },
  });
  const shutdown = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: shutdown.signal, onListen: () => {} },
    (req) => upgrade(req, { allowedOrigins: ["loopback"], idleTimeoutSec: 0 }, (s) => hub.accept(s)),
  );
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  const clients: WsClient[] = [];
  const connect = async () => {
    const c = await WsClient.connect(url);
    clients.push(c);
    return c;
  };
  const close = async () => {
    await Promise.all(clients.map((c) => c.close()));
    await hub.close();
    shutdown.abort();
    await server.finished;
    db.close();
    Deno.removeSync(dir, { recursive: true });
  };
  /** Stores an event now (its own commit), as the orchestrator's writer would. */
  const store1 = (event: AgentEvent) => store.appendEvent(event);
  return { events, registry, hub, store, store1, connect, close };
}

Deno.test("conversation events and catalog changes reach every client", async () => {
  const { events, registry, connect, close } = setup();
  try {
    const a = await connect();
    const b = await connect();
    events.emit(ConversationOpen, { conversationId: "c1", workspaceId: "default" });
    events.emit(ConversationStatusChanged, {
      conversationId: "c1",
      status: "closed",
      workspaceId: "default",
    });
    events.emit(ConversationCompacted, {
      conversationId: "c1",
      newConversationId: "c2",
      messagesSummarized: 10,
      messagesKept: 2,
    });
    registry.contribute({ id: "late", region: "side", title: "Late" });
    for (const ws of [a, b]) {
      assertEquals(await ws.waitFor((f) => f.type === "conversation.open"), {
        type: "conversation.open",
        conversationId: "c1",
        workspaceId: "default",
      });
      await ws.waitFor((f) => f.type === "conversation.statusChanged" && f.status === "closed");
      const compacted = await ws.waitFor((f) => f.type === "conversation.compacted");
      assertEquals(compacted.newConversationId, "c2");
      const catalog = await ws.waitFor((f) => f.type === "catalog" && f.catalog.length === 1);
      assertEquals(catalog.catalog[0].id, "late");
    }
  } finally {
    await close();
  }
});

Deno.test("followers get each stored event once, with its eventSeq, filtered unless they asked for everything", async () => {
  const { store, store1, connect, close } = setup();
  try {
    for (const id of ["c1", "other"]) store.create({ id });
    store.beginTurn("c1", "t1", null);
    store.beginTurn("other", "t9", null);
    const legacy = await connect();
    const all = await connect();
    await legacy.request(
      { type: "chat.subscribe", conversationId: "c1" },
      (f) => f.type === "chat.subscribed",
    );
    await all.request(
      { type: "chat.subscribe", conversationId: "c1", allEvents: true },
      (f) => f.type === "chat.subscribed",
    );
    const ids = { conversationId: "c1", turnId: "t1" };
    store1({ type: "user-message", ...ids, text: "hi" });
    store1({ type: "turn-start", ...ids });
    store1({ type: "text-delta", ...ids, delta: "x" });
    store1({ type: "turn-start", conversationId: "other", turnId: "t9" });
    store1({ type: "steering", ...ids, text: "more" });
    store1({ type: "done", ...ids, reason: "stop" });
    store1({ type: "turn-sealed", ...ids });
    await legacy.waitFor((f) => f.type === "chat.delta" && f.eventSeq === 6);
    await all.waitFor((f) => f.type === "chat.delta" && f.eventSeq === 6);
    assertEquals(legacy.deltas("c1").map((f) => [f.eventSeq, f.event.type]), [
      [2, "turn-start"],
      [3, "text-delta"],
      [5, "done"],
      [6, "turn-sealed"],
    ]);
    assertEquals(all.deltas("c1").map((f) => f.eventSeq), [1, 2, 3, 4, 5, 6]);
    assertEquals(all.deltas("c1").map((f) => f.event.eventSeq), [1, 2, 3, 4, 5, 6]);
    assertEquals(all.deltas("other"), []);
    // Unfollowed: nothing more.
    all.send({ type: "chat.unsubscribe", conversationId: "c1" });
    await all.request({ type: "subscribe", surfaceId: "nope" }, (f) => f.type === "error");
    store.beginTurn("c1", "t2", null);
    store1({ type: "turn-start", ...ids, turnId: "t2" });
    await legacy.waitFor((f) => f.type === "chat.delta" && f.eventSeq === 7);
    assertEquals(all.deltas("c1").length, 6);
  } finally {
    await close();
  }
});

Deno.test("an update made while a subscriber's spec is being rendered reaches it as the subscribe reply", async () => {
  const { registry, connect, close } = setup();
  try {
    const stat = (value: string): SurfaceField => ({ kind: "stat", label: "v", value });
    registry.contribute({ id: "slow", region: "side", title: "Slow", fields: [stat("stored")] });
    const rendering = Promise.withResolvers<SurfaceField[]>();
    const started = Promise.withResolvers<void>();
    registry.attach("slow", {
      render: () => {
        started.resolve();
        return rendering.promise;
      },
    });
    const ws = await connect();
    ws.send({ type: "subscribe", surfaceId: "slow" });
    await started.promise;
    registry.update("slow", [stat("newer")]);
    rendering.resolve([stat("stale")]);
    const reply = await ws.waitFor((f) => f.type === "surface");
    assertEquals(reply.spec.fields, [stat("newer")]);
    const from = ws.frames.indexOf(reply);
    assertEquals(
      ws.frames.slice(0, from).filter((f) => f.type === "update"),
      [],
      "no update before the reply",
    );
  } finally {
    await close();
  }
});

Deno.test("a replay from the store and events arriving meanwhile come out once each, in order", async () => {
  const { store, store1, connect, close } = setup();
  store.create({ id: "c1" });
  store.beginTurn("c1", "t1", null);
  let n = 0;
  const append = () => store1({ type: "text-delta", conversationId: "c1", turnId: "t1", delta: `d${++n}` });
  try {
    for (let i = 0; i < 1000; i++) append();
    const ws = await connect();
    ws.send({ type: "chat.subscribe", conversationId: "c1", sinceEventSeq: 10 });
    // Keep appending while the replay pages through the store.
    for (let i = 0; i < 50; i++) {
      append();
      await new Promise((r) => setTimeout(r, i % 5));
    }
    await ws.waitFor((f) => f.type === "chat.delta" && f.eventSeq === 1050);
    const seqs = ws.deltas("c1").map((f) => f.eventSeq);
    assertEquals(seqs, Array.from({ length: 1040 }, (_, i) => i + 11));
    const tooFar = await ws.request(
      { type: "chat.subscribe", conversationId: "c1", sinceEventSeq: 0, requestId: "far" },
      (f) => f.type === "chat.error",
    );
    assertEquals([tooFar.code, tooFar.requestId], ["replay_too_large", "far"]);
  } finally {
    await close();
  }
});
