// The fold and the feed on their own: pure folding of a turn's events, and cursors over a real store.
import { assertEquals } from "../../tests/assert.ts";
import type { AgentEvent } from "../../src/contract/events.ts";
import { openSqlite } from "../storage-sqlite/database.ts";
import { replayFold, TurnFold } from "./fold.ts";
import { openConversationStore } from "./store.ts";

const ids = { conversationId: "c", turnId: "t" };

Deno.test("fold: runs of same-kind deltas make one chunk each, closed by the next other event; metadata does not split", () => {
  const fold = new TurnFold();
  const ops = (e: AgentEvent) => fold.apply(e);
  assertEquals(ops({ type: "user-message", ...ids, text: "q" }), [
    { op: "chunk", role: "user", chunk: { type: "text", text: "q" } },
  ]);
  assertEquals(ops({ type: "reasoning-delta", ...ids, delta: "a" }), []);
  assertEquals(ops({ type: "usage", ...ids, usage: { inputTokens: 1, outputTokens: 1 } }), []);
  assertEquals(ops({ type: "reasoning-delta", ...ids, delta: "b" }), []);
  assertEquals(ops({ type: "text-delta", ...ids, delta: "" }), [], "an empty delta changes nothing");
  assertEquals(ops({ type: "text-delta", ...ids, delta: "x" }), [
    { op: "chunk", role: "assistant", chunk: { type: "thinking", text: "ab" } },
  ]);
  assertEquals(ops({ type: "tool-output", ...ids, toolCallId: "k", data: "o", stream: "stdout" }), []);
  assertEquals(fold.open, { kind: "text", text: "x" });
  assertEquals(ops({ type: "done", ...ids, reason: "aborted", durationMs: 3 }), [
    { op: "chunk", role: "assistant", chunk: { type: "text", text: "x" } },
    { op: "turn-done", usage: undefined, durationMs: 3, contextSize: undefined },
  ]);
  assertEquals(ops({ type: "turn-sealed", ...ids }), [{ op: "turn-end", status: "aborted" }]);
});

Deno.test("fold: replaying a turn's stored events gives the open chunk a crash left", () => {
  const fold = replayFold([
    { type: "user-message", ...ids, text: "q" },
    { type: "text-delta", ...ids, delta: "par" },
    { type: "tool-call", ...ids, stepId: "s", toolCallId: "k", toolName: "x", input: {} },
    { type: "text-delta", ...ids, delta: "tial " },
    { type: "text-delta", ...ids, delta: "text" },
  ]);
  assertEquals(fold.close(), { type: "text", text: "tial text" }, "only the run after the tool call is open");
  assertEquals(fold.close(), undefined);
});

Deno.test("feed: a cursor that falls far behind the live tail reads the rest from the store, once each, in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-feed-" });
  const db = openSqlite(`${dir}/c.sqlite`);
  try {
    const { store } = openConversationStore(db);
    store.create({ id: "c" });
    store.beginTurn("c", "t", null);
    const cursor = store.follow("c", 0);
    assertEquals(cursor.live, false);
    // One stored event, then the cursor catches up and goes live.
    store.appendEvent({ type: "turn-start", ...ids });
    assertEquals((await cursor.next())!.map((e) => e.eventSeq), [1]);
    const pending = cursor.next(); // live now: waits for the next commit
    assertEquals(cursor.live, true);
    store.appendEvent({ type: "text-delta", ...ids, delta: "a" });
    assertEquals((await pending)!.map((e) => e.eventSeq), [2]);
    // 12,000 commits while nobody reads: the live buffer stops at its bound, the store has the rest.
    for (let i = 0; i < 12_000; i++) store.appendEvent({ type: "text-delta", ...ids, delta: `${i} ` });
    const seqs: number[] = [];
    while (seqs.length < 12_000) seqs.push(...(await cursor.next())!.map((e) => e.eventSeq));
    assertEquals(seqs, Array.from({ length: 12_000 }, (_, i) => i + 3));
    // Until: the follow ends with the event it names.
    const sealedFollow = store.follow("c", 0, { until: (e) => e.event.type === "turn-sealed" });
    store.appendEvent({ type: "done", ...ids, reason: "stop" });
    store.appendEvent({ type: "turn-sealed", ...ids });
    let last;
    for (let batch = await sealedFollow.next(); batch; batch = await sealedFollow.next()) last = batch.at(-1);
    assertEquals(last!.event.type, "turn-sealed");
    // Consecutive deltas queued before one commit are one event with the text of all of them.
    store.beginTurn("c", "t2", null);
    const t2 = { conversationId: "c", turnId: "t2" };
    const from = store.latestEventSeq("c");
    const live = store.follow("c", from);
    for (const d of ["a", "b", "c"]) store.append({ type: "text-delta", ...t2, delta: d });
    store.append({ type: "done", ...t2, reason: "stop" });
    await store.flushed();
    assertEquals((await live.next())!.map((e) => e.line), [
      `{"type":"text-delta","conversationId":"c","turnId":"t2","delta":"abc","eventSeq":${from + 1}}`,
      `{"type":"done","conversationId":"c","turnId":"t2","reason":"stop","eventSeq":${from + 2}}`,
    ]);
    live.close();
    assertEquals(await live.next(), undefined);
    cursor.close();
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
