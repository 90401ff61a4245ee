// The conversation store on real SQLite files in temp directories.
import type { AgentEvent, Chunk, StoredChunk } from "../../src/contract/events.ts";
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { type Clock, ExtensionHost, type SqlDatabase } from "../../src/kernel/mod.ts";
import { createStorageSqlite, manifest as storageManifest, SqliteStorage } from "../storage-sqlite/mod.ts";
import {
  ConflictError,
  conversationStore,
  ConversationStoreKey,
  INTERRUPTED_CODE,
  INTERRUPTED_MESSAGE,
  InvalidInputError,
  manifest,
  migrate,
  NotFoundError,
  openConversationStore,
  SCHEMA_VERSION,
  SchemaTooNewError,
  type SqliteConversationStore,
  STREAMING_ACTIVITY_RESOLUTION_MS,
} from "./mod.ts";

/** A clock that moves one millisecond per reading, so every write has a distinct, ordered time. */
function tickingClock(start = 1_000_000): Clock & { set(t: number): void } {
  let t = start;
  return { now: () => t++, set: (v) => void (t = v) };
}

interface Fixture {
  dir: string;
  storage: SqliteStorage;
  db: SqlDatabase;
  store: SqliteConversationStore;
  clock: ReturnType<typeof tickingClock>;
  reopen(): Fixture;
  [Symbol.asyncDispose](): Promise<void>;
}

async function fixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-convstore-" });
  const clock = tickingClock();
  const open = (): Fixture => {
    const storage = new SqliteStorage(dir);
    const db = storage.openDatabase("conversations");
    const { store } = openConversationStore(db, { clock });
    return {
      dir,
      storage,
      db,
      store,
      clock,
      reopen() {
        storage.closeAll();
        return open();
      },
      async [Symbol.asyncDispose]() {
        storage.closeAll();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  };
  return open();
}

function throwsA<E>(fn: () => unknown, type: abstract new (...args: never[]) => E, pattern?: RegExp): E {
  const error = assertThrows(fn, pattern);
  assert(error instanceof type, `expected ${type.name}, got ${error?.constructor?.name}: ${error?.message}`);
  return error as E;
}

/** Shorthand for one turn's events. */
function turnOf(store: SqliteConversationStore, conversationId: string, turnId: string) {
  const ids = { conversationId, turnId };
  const e = (event: Record<string, unknown>) => store.appendEvent({ ...ids, ...event } as AgentEvent);
  return {
    ids,
    begin: () => store.beginTurn(conversationId, turnId, "test/model"),
    user: (text: string) => e({ type: "user-message", text }),
    start: () => e({ type: "turn-start" }),
    text: (delta: string) => e({ type: "text-delta", delta }),
    think: (delta: string) => e({ type: "reasoning-delta", delta }),
    call: (toolCallId: string, stepId = "s1") =>
      e({ type: "tool-call", stepId, toolCallId, toolName: "shell", input: { cmd: toolCallId } }),
    result: (toolCallId: string, content = "ok", stepId = "s1") =>
      e({ type: "tool-result", stepId, toolCallId, toolName: "shell", content, isError: false }),
    usage: (stepId: string, inputTokens: number, outputTokens: number) =>
      e({ type: "usage", stepId, usage: { inputTokens, outputTokens } }),
    stepComplete: (stepId: string, ttftMs: number) =>
      e({ type: "step-complete", stepId, ttftMs, decodeMs: 10, genTotalMs: ttftMs + 10 }),
    error: (message: string, code?: string) => e({ type: "error", message, ...(code ? { code } : {}) }),
    steer: (text: string) => e({ type: "steering", text }),
    done: () =>
      e({
        type: "done",
        reason: "stop",
        durationMs: 42,
        usage: { inputTokens: 5, outputTokens: 7 },
        contextSize: 12,
      }),
    end: () => store.endTurn(conversationId, turnId, "done"),
    seal: () => e({ type: "turn-sealed" }),
  };
}

const chunksOf = (store: SqliteConversationStore, id: string) =>
  store.allChunks(id).map((c) => [c.role, c.chunk]);
const seqs = (chunks: StoredChunk[]) => chunks.map((c) => c.seq);

// ---------------------------------------------------------------- conversations

Deno.test("create, get, update, settings; duplicate ids and bad input refused", async () => {
  await using f = await fixture();
  const { store } = f;
  const c = store.create({ id: "c1", title: "First", cwd: "/tmp" });
  assertEquals(c, {
    id: "c1",
    title: "First",
    status: "idle",
    createdAt: c.createdAt,
    lastActivityAt: c.createdAt,
    workspaceId: "default",
    cwd: "/tmp",
    model: null,
    reasoningEffort: null,
    settings: {},
  });
  assertEquals(store.get("c1"), c);
  assertEquals(store.get("nope"), undefined);
  const generated = store.create({});
  assert(generated.id.length > 10);

  const updated = store.update("c1", {
    title: "Renamed",
    model: "a/b",
    reasoningEffort: "high",
    workspaceId: "w-1",
  });
  assertEquals([updated.title, updated.model, updated.reasoningEffort, updated.workspaceId], [
    "Renamed",
    "a/b",
    "high",
    "w-1",
  ]);
  assertEquals(store.get("c1"), updated);
  assertEquals(store.update("c1", { cwd: null }).cwd, null);

  store.setSetting("c1", "compactPercent", 80);
  store.setSetting("c1", "warming", { on: true });
  store.setSetting("c1", "gone", 1);
  store.setSetting("c1", "gone", undefined);
  assertEquals(store.get("c1")!.settings, { compactPercent: 80, warming: { on: true } });

  throwsA(() => store.create({ id: "c1" }), ConflictError, /already exists/);
  throwsA(() => store.update("missing", { title: "x" }), NotFoundError, /missing/);
  throwsA(() => store.setSetting("missing", "k", 1), NotFoundError);
  throwsA(() => store.create({ workspaceId: "Not A Slug" }), InvalidInputError, /slug/);
  throwsA(() => store.create({ id: "" }), InvalidInputError);
  throwsA(() => store.update("c1", { status: "bogus" as "idle" }), InvalidInputError, /status/);
  throwsA(() => store.update("c1", { id: "x" } as never), InvalidInputError, /id/);
  throwsA(() => store.setSetting("c1", "big", 10n), InvalidInputError, /JSON/);
});

Deno.test("list: newest activity first, q by title (any case) or id prefix, status and workspace filters", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "alpha-1", title: "Fix the Büild" });
  store.create({ id: "beta-2", title: "Write docs", workspaceId: "docs" });
  store.create({ id: "gamma-3", title: "Refactor" });
  store.create({ id: "delta-4", title: "old stuff" });
  store.update("delta-4", { status: "closed" });
  store.appendChunk("alpha-1", "system", { type: "system", text: "bump" }); // newest activity now

  assertEquals(store.list().map((c) => c.id), ["alpha-1", "gamma-3", "beta-2"]);
  assertEquals(store.list({ status: ["closed"] }).map((c) => c.id), ["delta-4"]);
  assertEquals(store.list({ status: ["active", "idle", "closed"] }).length, 4);
  assertEquals(store.list({ q: "BÜILD" }).map((c) => c.id), ["alpha-1"]);
  assertEquals(store.list({ q: "gam" }).map((c) => c.id), ["gamma-3"]);
  assertEquals(store.list({ q: "stuff" }).map((c) => c.id), []); // closed
  assertEquals(store.list({ q: "stuff", status: ["closed"] }).map((c) => c.id), ["delta-4"]);
  assertEquals(store.list({ workspaceId: "docs" }).map((c) => c.id), ["beta-2"]);
  assertEquals(store.list({ workspaceId: "default", q: "re" }).map((c) => c.id), ["gamma-3"]);
  store.beginTurn("gamma-3", "t", null);
  assertEquals(store.list({ status: ["active"] }).map((c) => c.id), ["gamma-3"]);
  throwsA(() => store.list({ status: ["nope" as "idle"] }), InvalidInputError);
});

// ---------------------------------------------------------------- history selection (WIRE.md "History")

Deno.test("history: sinceSeq < seq < beforeSeq, newest `limit`, ascending; latestSeq cursor", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "empty" });
  assertEquals(store.history("empty"), { chunks: [], latestSeq: 0 });
  assertEquals(store.history("empty", { sinceSeq: 5 }), { chunks: [], latestSeq: 5 });
  assertEquals(store.history("empty", { limit: 3 }), { chunks: [], latestSeq: 0 });

  store.create({ id: "c" });
  for (let i = 1; i <= 10; i++) store.appendChunk("c", "user", { type: "text", text: `m${i}` });
  const h = (q: Parameters<typeof store.history>[1]) => {
    const r = store.history("c", q);
    return { seqs: seqs(r.chunks), latestSeq: r.latestSeq };
  };
  assertEquals(h({}), { seqs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], latestSeq: 10 });
  assertEquals(h({ sinceSeq: 3 }), { seqs: [4, 5, 6, 7, 8, 9, 10], latestSeq: 10 });
  assertEquals(h({ beforeSeq: 4 }), { seqs: [1, 2, 3], latestSeq: 3 });
  assertEquals(h({ limit: 3 }), { seqs: [8, 9, 10], latestSeq: 10 });
  assertEquals(h({ sinceSeq: 2, beforeSeq: 9, limit: 3 }), { seqs: [6, 7, 8], latestSeq: 8 });
  assertEquals(h({ sinceSeq: 2, beforeSeq: 9, limit: 100 }), { seqs: [3, 4, 5, 6, 7, 8], latestSeq: 8 });
  assertEquals(h({ beforeSeq: 4, limit: 2 }), { seqs: [2, 3], latestSeq: 3 });
  assertEquals(h({ sinceSeq: 10 }), { seqs: [], latestSeq: 10 });
  assertEquals(h({ sinceSeq: 50 }), { seqs: [], latestSeq: 50 });
  assertEquals(h({ sinceSeq: 4, beforeSeq: 5 }), { seqs: [], latestSeq: 4 });
  assertEquals(h({ sinceSeq: 7, beforeSeq: 3 }), { seqs: [], latestSeq: 7 });
  assertEquals(h({ beforeSeq: 1 }), { seqs: [], latestSeq: 0 });
  assertEquals(h({ limit: 0 }), { seqs: [], latestSeq: 0 });
  assertEquals(h({ sinceSeq: 9, limit: 0 }), { seqs: [], latestSeq: 9 });
  assertEquals(h({ sinceSeq: 9, limit: 1 }), { seqs: [10], latestSeq: 10 });
  // A client paging with latestSeq as its cursor sees every chunk once.
  let cursor = 0;
  const seen: number[] = [];
  for (let page = 0; page < 10; page++) {
    const r = store.history("c", { sinceSeq: cursor, limit: 100 });
    seen.push(...seqs(r.chunks));
    cursor = r.latestSeq;
  }
  assertEquals(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assertEquals(store.history("c", { sinceSeq: 0 }).chunks[0], {
    seq: 1,
    role: "user",
    chunk: { type: "text", text: "m1" },
  });

  for (
    const bad of [{ sinceSeq: -1 }, { beforeSeq: 1.5 }, { limit: -2 }, { limit: Number.NaN }, {
      sinceSeq: "3",
    }]
  ) {
    throwsA(() => store.history("c", bad as never), InvalidInputError);
  }
  throwsA(() => store.history("missing"), NotFoundError);
});

// ---------------------------------------------------------------- folding events into history

Deno.test("folding: deltas grow one chunk per run; alternating reasoning/text/tool calls stay separate and ordered", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "c" });
  const t = turnOf(store, "c", "t1");
  t.begin();
  t.user("hello");
  t.start();
  t.think("Let me ");
  t.think("think.");
  t.usage("s1", 10, 2); // metadata mid-stream does not split the run
  t.think(" More.");
  t.text("Sure, ");
  t.text(""); // empty deltas change nothing
  t.text("running it.");
  t.call("ls");
  t.result("ls", "file.txt");
  t.stepComplete("s1", 100);
  t.think("Now ");
  t.think("answer.");
  t.text("Done: ");
  t.text("file.txt");
  t.think("afterthought");
  t.text("PS");
  t.steer("also this");
  t.text("And this.");
  t.error("rate limited", "rate_limit");
  t.usage("s2", 20, 3);
  t.stepComplete("s2", 50);
  t.done();
  t.end();
  t.seal();

  assertEquals(chunksOf(store, "c"), [
    ["user", { type: "text", text: "hello" }],
    ["assistant", { type: "thinking", text: "Let me think. More." }],
    ["assistant", { type: "text", text: "Sure, running it." }],
    ["assistant", {
      type: "tool-call",
      toolCallId: "ls",
      toolName: "shell",
      input: { cmd: "ls" },
      stepId: "s1",
    }],
    ["tool", {
      type: "tool-result",
      toolCallId: "ls",
      toolName: "shell",
      content: "file.txt",
      isError: false,
      stepId: "s1",
    }],
    ["assistant", { type: "thinking", text: "Now answer." }],
    ["assistant", { type: "text", text: "Done: file.txt" }],
    ["assistant", { type: "thinking", text: "afterthought" }],
    ["assistant", { type: "text", text: "PS" }],
    ["user", { type: "text", text: "also this" }],
    ["assistant", { type: "text", text: "And this." }],
    ["assistant", { type: "error", message: "rate limited", code: "rate_limit" }],
  ]);
  assertEquals(seqs(store.allChunks("c")), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

  // Turn metrics: steps with usage and timings, the turn's totals from `done`.
  const [turn] = store.turns("c");
  assertEquals(turn.status, "done");
  assertEquals(turn.usage, { inputTokens: 5, outputTokens: 7 });
  assertEquals([turn.durationMs, turn.contextSize, turn.model], [42, 12, "test/model"]);
  assert(turn.endedAt !== null && turn.endedAt >= turn.startedAt);
  assertEquals(turn.steps, [
    { stepId: "s1", usage: { inputTokens: 10, outputTokens: 2 }, ttftMs: 100, decodeMs: 10, genTotalMs: 110 },
    { stepId: "s2", usage: { inputTokens: 20, outputTokens: 3 }, ttftMs: 50, decodeMs: 10, genTotalMs: 60 },
  ]);
  assertEquals(store.lastAssistantText("c"), {
    content: "Sure, running it.\n\nDone: file.txt\n\nPS\n\nAnd this.",
    turnId: "t1",
  });
});

Deno.test("folding: a streamed chunk is written once, complete, when it closes; history never changes", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "c" });
  const t = turnOf(store, "c", "t1");
  t.begin();
  t.user("q");
  t.text("Hel");
  // The open chunk is not history yet (its deltas are in the event log).
  assertEquals(store.history("c", { sinceSeq: 1 }).chunks, []);
  t.text('lo "wörld" \n\\ 🎉');
  assertEquals(store.history("c", { sinceSeq: 1 }).chunks, []);
  t.call("ls"); // closes the text chunk
  const seen = store.history("c", { sinceSeq: 1 }).chunks;
  assertEquals(seen[0], {
    seq: 2,
    role: "assistant",
    chunk: { type: "text", text: 'Hello "wörld" \n\\ 🎉' },
  });
  t.text("more");
  t.end(); // ending the turn closes its open chunk too
  assertEquals(store.history("c", { sinceSeq: 1 }).chunks.slice(0, seen.length), seen);
  assertEquals(seqs(store.allChunks("c")), [1, 2, 3, 4]);
  const t2 = turnOf(store, "c", "t2");
  t2.begin();
  t2.text("new");
  // A chunk appended directly closes the open one first.
  store.appendChunk("c", "system", { type: "system", text: "note" }, "t2");
  t2.text(" more");
  t2.end();
  assertEquals(chunksOf(store, "c").slice(4), [
    ["assistant", { type: "text", text: "new" }],
    ["system", { type: "system", text: "note" }],
    ["assistant", { type: "text", text: " more" }],
  ]);
});

Deno.test("seqs are gap-free from 1 per conversation, across turns and interleaved conversations", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "a" });
  store.create({ id: "b" });
  for (let n = 1; n <= 3; n++) {
    const ta = turnOf(store, "a", `ta${n}`);
    const tb = turnOf(store, "b", `tb${n}`);
    ta.begin();
    tb.begin();
    ta.user(`a${n}`);
    tb.user(`b${n}`);
    ta.start();
    tb.text("x");
    ta.text("y");
    tb.call(`b-call-${n}`);
    ta.text("y");
    tb.result(`b-call-${n}`);
    ta.done();
    tb.done();
    ta.end();
    tb.end();
    ta.seal();
    tb.seal();
  }
  store.appendEvent({ type: "status", conversationId: "a", status: "idle" });
  for (const id of ["a", "b"]) {
    const chunks = store.allChunks(id);
    assertEquals(seqs(chunks), chunks.map((_, i) => i + 1));
    const events = store.eventsSince(id, 0);
    assertEquals(events.map((e) => e.eventSeq), events.map((_, i) => i + 1));
    assertEquals(store.latestEventSeq(id), events.length);
  }
  assertEquals(store.allChunks("a").length, 6); // per turn: user text, assistant text
  assertEquals(store.allChunks("b").length, 12); // per turn: user, text, call, result
  assertEquals(store.eventsSince("a", 0).at(-1)!.event, {
    type: "status",
    conversationId: "a",
    status: "idle",
  });
  assertEquals(store.eventsSince("b", 2, 2).map((e) => [e.eventSeq, e.event.type]), [[3, "tool-call"], [
    4,
    "tool-result",
  ]]);
  assertEquals(store.eventsSince("b", 999), []);
  assertEquals(store.turns("a").map((t) => t.turnId), ["ta1", "ta2", "ta3"]);
  // Each turn remembers where its events start, so turn-scoped scans (crash repair) stay bounded.
  assertEquals(
    f.db.prepare("SELECT id, event_seq_base FROM turns WHERE conversation_id = 'a' ORDER BY rowid").all(),
    [{ id: "ta1", event_seq_base: 0 }, { id: "ta2", event_seq_base: 6 }, { id: "ta3", event_seq_base: 12 }],
  );
});

Deno.test("turns: begin marks the conversation active, end marks it idle (unless closed)", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "c" });
  assertEquals(store.runningTurn("c"), undefined);
  store.beginTurn("c", "t1", "m");
  assertEquals(store.get("c")!.status, "active");
  assertEquals(store.runningTurn("c")?.turnId, "t1");
  assertEquals(store.runningTurn("c")?.status, "running");
  throwsA(() => store.beginTurn("c", "t1", "m"), ConflictError);
  throwsA(() => store.beginTurn("nope", "t1", "m"), NotFoundError);
  store.endTurn("c", "t1", "aborted");
  assertEquals(store.get("c")!.status, "idle");
  assertEquals(store.runningTurn("c"), undefined);
  assertEquals(store.turns("c")[0].status, "aborted");

  store.beginTurn("c", "t2", null);
  store.update("c", { status: "closed" });
  store.endTurn("c", "t2", "done");
  assertEquals(store.get("c")!.status, "closed");
  throwsA(() => store.endTurn("c", "t-missing", "done"), NotFoundError);
  throwsA(() => store.endTurn("c", "t2", "running" as "done"), InvalidInputError);
});

Deno.test("appendEvent validates at the boundary and a refused event leaves no trace", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "c" });
  const t = turnOf(store, "c", "t1");
  t.begin();
  t.user("hi");
  const before = store.get("c")!.lastActivityAt;
  throwsA(
    () => store.appendEvent({ type: "text-delta", conversationId: "nope", turnId: "t1", delta: "x" }),
    NotFoundError,
  );
  throwsA(
    () => store.appendEvent({ type: "text-delta", conversationId: "c", turnId: "t-unknown", delta: "x" }),
    NotFoundError,
    /beginTurn/,
  );
  throwsA(
    () => store.appendEvent({ type: "text-delta", conversationId: "c", turnId: "t1" } as never),
    InvalidInputError,
  );
  throwsA(
    () => store.appendEvent({ type: "made-up", conversationId: "c", turnId: "t1" } as never),
    InvalidInputError,
  );
  throwsA(() => store.appendEvent(null as never), InvalidInputError);
  assertEquals(store.latestEventSeq("c"), 1);
  assertEquals(store.allChunks("c").length, 1);
  assertEquals(store.get("c")!.lastActivityAt, before);
  assertEquals(t.text("ok"), 2);
  // Streamed deltas move lastActivityAt at most once a second; other events always do.
  assertEquals(store.get("c")!.lastActivityAt, before);
  f.clock.set(before + STREAMING_ACTIVITY_RESOLUTION_MS + 5);
  t.text("later");
  assertEquals(store.get("c")!.lastActivityAt, before + STREAMING_ACTIVITY_RESOLUTION_MS + 5);
  t.call("x");
  assert(store.get("c")!.lastActivityAt > before + STREAMING_ACTIVITY_RESOLUTION_MS + 5);
  throwsA(() => store.appendChunk("c", "robot" as "user", { type: "text", text: "x" }), InvalidInputError);
  throwsA(() => store.appendChunk("c", "user", { type: "text" } as unknown as Chunk), InvalidInputError);
  throwsA(() => store.appendChunk("nope", "user", { type: "text", text: "x" }), NotFoundError);
  throwsA(() => store.eventsSince("nope", 0), NotFoundError);
  throwsA(() => store.turns("nope"), NotFoundError);
});

Deno.test("lastAssistantText: newest turn with assistant text; empty when none", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "c" });
  assertEquals(store.lastAssistantText("c"), { content: "" });
  const t1 = turnOf(store, "c", "t1");
  t1.begin();
  t1.user("q1");
  t1.think("hmm");
  t1.text("answer one");
  t1.end();
  const t2 = turnOf(store, "c", "t2");
  t2.begin();
  t2.user("q2");
  t2.call("x");
  t2.result("x");
  t2.end();
  assertEquals(store.lastAssistantText("c"), { content: "answer one", turnId: "t1" });
});

Deno.test("everything persists across close and reopen", async () => {
  await using f = await fixture();
  f.store.create({ id: "c", title: "Persist" });
  const t = turnOf(f.store, "c", "t1");
  t.begin();
  t.user("hi");
  t.text("hello");
  t.usage("s1", 1, 2);
  t.done();
  t.end();
  t.seal();
  f.store.setSetting("c", "k", [1, 2]);
  const snapshot = {
    conversation: f.store.get("c"),
    chunks: f.store.allChunks("c"),
    events: f.store.eventsSince("c", 0),
    turns: f.store.turns("c"),
  };
  const g = f.reopen();
  try {
    assertEquals({
      conversation: g.store.get("c"),
      chunks: g.store.allChunks("c"),
      events: g.store.eventsSince("c", 0),
      turns: g.store.turns("c"),
    }, snapshot);
    // Sequences continue where they were.
    const t2 = turnOf(g.store, "c", "t2");
    t2.begin();
    assertEquals(t2.user("again"), snapshot.events.length + 1);
    assertEquals(g.store.allChunks("c").at(-1)!.seq, snapshot.chunks.length + 1);
  } finally {
    g.storage.closeAll();
  }
});

// ---------------------------------------------------------------- schema

Deno.test("schema: user_version tracks migrations; a newer database is refused; migrate is idempotent", async () => {
  await using f = await fixture();
  assertEquals(f.db.prepare("PRAGMA user_version").get(), { user_version: SCHEMA_VERSION });
  assertEquals(migrate(f.db), SCHEMA_VERSION);
  f.db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  throwsA(() => openConversationStore(f.db), SchemaTooNewError, /newer/);
});

// ---------------------------------------------------------------- crash repair

Deno.test("reconcile on load (in process): a turn left running is closed as interrupted", async () => {
  await using f = await fixture();
  f.store.create({ id: "c" });
  const t = turnOf(f.store, "c", "t1");
  t.begin();
  t.user("go");
  t.text("half");
  t.call("dangling");
  // No endTurn: "crash" by closing the database under the store.
  const g = f.reopen();
  try {
    assertEquals(g.store.get("c")!.status, "idle");
    assertEquals(g.store.turns("c")[0].status, "interrupted");
    assertEquals(chunksOf(g.store, "c"), [
      ["user", { type: "text", text: "go" }],
      ["assistant", { type: "text", text: "half" }],
      ["assistant", {
        type: "tool-call",
        toolCallId: "dangling",
        toolName: "shell",
        input: { cmd: "dangling" },
        stepId: "s1",
      }],
      ["tool", {
        type: "tool-result",
        toolCallId: "dangling",
        toolName: "shell",
        content: "interrupted",
        isError: true,
        stepId: "s1",
      }],
      ["assistant", { type: "error", message: INTERRUPTED_MESSAGE, code: INTERRUPTED_CODE }],
    ]);
    // A second load finds nothing more to do.
    assertEquals(g.store.reconcileOnLoad(), { turns: [], idle: [] });
  } finally {
    g.storage.closeAll();
  }
});

Deno.test("reconcile on load: a turn that logged done keeps its outcome, gains no error chunk", async () => {
  await using f = await fixture();
  f.store.create({ id: "c" });
  const t = turnOf(f.store, "c", "t1");
  t.begin();
  t.user("go");
  t.text("all done");
  t.done();
  // Killed between `done` and endTurn.
  const g = f.reopen();
  try {
    assertEquals(g.store.turns("c")[0].status, "done");
    assertEquals(g.store.turns("c")[0].usage, { inputTokens: 5, outputTokens: 7 });
    assertEquals(g.store.allChunks("c").map((c) => c.chunk.type), ["text", "text"]);
    assertEquals(g.store.eventsSince("c", 0).at(-1)!.event.type, "turn-sealed");
    assertEquals(g.store.get("c")!.status, "idle");
  } finally {
    g.storage.closeAll();
  }
});

Deno.test("crash: a child process SIGKILLed mid-turn loses nothing stored; the turn is repaired on reopen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-crash-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--allow-read",
        "--allow-write",
        new URL("./testdata/crash_child.ts", import.meta.url).pathname,
        dir,
      ],
      cwd: new URL("../../", import.meta.url).pathname, // the repo root, for deno.json's import map
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Wait for READY (the child has written everything), then kill it without warning.
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("READY")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    if (!out.includes("READY")) {
      const status = await child.status;
      const err = await new Response(child.stderr).text();
      throw new Error(`child exited (${status.code}) before READY: ${err}`);
    }
    child.kill("SIGKILL");
    const status = await child.status;
    assertEquals(status.signal, "SIGKILL");
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel();

    // The WAL is still there: the child never closed the database.
    assert((await Deno.stat(`${dir}/conversations.sqlite-wal`)).size > 0);

    const storage = new SqliteStorage(dir);
    try {
      const { store, repairs } = openConversationStore(storage.openDatabase("conversations"));
      assertEquals(repairs.turns.map((t) => [t.turnId, t.status]), [["t2", "interrupted"]]);
      assertEquals(repairs.idle, ["crash"]);

      assertEquals(chunksOf(store, "crash"), [
        // Turn 1, complete and untouched.
        ["user", { type: "text", text: "list files" }],
        ["assistant", { type: "text", text: "Looking." }],
        ["assistant", {
          type: "tool-call",
          toolCallId: "call-1",
          toolName: "shell",
          input: { cmd: "ls" },
          stepId: "s1",
        }],
        ["tool", {
          type: "tool-result",
          toolCallId: "call-1",
          toolName: "shell",
          content: "a.txt",
          isError: false,
          stepId: "s1",
        }],
        ["assistant", { type: "text", text: "There is a.txt." }],
        // Turn 2, as far as it got, partial text kept.
        ["user", { type: "text", text: "read it" }],
        ["assistant", { type: "thinking", text: "I should read a.txt" }],
        ["assistant", { type: "text", text: "Reading a.txt now" }],
        ["assistant", {
          type: "tool-call",
          toolCallId: "call-2",
          toolName: "read",
          input: { path: "a.txt" },
          stepId: "s2",
        }],
        ["assistant", { type: "text", text: "never closed" }],
        // Repairs: the dangling call answered, then the interruption noted.
        ["tool", {
          type: "tool-result",
          toolCallId: "call-2",
          toolName: "read",
          content: "interrupted",
          isError: true,
          stepId: "s2",
        }],
        ["assistant", { type: "error", message: INTERRUPTED_MESSAGE, code: INTERRUPTED_CODE }],
      ]);
      assertEquals(seqs(store.allChunks("crash")), Array.from({ length: 12 }, (_, i) => i + 1));

      const turns = store.turns("crash");
      assertEquals(turns.map((t) => [t.turnId, t.status]), [["t1", "done"], ["t2", "interrupted"]]);
      assert(turns[1].endedAt !== null);
      assertEquals(store.get("crash")!.status, "idle");
      assertEquals(store.runningTurn("crash"), undefined);

      // The event log says the same, ending the turn with done + turn-sealed, gap-free.
      const events = store.eventsSince("crash", 0);
      assertEquals(events.map((e) => e.eventSeq), events.map((_, i) => i + 1));
      const t2 = events.filter((e) => e.event.type !== "status" && e.event.turnId === "t2").map((e) =>
        e.event.type
      );
      assertEquals(t2.slice(-4), ["tool-result", "error", "done", "turn-sealed"]);
      assertEquals(events.filter((e) => e.event.type === "tool-output").length, 1);

      // And a new turn works as usual.
      const t3 = turnOf(store, "crash", "t3");
      t3.begin();
      assertEquals(store.get("crash")!.status, "active");
      t3.user("again");
      t3.text("fine");
      t3.done();
      t3.end();
      t3.seal();
      assertEquals(store.get("crash")!.status, "idle");
      assertEquals(store.history("crash", { sinceSeq: 12 }).chunks.map((c) => [c.seq, c.chunk]), [
        [13, { type: "text", text: "again" }],
        [14, { type: "text", text: "fine" }],
      ]);
      assertEquals(store.lastAssistantText("crash"), { content: "fine", turnId: "t3" });
    } finally {
      storage.closeAll();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------- the extension and throughput

Deno.test("as an extension: depends on storage-sqlite, repairs on activation, provides the store", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-ext-" });
  try {
    // Leave a running turn behind, as a killed daemon would.
    {
      const storage = new SqliteStorage(dir);
      const { store } = openConversationStore(storage.openDatabase("conversations"));
      store.create({ id: "c" });
      store.beginTurn("c", "t1", null);
      storage.closeAll();
    }
    const logs: { level: string; msg: string }[] = [];
    const host = new ExtensionHost({ sink: { write: (r) => logs.push(r) } });
    await host.boot([
      { manifest: storageManifest, ...createStorageSqlite(dir) },
      { manifest, ...conversationStore },
    ]);
    try {
      assertEquals(host.list().map((s) => [s.id, s.status]), [["storage-sqlite", "active"], [
        "conversation-store",
        "active",
      ]]);
      const store = host.services.require(ConversationStoreKey);
      assertEquals(store.get("c")!.status, "idle");
      assertEquals(store.turns("c")[0].status, "interrupted");
      assert(logs.some((l) => l.level === "warn" && /unfinished/.test(l.msg)));
    } finally {
      await host.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("throughput sanity: 10k deltas into one turn, each its own transaction", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "c" });
  const t = turnOf(store, "c", "t1");
  t.begin();
  t.user("long answer please");
  const started = performance.now();
  for (let i = 0; i < 10_000; i++) t.text(i % 100 === 99 ? "word\n" : "word ");
  const ms = performance.now() - started;
  t.done();
  t.end();
  const chunks = store.allChunks("c");
  assertEquals(chunks.length, 2);
  assertEquals((chunks[1].chunk as { text: string }).text.length, 50_000);
  assertEquals(store.latestEventSeq("c"), 10_002);
  console.log(`10k deltas appended in ${ms.toFixed(0)} ms (${(ms / 10).toFixed(1)} µs each)`);
});

Deno.test("abandonTurn: a live follower of the turn gets its closing events and ends (no lost wake-up)", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "c" });
  const t = turnOf(store, "c", "t1");
  const base = t.begin();
  t.user("hi");
  t.text("half");
  const cursor = store.follow("c", base, {
    until: (e) => e.event.type === "turn-sealed" && e.event.turnId === "t1",
  });
  assertEquals((await cursor.next())?.map((e) => e.event.type), ["user-message", "text-delta"]);
  const rest = cursor.next();
  assert(cursor.live, "caught up: waiting on the live tail");
  store.abandonTurn("c", "t1", { message: "the disk is full", code: "storage_full" });
  const seen: string[] = [];
  for (let batch = await rest; batch; batch = await cursor.next()) {
    seen.push(...batch.map((e) => e.event.type));
  }
  assertEquals(seen, ["error", "done", "turn-sealed"]);
  assertEquals(store.turns("c")[0].status, "error");
});

Deno.test("fold: an `error` with code interrupted before `done` records the turn as interrupted", async () => {
  await using f = await fixture();
  const { store } = f;
  store.create({ id: "c" });
  const t = turnOf(store, "c", "t1");
  t.begin();
  t.user("hi");
  t.text("partial");
  t.error("the daemon shut down", INTERRUPTED_CODE);
  store.appendEvent({ ...t.ids, type: "done", reason: "aborted" } as AgentEvent);
  t.seal();
  assertEquals(store.turns("c")[0].status, "interrupted");
  assertEquals(store.get("c")!.status, "idle");
});
