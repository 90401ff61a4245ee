// Run by store_test.ts in a child process: writes one finished turn and half of a second one, says READY,
// then waits to be SIGKILLed mid-turn. Usage: deno run --allow-read --allow-write crash_child.ts <dataDir>
import { SqliteStorage } from "../../storage-sqlite/mod.ts";
import { openConversationStore } from "../store.ts";

const dataDir = Deno.args[0];
const storage = new SqliteStorage(dataDir);
const { store } = openConversationStore(storage.openDatabase("conversations"));
const c = "crash";
store.create({ id: c, title: "Crash me" });

// Turn 1 finishes normally.
let ids = { conversationId: c, turnId: "t1" };
store.beginTurn(c, "t1", "m/model");
store.appendEvent({ type: "user-message", ...ids, text: "list files" });
store.appendEvent({ type: "turn-start", ...ids });
store.appendEvent({ type: "text-delta", ...ids, delta: "Looking." });
store.appendEvent({
  type: "tool-call",
  ...ids,
  stepId: "s1",
  toolCallId: "call-1",
  toolName: "shell",
  input: { cmd: "ls" },
});
store.appendEvent({
  type: "tool-result",
  ...ids,
  stepId: "s1",
  toolCallId: "call-1",
  toolName: "shell",
  content: "a.txt",
  isError: false,
});
store.appendEvent({ type: "step-complete", ...ids, stepId: "s1", genTotalMs: 5 });
store.appendEvent({ type: "text-delta", ...ids, delta: "There is a.txt." });
store.appendEvent({ type: "done", ...ids, reason: "stop", durationMs: 20 });
store.endTurn(c, "t1", "done");
store.appendEvent({ type: "turn-sealed", ...ids });

// Turn 2 is killed mid-stream, with a tool call that never got its result.
ids = { conversationId: c, turnId: "t2" };
store.beginTurn(c, "t2", "m/model");
store.appendEvent({ type: "user-message", ...ids, text: "read it" });
store.appendEvent({ type: "turn-start", ...ids });
store.appendEvent({ type: "reasoning-delta", ...ids, delta: "I should " });
store.appendEvent({ type: "reasoning-delta", ...ids, delta: "read a.txt" });
store.appendEvent({ type: "text-delta", ...ids, delta: "Reading " });
store.appendEvent({ type: "text-delta", ...ids, delta: "a.txt now" });
store.appendEvent({
  type: "tool-call",
  ...ids,
  stepId: "s2",
  toolCallId: "call-2",
  toolName: "read",
  input: { path: "a.txt" },
});
store.appendEvent({
  type: "tool-output",
  ...ids,
  toolCallId: "call-2",
  data: "partial out",
  stream: "stdout",
});
store.appendEvent({ type: "text-delta", ...ids, delta: "never closed" }); // a later partial chunk, too

await Deno.stdout.write(new TextEncoder().encode("READY\n"));
// Keep the process (and its open database) alive until the parent kills it.
setInterval(() => {}, 60_000);
