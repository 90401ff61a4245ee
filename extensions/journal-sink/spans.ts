// A turn's spans, from what the turn loop already says: the `turn.prepare-step` hook (a step begins, and the
// request its provider call is made from) and the stored events (deltas, tool calls and results, usage, step
// completion, done). Ids are derived from the turn's, so a span journaled twice is one span.
import type { StepPlan, Usage } from "../../src/kernel/mod.ts";
import type { AgentEvent } from "../../src/contract/events.ts";
import type { SpanRecord } from "./records.ts";

interface Step {
  n: number;
  stepId?: string;
  start: number;
  providerEnd?: number;
  end?: number;
  request: unknown;
  text: string;
  reasoning: string;
  toolCalls: { toolCallId: string; toolName: string; input: unknown }[];
  usage?: Usage;
  timing: Record<string, number>;
  retries: number;
  /** Set once its provider span is written (a completed call, or a failed one). */
  providerWritten: boolean;
  written: boolean;
}

interface Turn {
  conversationId: string;
  turnId: string;
  start: number;
  model?: string;
  steps: Step[];
}

/** Open turns kept at once; one that never ends (a crash mid-turn) is dropped past this. */
const MAX_OPEN_TURNS = 1000;

export const turnSpanId = (turnId: string) => turnId;
export const stepSpanId = (turnId: string, n: number) => `${turnId}/step-${n}`;

export class SpanBuilder {
  readonly #turns = new Map<string, Turn>();

  constructor(private readonly now: () => number, private readonly emit: (span: SpanRecord) => void) {}

  /** A step is about to call its provider with this plan (the hooks' final say). */
  stepStarting(plan: StepPlan): void {
    const turn = this.#turn(plan.conversationId, plan.turnId);
    const now = this.now();
    turn.model ??= plan.model;
    const previous = turn.steps.at(-1);
    if (previous) this.#closeStep(turn, previous, now);
    turn.steps.push({
      n: plan.step,
      start: now,
      request: { model: plan.model, messages: plan.messages, tools: plan.tools.map((t) => t.spec) },
      text: "",
      reasoning: "",
      toolCalls: [],
      timing: {},
      retries: 0,
      providerWritten: false,
      written: false,
    });
  }

  event(event: AgentEvent): void {
    if (event.type === "status") return;
    const key = `${event.conversationId}\n${event.turnId}`;
    if (event.type === "turn-start") {
      this.#turn(event.conversationId, event.turnId);
      return;
    }
    const turn = this.#turns.get(key);
    if (!turn) return;
    const now = this.now();
    const step = "stepId" in event && typeof event.stepId === "string"
      ? this.#step(turn, event.stepId)
      : turn.steps.at(-1);
    switch (event.type) {
      case "text-delta":
        if (step) step.text += event.delta;
        break;
      case "reasoning-delta":
        if (step) step.reasoning += event.delta;
        break;
      case "tool-call":
        step?.toolCalls.push({ toolCallId: event.toolCallId, toolName: event.toolName, input: event.input });
        break;
      case "usage":
        if (step) step.usage = event.usage;
        break;
      case "step-complete":
        if (step) {
          step.providerEnd = now;
          for (const k of ["ttftMs", "decodeMs", "genTotalMs"] as const) {
            if (typeof event[k] === "number") step.timing[k] = event[k];
          }
          this.#providerSpan(turn, step, "ok");
        }
        break;
      case "provider-retry":
        if (step) step.retries++;
        break;
      case "error":
        // A model call that failed never completes its step: its span ends here, with the error.
        if (step && !step.providerWritten) {
          step.providerEnd = now;
          this.#providerSpan(turn, step, "error", event.message);
        }
        break;
      case "tool-result": {
        const durationMs = event.durationMs ?? 0;
        this.emit({
          id: `${turn.turnId}/tool-${event.toolCallId}`,
          type: "span",
          kind: "tool",
          name: event.toolName,
          traceId: turn.turnId,
          parentId: step ? stepSpanId(turn.turnId, step.n) : turnSpanId(turn.turnId),
          start: now - durationMs,
          end: now,
          durationMs,
          status: event.isError ? "error" : "ok",
          conversationId: turn.conversationId,
          turnId: turn.turnId,
          attrs: { toolCallId: event.toolCallId, resultChars: event.content.length },
        });
        if (step) step.end = now;
        break;
      }
      case "done": {
        for (const s of turn.steps) this.#closeStep(turn, s, now);
        const durationMs = event.durationMs ?? now - turn.start;
        this.emit({
          id: turnSpanId(turn.turnId),
          type: "span",
          kind: "turn",
          name: "turn",
          traceId: turn.turnId,
          start: now - durationMs,
          end: now,
          durationMs,
          status: event.reason,
          conversationId: turn.conversationId,
          turnId: turn.turnId,
          ...(turn.model ? { model: turn.model } : {}),
          ...(event.usage ? { usage: event.usage } : {}),
          attrs: {
            steps: turn.steps.length,
            ...(event.contextSize ? { contextSize: event.contextSize } : {}),
          },
        });
        this.#turns.delete(key);
        break;
      }
      case "turn-sealed":
        this.#turns.delete(key);
        break;
    }
  }

  #turn(conversationId: string, turnId: string): Turn {
    const key = `${conversationId}\n${turnId}`;
    let turn = this.#turns.get(key);
    if (!turn) {
      if (this.#turns.size >= MAX_OPEN_TURNS) this.#turns.delete(this.#turns.keys().next().value!);
      turn = { conversationId, turnId, start: this.now(), steps: [] };
      this.#turns.set(key, turn);
    }
    return turn;
  }

  /** The step an event's stepId names: the first one the loop started that has no id yet takes it. */
  #step(turn: Turn, stepId: string): Step | undefined {
    const known = turn.steps.find((s) => s.stepId === stepId);
    if (known) return known;
    const fresh = turn.steps.find((s) => s.stepId === undefined);
    if (fresh) fresh.stepId = stepId;
    return fresh;
  }

  #providerSpan(turn: Turn, step: Step, status: string, error?: string): void {
    step.providerWritten = true;
    const end = step.providerEnd ?? this.now();
    this.emit({
      id: `${stepSpanId(turn.turnId, step.n)}/provider`,
      type: "span",
      kind: "provider",
      name: turn.model ?? "provider",
      traceId: turn.turnId,
      parentId: stepSpanId(turn.turnId, step.n),
      start: step.start,
      end,
      durationMs: end - step.start,
      status,
      conversationId: turn.conversationId,
      turnId: turn.turnId,
      ...(turn.model ? { model: turn.model } : {}),
      ...(step.usage ? { usage: step.usage } : {}),
      attrs: {
        ...step.timing,
        toolCalls: step.toolCalls.length,
        ...(step.retries ? { retries: step.retries } : {}),
        ...(error ? { error: error.slice(0, 2000) } : {}),
      },
      request: step.request,
      response: {
        text: step.text,
        ...(step.reasoning ? { reasoning: step.reasoning } : {}),
        toolCalls: step.toolCalls,
        ...(step.usage ? { usage: step.usage } : {}),
      },
    });
  }

  #closeStep(turn: Turn, step: Step, now: number): void {
    if (step.written) return;
    step.written = true;
    const end = Math.max(step.end ?? now, step.providerEnd ?? 0);
    this.emit({
      id: stepSpanId(turn.turnId, step.n),
      type: "span",
      kind: "step",
      name: `step ${step.n}`,
      traceId: turn.turnId,
      parentId: turnSpanId(turn.turnId),
      start: step.start,
      end,
      durationMs: end - step.start,
      status: step.providerEnd === undefined ? "incomplete" : "ok",
      conversationId: turn.conversationId,
      turnId: turn.turnId,
      ...(step.usage ? { usage: step.usage } : {}),
      attrs: { toolCalls: step.toolCalls.length },
    });
  }
}
