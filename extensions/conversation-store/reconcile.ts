// Crash repair, as a pure function: given what was stored of the turns a previous run left `running` (it was
// killed, or lost power, mid-turn), say what to append and update so that every such turn is closed and its
// history stays valid for a provider. Nothing stored is rewritten; repairs only append after it.
import type { AgentEvent, AgentEventOf, StoredChunk } from "../../src/contract/events.ts";
import type { DoneReason } from "../../src/kernel/mod.ts";
import type { ConversationStatus, TurnStatus } from "./api.ts";

export const INTERRUPTED_MESSAGE = "turn interrupted: the daemon stopped before it finished";
export const INTERRUPTED_CODE = "interrupted";
/** The content of the tool result made up for a tool call that never got one. */
export const INTERRUPTED_TOOL_CONTENT = "interrupted";

/** One turn found `running` at load, with what was stored of it. */
export interface RunningTurnState {
  conversationId: string;
  turnId: string;
  startedAt: number;
  /** When its last event was logged, or null when it has none. */
  lastEventAt: number | null;
  /** Its chunks in seq order; at least its tool-call and tool-result chunks. */
  chunks: StoredChunk[];
  /** Its events in seq order; at least every event other than the deltas and tool output. */
  events: AgentEvent[];
}

export interface ReconcileState {
  /** Conversations whose status may need repair: at least every `active` one. */
  conversations: { id: string; status: ConversationStatus }[];
  runningTurns: RunningTurnState[];
}

export interface TurnRepair {
  conversationId: string;
  turnId: string;
  /** Events to append to the turn's log, in this order; each folds into history like any live event. */
  events: AgentEvent[];
  status: Exclude<TurnStatus, "running">;
  /** When the turn is taken to have stopped: its last event (not the restart, which may be much later). */
  endedAt: number;
}

export interface Repairs {
  turns: TurnRepair[];
  /** Conversations to set `idle`: after repair nothing runs, so nothing may stay `active`. */
  idle: string[];
}

/** The turn status a logged `done` stands for. */
export function turnStatusForDone(reason: DoneReason): Exclude<TurnStatus, "running"> {
  switch (reason) {
    case "stop":
      return "done";
    case "aborted":
      return "aborted";
    case "error":
    case "max-steps":
      return "error";
  }
}

/** Why a turn is closed by repair: said in its history as an error chunk. */
export interface RepairReason {
  message: string;
  code: string;
  /** The status of a turn that never logged its `done`. */
  status: "interrupted" | "error";
}
const INTERRUPTED: RepairReason = {
  message: INTERRUPTED_MESSAGE,
  code: INTERRUPTED_CODE,
  status: "interrupted",
};

export function reconcile(state: ReconcileState): Repairs {
  const turns = state.runningTurns.map((t) => repairTurn(t, INTERRUPTED));
  const idle = state.conversations.filter((c) => c.status === "active").map((c) => c.id);
  return { turns, idle };
}

/** Closes one turn that cannot go on, for `reason`. */
export function repairTurn(turn: RunningTurnState, reason: RepairReason): TurnRepair {
  const { conversationId, turnId } = turn;
  const ids = { conversationId, turnId };
  const endedAt = Math.max(turn.lastEventAt ?? turn.startedAt, turn.startedAt);
  const events: AgentEvent[] = [];

  // Every tool call gets a result, right after the turn's stored chunks, so the next request is valid.
  const answered = new Set<string>();
  for (const { chunk } of turn.chunks) if (chunk.type === "tool-result") answered.add(chunk.toolCallId);
  for (const { chunk } of turn.chunks) {
    if (chunk.type !== "tool-call" || answered.has(chunk.toolCallId)) continue;
    answered.add(chunk.toolCallId);
    events.push({
      type: "tool-result",
      ...ids,
      stepId: chunk.stepId ?? "",
      toolCallId: chunk.toolCallId,
      toolName: chunk.toolName,
      content: INTERRUPTED_TOOL_CONTENT,
      isError: true,
    });
  }

  // A turn that logged its `done` had finished its work (only the bookkeeping after it was lost): it keeps
  // the outcome it reported. Otherwise it stopped part-way: say so in its history and close it.
  const done = turn.events.findLast((e): e is AgentEventOf<"done"> => e.type === "done");
  let status: TurnRepair["status"];
  if (done) {
    status = turnStatusForDone(done.reason);
  } else {
    status = reason.status;
    events.push({ type: "error", ...ids, message: reason.message, code: reason.code });
    events.push({ type: "done", ...ids, reason: "error", durationMs: endedAt - turn.startedAt });
  }
  const sealed = turn.events.at(-1)?.type === "turn-sealed";
  if (events.length > 0 || !sealed) events.push({ type: "turn-sealed", ...ids });

  return { conversationId, turnId, events, status, endedAt };
}
