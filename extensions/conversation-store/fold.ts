// The fold: a turn's events, in order, become history chunks and metrics. Pure: the writer applies its ops
// inside the commit of the events, and crash repair replays a turn's stored events through it to find the
// chunk that was still open. Streamed text stays in memory until its chunk closes; the chunk is then written
// once, complete, and never changes (WIRE.md: a chunk is immutable).
import type { AgentEvent, Chunk, ChunkRole } from "../../src/contract/events.ts";
import type { Usage } from "../../src/kernel/mod.ts";
import type { TurnStatus } from "./api.ts";
import { INTERRUPTED_CODE, turnStatusForDone } from "./reconcile.ts";

export type FoldOp =
  | { op: "chunk"; role: ChunkRole; chunk: Chunk }
  | { op: "step-usage"; stepId: string; usage: Usage }
  | { op: "step-timings"; stepId: string; ttftMs?: number; decodeMs?: number; genTotalMs?: number }
  | { op: "turn-done"; usage?: Usage; durationMs?: number; contextSize?: number }
  /** At `turn-sealed`: the turn is over, with the status its `done` stood for. */
  | { op: "turn-end"; status: Exclude<TurnStatus, "running"> };

const NONE: readonly FoldOp[] = Object.freeze([]);

/** One turn's fold state: the chunk its deltas are streaming into, if any, and how its `done` ended it. */
export class TurnFold {
  open: { kind: "text" | "thinking"; text: string } | null = null;
  doneStatus: Exclude<TurnStatus, "running"> | undefined;
  /** An `error` with code `interrupted` came (a shutdown cut the turn short): its `done` means interrupted. */
  #interrupted = false;

  /** The ops one event makes. Deltas and tool output make none (text accumulates in `open`). */
  apply(event: AgentEvent): readonly FoldOp[] {
    switch (event.type) {
      case "text-delta":
      case "reasoning-delta": {
        if (event.delta === "") return NONE;
        const kind = event.type === "text-delta" ? "text" : "thinking";
        if (this.open?.kind === kind) {
          this.open.text += event.delta;
          return NONE;
        }
        const closed = this.#close();
        this.open = { kind, text: event.delta };
        return closed;
      }
      // Metadata that may arrive mid-stream without splitting the model's output.
      case "usage":
        return event.stepId ? [{ op: "step-usage", stepId: event.stepId, usage: event.usage }] : NONE;
      case "tool-output":
      case "status":
        return NONE;
    }
    // Anything else ends the run of deltas. turn-start, provider-retry and turn-sealed are only logged.
    const ops = [...this.#close()];
    switch (event.type) {
      case "user-message":
      case "steering":
        ops.push({ op: "chunk", role: "user", chunk: { type: "text", text: event.text } });
        break;
      case "tool-call":
        ops.push({
          op: "chunk",
          role: "assistant",
          chunk: {
            type: "tool-call",
            toolCallId: event.toolCallId,
            toolName: event.toolName,
            input: event.input,
            ...(event.stepId ? { stepId: event.stepId } : {}),
          },
        });
        break;
      case "tool-result":
        ops.push({
          op: "chunk",
          role: "tool",
          chunk: {
            type: "tool-result",
            toolCallId: event.toolCallId,
            toolName: event.toolName,
            content: event.content,
            isError: event.isError,
            ...(event.stepId ? { stepId: event.stepId } : {}),
          },
        });
        break;
      case "error":
        if (event.code === INTERRUPTED_CODE) this.#interrupted = true;
        ops.push({
          op: "chunk",
          role: "assistant",
          chunk: {
            type: "error",
            message: event.message,
            ...(event.code !== undefined ? { code: event.code } : {}),
          },
        });
        break;
      case "step-complete":
        ops.push({
          op: "step-timings",
          stepId: event.stepId,
          ttftMs: event.ttftMs,
          decodeMs: event.decodeMs,
          genTotalMs: event.genTotalMs,
        });
        break;
      case "done":
        this.doneStatus = this.#interrupted ? "interrupted" : turnStatusForDone(event.reason);
        ops.push({
          op: "turn-done",
          usage: event.usage,
          durationMs: event.durationMs,
          contextSize: event.contextSize,
        });
        break;
      case "turn-sealed":
        // A turn sealed without its `done` (it cannot happen in the turn loop) did not finish its work.
        ops.push({ op: "turn-end", status: this.doneStatus ?? "error" });
        break;
    }
    return ops;
  }

  /** Closes the open chunk, if any, and returns it (a turn ended from outside, a chunk appended directly). */
  close(): Chunk | undefined {
    const open = this.open;
    if (!open) return undefined;
    this.open = null;
    return { type: open.kind, text: open.text };
  }

  #close(): readonly FoldOp[] {
    const chunk = this.close();
    return chunk ? [{ op: "chunk", role: "assistant", chunk }] : NONE;
  }
}

/** The fold state after a turn's stored events, in order (crash repair, recovery after a failed commit). */
export function replayFold(events: Iterable<AgentEvent>): TurnFold {
  const fold = new TurnFold();
  for (const e of events) fold.apply(e);
  return fold;
}
