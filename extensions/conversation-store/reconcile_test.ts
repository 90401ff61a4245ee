// reconcile() is pure: these tests use plain rows, no SQLite.
import type { AgentEvent, StoredChunk } from "../../src/contract/events.ts";
import { assertEquals } from "../../tests/assert.ts";
import {
  INTERRUPTED_CODE,
  INTERRUPTED_MESSAGE,
  reconcile,
  type RunningTurnState,
  turnStatusForDone,
} from "./reconcile.ts";

const ids = { conversationId: "c1", turnId: "t1" };
const call = (seq: number, toolCallId: string, stepId?: string): StoredChunk => ({
  seq,
  role: "assistant",
  chunk: {
    type: "tool-call",
    toolCallId,
    toolName: "shell",
    input: { cmd: "ls" },
    ...(stepId ? { stepId } : {}),
  },
});
const result = (seq: number, toolCallId: string): StoredChunk => ({
  seq,
  role: "tool",
  chunk: { type: "tool-result", toolCallId, toolName: "shell", content: "ok", isError: false },
});
const turn = (over: Partial<RunningTurnState> = {}): RunningTurnState => ({
  ...ids,
  startedAt: 1000,
  lastEventAt: 1500,
  chunks: [],
  events: [{ type: "user-message", ...ids, text: "hi" }, { type: "turn-start", ...ids }],
  ...over,
});

Deno.test("reconcile: nothing running, nothing active -> no repairs", () => {
  assertEquals(reconcile({ conversations: [{ id: "c1", status: "idle" }], runningTurns: [] }), {
    turns: [],
    idle: [],
  });
});

Deno.test("reconcile: an interrupted turn gets an error, done and turn-sealed, and its conversation goes idle", () => {
  const repairs = reconcile({ conversations: [{ id: "c1", status: "active" }], runningTurns: [turn()] });
  assertEquals(repairs, {
    turns: [{
      ...ids,
      status: "interrupted",
      endedAt: 1500,
      events: [
        { type: "error", ...ids, message: INTERRUPTED_MESSAGE, code: INTERRUPTED_CODE },
        { type: "done", ...ids, reason: "error", durationMs: 500 },
        { type: "turn-sealed", ...ids },
      ],
    }],
    idle: ["c1"],
  });
});

Deno.test("reconcile: dangling tool calls get an error result before the error chunk; answered ones do not", () => {
  const repairs = reconcile({
    conversations: [{ id: "c1", status: "active" }],
    runningTurns: [turn({ chunks: [call(3, "a", "s1"), result(4, "a"), call(5, "b", "s2"), call(6, "c")] })],
  });
  const events = repairs.turns[0].events;
  assertEquals(events.map((e) => e.type), ["tool-result", "tool-result", "error", "done", "turn-sealed"]);
  assertEquals(events[0], {
    type: "tool-result",
    ...ids,
    stepId: "s2",
    toolCallId: "b",
    toolName: "shell",
    content: "interrupted",
    isError: true,
  });
  assertEquals((events[1] as { toolCallId: string; stepId: string }).toolCallId, "c");
  assertEquals((events[1] as { toolCallId: string; stepId: string }).stepId, "");
});

Deno.test("reconcile: a turn with no events ends at its start", () => {
  const repairs = reconcile({ conversations: [], runningTurns: [turn({ lastEventAt: null, events: [] })] });
  assertEquals(repairs.turns[0].endedAt, 1000);
  assertEquals(repairs.turns[0].status, "interrupted");
  assertEquals(repairs.idle, []);
});

Deno.test("reconcile: a turn whose done was logged keeps its outcome and only gets sealed", () => {
  const done: AgentEvent = { type: "done", ...ids, reason: "stop", durationMs: 400 };
  const repairs = reconcile({
    conversations: [{ id: "c1", status: "active" }],
    runningTurns: [turn({ events: [...turn().events, done] })],
  });
  assertEquals(repairs.turns[0].status, "done");
  assertEquals(repairs.turns[0].events, [{ type: "turn-sealed", ...ids }]);

  const sealed = reconcile({
    conversations: [],
    runningTurns: [
      turn({ events: [...turn().events, { ...done, reason: "aborted" }, { type: "turn-sealed", ...ids }] }),
    ],
  });
  assertEquals(sealed.turns[0].status, "aborted");
  assertEquals(sealed.turns[0].events, []);
});

Deno.test("reconcile: closed conversations stay closed; every active one goes idle", () => {
  const repairs = reconcile({
    conversations: [{ id: "c1", status: "closed" }, { id: "c2", status: "active" }, {
      id: "c3",
      status: "idle",
    }],
    runningTurns: [turn(), turn({ conversationId: "c2", turnId: "t9" })],
  });
  assertEquals(repairs.idle, ["c2"]);
  assertEquals(repairs.turns.map((t) => [t.conversationId, t.turnId, t.status]), [
    ["c1", "t1", "interrupted"],
    ["c2", "t9", "interrupted"],
  ]);
});

Deno.test("turnStatusForDone maps every done reason", () => {
  assertEquals(
    (["stop", "aborted", "error", "max-steps"] as const).map(turnStatusForDone),
    ["done", "aborted", "error", "error"],
  );
});
