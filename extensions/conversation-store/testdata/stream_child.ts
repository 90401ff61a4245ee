// Run by crash_points_test.ts in a child process: opens the store (repairing what the previous child left),
// streams one seeded turn through the writer at varying pace, and prints every event a client would be shown
// (the feed's wire lines) to stdout, until it is SIGKILLed. Usage: stream_child.ts <dataDir> <seed>
import type { AgentEvent } from "../../../src/contract/events.ts";
import { setImmediate } from "node:timers";
import { SqliteStorage } from "../../storage-sqlite/mod.ts";
import { openConversationStore } from "../store.ts";

const [dataDir, seedArg] = Deno.args;
let seed = Number(seedArg) >>> 0 || 1;
/** xorshift32: the same seed, the same turn. */
const random = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};
const pick = (n: number) => Math.floor(random() * n);

const storage = new SqliteStorage(dataDir);
const { store } = openConversationStore(storage.openDatabase("conversations"));
const cid = "k";
if (!store.get(cid)) store.create({ id: cid });
const turnId = `t-${seedArg}`;
const ids = { conversationId: cid, turnId };
const after = store.beginTurn(cid, turnId, "m");

const out = Deno.stdout;
const encoder = new TextEncoder();
const cursor = store.follow(cid, after);
(async () => {
  while (true) {
    const batch = await cursor.next();
    if (!batch) break;
    out.writeSync(encoder.encode(batch.map((e) => e.line + "\n").join("")));
  }
})();

const events: AgentEvent[] = [{ type: "user-message", ...ids, text: "go" }, { type: "turn-start", ...ids }];
for (let step = 0; step < 3; step++) {
  const stepId = `s${step}`;
  for (let i = 0, n = 20 + pick(60); i < n; i++) {
    const r = random();
    if (r < 0.6) events.push({ type: "text-delta", ...ids, delta: `t${step}.${i} ` });
    else if (r < 0.85) events.push({ type: "reasoning-delta", ...ids, delta: `r${step}.${i} ` });
    else if (r < 0.93) {
      const toolCallId = `c${step}.${i}`;
      events.push({ type: "tool-call", ...ids, stepId, toolCallId, toolName: "x", input: { i } });
      if (random() < 0.7) {
        events.push({ type: "tool-output", ...ids, toolCallId, data: "out ", stream: "stdout" });
      }
      // As in the turn loop, every call gets its result (a kill between the two leaves it to the repair).
      events.push({
        type: "tool-result",
        ...ids,
        stepId,
        toolCallId,
        toolName: "x",
        content: `ok ${i}`,
        isError: false,
      });
    } else events.push({ type: "usage", ...ids, stepId, usage: { inputTokens: 3, outputTokens: 1 } });
  }
  events.push({ type: "step-complete", ...ids, stepId, genTotalMs: 1 });
}
events.push({ type: "done", ...ids, reason: "stop" }, { type: "turn-sealed", ...ids });

// Bursts of events, each its own commit (so the seed, not the machine's load, decides what is coalesced), with
// a yield to the event loop or a timer between them.
let i = 0;
while (i < events.length) {
  for (let burst = 1 + pick(8); burst > 0 && i < events.length; burst--) store.append(events[i++]);
  await store.flushed();
  await new Promise((resolve) => random() < 0.2 ? setTimeout(resolve, pick(3)) : setImmediate(resolve));
}
await store.flushed();
// Sealed: wait to be killed like the others.
await new Promise(() => {});
