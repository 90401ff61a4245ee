import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import type { StoredChunk } from "../../src/contract/events.ts";
import { splitHistory, transcript } from "./transcript.ts";

let seq = 0;
const user = (text: string): StoredChunk => ({ seq: ++seq, role: "user", chunk: { type: "text", text } });
const said = (text: string): StoredChunk => ({
  seq: ++seq,
  role: "assistant",
  chunk: { type: "text", text },
});
const call = (id: string): StoredChunk => ({
  seq: ++seq,
  role: "assistant",
  chunk: { type: "tool-call", toolCallId: id, toolName: "read_file", input: { path: "a.ts" } },
});
const result = (id: string, content: string): StoredChunk => ({
  seq: ++seq,
  role: "tool",
  chunk: { type: "tool-result", toolCallId: id, toolName: "read_file", content, isError: false },
});

Deno.test("splitHistory keeps the last turn whole; a single turn is summarized entirely; nothing is nothing", () => {
  const turn1 = [user("one"), call("t1"), result("t1", "file"), said("done")];
  const turn2 = [user("two"), call("t2"), result("t2", "more"), said("ok")];
  assertEquals(splitHistory([...turn1, ...turn2]), { summarized: turn1, kept: turn2 });
  assertEquals(splitHistory(turn1), { summarized: turn1, kept: [] });
  assertEquals(splitHistory([]), { summarized: [], kept: [] });
});

Deno.test("transcript: every kind readable, long entries clipped, oldest dropped past the budget", () => {
  const text = transcript([user("hello"), call("t"), result("t", "x".repeat(10_000)), said("bye")], 100_000);
  assertMatch(
    text,
    /^User: hello\n\nAssistant called read_file with \{"path":"a.ts"\}\n\nread_file returned: x+/,
  );
  assertMatch(text, /\[\.\.\. 6000 more characters\]\n\nAssistant: bye$/);
  const short = transcript([user("a".repeat(500)), user("b".repeat(500)), said("last")], 600);
  assert(short.startsWith("[earlier messages omitted]"));
  assert(!short.includes("aaa") && short.includes("bbb") && short.endsWith("Assistant: last"));
});
