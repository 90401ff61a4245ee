// Test doubles for the kernel contracts: small, real in-memory implementations (no mocking library).
//
//   const provider = new ScriptedProvider([
//     [toolCall("c1", "read", { path: "a" }), usage(10, 2), finish("tool-calls")],   // call 1
//     [text("done"), usage(20, 1), finish()],                                       // call 2
//   ]);
//   const { events, outcome } = await collectTurn(runTurn({ ...input, provider }));
//   provider.requests[1].messages  // what the second call was sent
import type {
  Clock,
  LogLevel,
  LogRecord,
  LogSink,
  ModelInfo,
  ModelRequest,
  ModelStreamPart,
  Provider,
} from "./contracts.ts";
import { ProviderError } from "./contracts.ts";
import type { TurnEvent, Usage } from "./wire.ts";
import type { TurnOutcome } from "./run_turn.ts";

// ---------------------------------------------------------------- scripts

/** How a stalled call reacts when its signal fires: end quietly (the contract), throw, or never notice. */
export type OnAbort = "end" | "throw" | "ignore";

/** One step of a scripted model call: a stream part to yield, or a control action. */
export type ScriptAction =
  | ModelStreamPart
  /** Throws this error from the stream (use a ProviderError for a well-behaved provider failure). */
  | { type: "throw"; error: unknown }
  /** Sends nothing until the signal fires; then reacts as `onAbort` says. */
  | { type: "stall"; onAbort: OnAbort }
  /** Waits for `until` before the next step; ends the stream quietly if the signal fires first. */
  | { type: "gate"; until: Promise<unknown> };

/** The steps of one call, or a function that picks them from the request (`call` counts from 0). */
export type CallScript = ScriptAction[] | ((request: ModelRequest, call: number) => ScriptAction[]);

export const text = (delta: string): ModelStreamPart => ({ type: "text-delta", delta });
export const reasoning = (delta: string): ModelStreamPart => ({ type: "reasoning-delta", delta });
export const toolCall = (toolCallId: string, toolName: string, input: unknown): ModelStreamPart => ({
  type: "tool-call",
  toolCallId,
  toolName,
  input,
});
export const usage = (
  inputTokens: number,
  outputTokens: number,
  extra: Partial<Usage> = {},
): ModelStreamPart => ({
  type: "usage",
  usage: { inputTokens, outputTokens, ...extra },
});
export const finish = (reason = "stop"): ModelStreamPart => ({ type: "finish", reason });
export const fail = (error: unknown): ScriptAction => ({ type: "throw", error });
export const stall = (onAbort: OnAbort = "end"): ScriptAction => ({ type: "stall", onAbort });
export const gate = (until: Promise<unknown>): ScriptAction => ({ type: "gate", until });

// ---------------------------------------------------------------- provider

export interface RecordedCall {
  /** A deep copy of the request as it was when the call was made. */
  request: ModelRequest;
  signal: AbortSignal;
}

/**
 * A provider that plays one queued script per `stream` call, in order, and records every request. A call with
 * no script left fails with ProviderError code "script_exhausted". Between parts it honours its signal the way
 * the Provider contract asks (ends without throwing); `stall` chooses how a stuck call reacts to abort.
 */
export class ScriptedProvider implements Provider {
  readonly id: string;
  readonly calls: RecordedCall[] = [];
  #scripts: CallScript[];
  #models: ModelInfo[];

  constructor(scripts: CallScript[] = [], opts: { id?: string; models?: ModelInfo[] } = {}) {
    this.id = opts.id ?? "scripted";
    this.#scripts = [...scripts];
    this.#models = opts.models ?? [{ id: "test-model" }];
  }

  /** Queues more scripts, one per future call. */
  script(...scripts: CallScript[]): this {
    this.#scripts.push(...scripts);
    return this;
  }

  /** The requests received so far, oldest first. */
  get requests(): ModelRequest[] {
    return this.calls.map((c) => c.request);
  }

  /** Scripts not yet consumed. */
  get pending(): number {
    return this.#scripts.length;
  }

  listModels(signal?: AbortSignal): Promise<ModelInfo[]> {
    signal?.throwIfAborted();
    return Promise.resolve(structuredClone(this.#models));
  }

  stream(request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelStreamPart> {
    // Recorded now, not when iteration starts, and copied: later changes by the caller do not show.
    const call = this.calls.length;
    this.calls.push({ request: structuredClone(request), signal });
    const script = this.#scripts.shift();
    const actions: ScriptAction[] = script === undefined
      ? [fail(new ProviderError(`${this.id}: no script for call ${call + 1}`, "script_exhausted"))]
      : typeof script === "function"
      ? script(request, call)
      : script;
    return play(actions, signal);
  }
}

async function* play(actions: ScriptAction[], signal: AbortSignal): AsyncGenerator<ModelStreamPart> {
  for (const action of actions) {
    switch (action.type) {
      case "throw":
        throw action.error;
      case "stall":
        if (action.onAbort === "ignore") await new Promise<never>(() => {});
        await abortion(signal);
        if (action.onAbort === "throw") throw new DOMException("The operation was aborted.", "AbortError");
        return;
      case "gate":
        if (await Promise.race([action.until.then(() => false), abortion(signal).then(() => true)])) return;
        break;
      default:
        if (signal.aborted) return;
        yield action;
    }
  }
}

/** Resolves when the signal fires (at once if it already has). */
export function abortion(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

// ---------------------------------------------------------------- log, clock, ids

/** A LogSink that keeps every record, for assertions. */
export class CollectingLogSink implements LogSink {
  readonly records: LogRecord[] = [];

  write(record: LogRecord): void {
    this.records.push(record);
  }

  /** Records at one level. */
  at(level: LogLevel): LogRecord[] {
    return this.records.filter((r) => r.level === level);
  }

  /** Records whose message matches (exact string or pattern). */
  matching(msg: string | RegExp): LogRecord[] {
    return this.records.filter((r) => typeof msg === "string" ? r.msg === msg : msg.test(r.msg));
  }

  clear(): void {
    this.records.length = 0;
  }
}

/** A clock that moves only when told to, or by `tick` ms every time it is read. */
export class ManualClock implements Clock {
  constructor(public time = 0, readonly tick = 0) {}

  now(): number {
    const t = this.time;
    this.time += this.tick;
    return t;
  }

  advance(ms: number): void {
    this.time += ms;
  }
}

/** Deterministic ids: `prefix-1`, `prefix-2`, … */
export function sequentialIds(prefix = "id"): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}

// ---------------------------------------------------------------- turns and timing

/**
 * Runs a turn to its end, collecting its events and its outcome. `onEvent` sees each event as it arrives (with
 * the events so far) and may act on it, e.g. abort the turn or release a gate.
 */
export async function collectTurn(
  turn: AsyncGenerator<TurnEvent, TurnOutcome>,
  onEvent?: (event: TurnEvent, events: TurnEvent[]) => void | Promise<void>,
): Promise<{ events: TurnEvent[]; outcome: TurnOutcome }> {
  const events: TurnEvent[] = [];
  while (true) {
    const next = await turn.next();
    if (next.done) return { events, outcome: next.value };
    events.push(next.value);
    await onEvent?.(next.value, events);
  }
}

/** The promise's value, or a rejection naming `what` if it takes longer than `ms` (the timer is cleared). */
export async function within<T>(ms: number, promise: Promise<T>, what = "operation"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms}ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
