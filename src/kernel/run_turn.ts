// One agent turn: model → tool calls → model, until the model stops, the step limit, or abort.
// Phases per step: steer (poll queued messages) → prepare (hooks may rewrite) → stream the model → run tools.
// The loop never throws for a tool's failure: the model reads the error as the tool's result.
import type { Clock, ModelMessage, ModelRequest, Provider, ToolHandle, ToolResultPart } from "./contracts.ts";
import { ProviderError } from "./contracts.ts";
import { addUsage, type DoneReason, type TurnEvent, type TurnEventOf, type Usage } from "./wire.ts";
import { defineKey, type Hooks, isVeto, type Veto } from "./bus.ts";
import { Channel } from "./channel.ts";

/** What a `turn.prepare-step` hook may rewrite before each model call. */
export interface StepPlan {
  conversationId: string;
  turnId: string;
  step: number;
  model: string;
  messages: ModelMessage[];
  tools: ToolHandle[];
  /** The working directory the turn's tools run in, when it has one (prompts describe it). */
  cwd?: string;
}
export const PrepareStepHook = defineKey<StepPlan>("turn.prepare-step");

/** Seen before every tool call; a veto becomes the tool's error result (approvals hang off this). */
export interface ToolCallPlan {
  conversationId: string;
  turnId: string;
  toolCallId: string;
  toolName: string;
  input: unknown;
  cwd?: string;
}
export const BeforeToolCallHook = defineKey<ToolCallPlan>("turn.before-tool-call");

/** What one step's request is made from (the turn loop's state, or a warm's prefix). */
export interface StepInput extends StepPlan {
  reasoningEffort?: string;
  maxOutputTokens?: number;
  hooks?: Hooks;
}

/**
 * The one way a step's model request is made: the `turn.prepare-step` hooks run on a copy of the plan (a
 * rewrite is for this step only, and a request a provider holds never changes afterwards), then the request
 * is built from what they return. A veto is returned as is; a hook that throws rejects. Cache warming calls
 * this too, so a warm sends what the next turn's first step would.
 */
export async function stepRequest(
  input: StepInput,
  signal?: AbortSignal,
): Promise<{ request: ModelRequest; tools: ToolHandle[] } | Veto> {
  let plan: StepPlan = {
    conversationId: input.conversationId,
    turnId: input.turnId,
    step: input.step,
    model: input.model,
    messages: [...input.messages],
    tools: [...input.tools],
    ...(input.cwd !== undefined ? { cwd: input.cwd } : {}),
  };
  if (input.hooks?.has(PrepareStepHook)) {
    const run = input.hooks.run(PrepareStepHook, plan);
    const out = signal ? await raceAbort(run, signal) : await run;
    if (isVeto(out)) return out;
    plan = out;
  }
  return {
    tools: plan.tools,
    request: {
      model: plan.model,
      messages: plan.messages,
      tools: plan.tools.map((t) => t.spec),
      ...(input.reasoningEffort !== undefined ? { reasoningEffort: input.reasoningEffort } : {}),
      ...(input.maxOutputTokens !== undefined ? { maxOutputTokens: input.maxOutputTokens } : {}),
    },
  };
}

export interface TurnInput {
  conversationId: string;
  turnId: string;
  provider: Provider;
  model: string;
  /** The history plus the new user message, oldest first. */
  messages: ModelMessage[];
  tools: ToolHandle[];
  signal: AbortSignal;
  maxSteps?: number;
  reasoningEffort?: string;
  cwd?: string;
  hooks?: Hooks;
  /** Polled between steps: messages queued while the turn runs (steering). */
  drainSteering?: () => string[];
  clock?: Clock;
  newId?: () => string;
}

export interface TurnOutcome {
  reason: DoneReason;
  usage: Usage;
  /** Messages this turn added after the input (assistant, tool, steering user messages). */
  added: ModelMessage[];
}

const systemClock: Clock = { now: () => Date.now() };
export const DEFAULT_MAX_STEPS = 50;

type Emitted = TurnEvent;

export async function* runTurn(input: TurnInput): AsyncGenerator<Emitted, TurnOutcome> {
  const { conversationId, turnId, signal } = input;
  const clock = input.clock ?? systemClock;
  const newId = input.newId ?? (() => crypto.randomUUID());
  const maxSteps = input.maxSteps ?? DEFAULT_MAX_STEPS;
  const ids = { conversationId, turnId };
  const started = clock.now();
  const messages = [...input.messages];
  const firstAdded = messages.length;
  let total: Usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
  let contextSize: number | undefined;

  const finish = (reason: DoneReason): TurnEventOf<"done"> => ({
    type: "done",
    ...ids,
    reason,
    durationMs: clock.now() - started,
    usage: total,
    ...(contextSize !== undefined ? { contextSize } : {}),
  });
  const outcome = (reason: DoneReason): TurnOutcome => ({
    reason,
    usage: total,
    added: messages.slice(firstAdded),
  });

  yield { type: "turn-start", ...ids };

  for (let step = 1;; step++) {
    // ---- steer: messages queued since the last step join the conversation now
    for (const text of input.drainSteering?.() ?? []) {
      messages.push({ role: "user", content: text });
      yield { type: "steering", ...ids, text };
    }
    if (signal.aborted) {
      yield finish("aborted");
      return outcome("aborted");
    }
    if (step > maxSteps) {
      yield {
        type: "error",
        ...ids,
        message: `stopped after ${maxSteps} steps (step limit)`,
        code: "max_steps",
      };
      yield finish("max-steps");
      return outcome("max-steps");
    }

    // ---- prepare: hooks may rewrite the prompt, the messages and the tool list for this step.
    let prepared: { request: ModelRequest; tools: ToolHandle[] } | Veto;
    try {
      prepared = await stepRequest({
        conversationId,
        turnId,
        step,
        model: input.model,
        messages,
        tools: input.tools,
        cwd: input.cwd,
        reasoningEffort: input.reasoningEffort,
        hooks: input.hooks,
      }, signal);
    } catch (error) {
      if (signal.aborted) {
        yield finish("aborted");
        return outcome("aborted");
      }
      yield { type: "error", ...ids, message: errorMessage(error), code: "hook_failed" };
      yield finish("error");
      return outcome("error");
    }
    if (isVeto(prepared)) {
      yield { type: "error", ...ids, message: prepared.veto, code: "vetoed" };
      yield finish("error");
      return outcome("error");
    }
    const { request, tools: stepTools } = prepared;

    // ---- model: one streamed call
    const stepId = newId();
    const callStart = clock.now();
    let firstTokenAt: number | undefined;
    const parts: {
      text: string;
      reasoning: string;
      calls: { toolCallId: string; toolName: string; input: unknown }[];
    } = { text: "", reasoning: "", calls: [] };
    const assistant: ModelMessage & { role: "assistant" } = { role: "assistant", parts: [] };
    const flush = () => {
      if (parts.reasoning) assistant.parts.push({ type: "reasoning", text: parts.reasoning });
      if (parts.text) assistant.parts.push({ type: "text", text: parts.text });
      parts.reasoning = parts.text = "";
    };
    try {
      const stream = input.provider.stream(request, signal);
      for await (const part of abortable(stream, signal)) {
        switch (part.type) {
          case "text-delta":
            if (!part.delta) break;
            firstTokenAt ??= clock.now();
            if (parts.reasoning) flush();
            parts.text += part.delta;
            yield { type: "text-delta", ...ids, delta: part.delta };
            break;
          case "reasoning-delta":
            if (!part.delta) break;
            firstTokenAt ??= clock.now();
            if (parts.text) flush();
            parts.reasoning += part.delta;
            yield { type: "reasoning-delta", ...ids, delta: part.delta };
            break;
          case "tool-call":
            firstTokenAt ??= clock.now();
            flush();
            parts.calls.push({ toolCallId: part.toolCallId, toolName: part.toolName, input: part.input });
            assistant.parts.push({ type: "tool-call", ...parts.calls.at(-1)! });
            yield { type: "tool-call", ...ids, stepId, ...parts.calls.at(-1)! };
            break;
          case "usage":
            total = addUsage(total, part.usage);
            contextSize = part.usage.inputTokens + part.usage.outputTokens;
            yield { type: "usage", ...ids, stepId, usage: part.usage };
            break;
          case "finish":
            break;
          case "retry":
            yield {
              type: "provider-retry",
              ...ids,
              attempt: part.attempt,
              delayMs: part.delayMs,
              message: part.message,
              ...(part.code ? { code: part.code } : {}),
            };
            break;
        }
      }
    } catch (error) {
      flush();
      if (assistant.parts.length) messages.push(assistant);
      if (signal.aborted) {
        yield* closeCalls(stepId, parts.calls, "aborted before the tool ran");
        yield finish("aborted");
        return outcome("aborted");
      }
      const code = error instanceof ProviderError ? error.code : "provider_error";
      yield { type: "error", ...ids, message: errorMessage(error), code };
      yield* closeCalls(stepId, parts.calls, "the model call failed before the tool ran");
      yield finish("error");
      return outcome("error");
    }
    flush();
    if (assistant.parts.length) messages.push(assistant);
    const end = clock.now();
    const timing = {
      genTotalMs: end - callStart,
      ...(firstTokenAt !== undefined
        ? { ttftMs: firstTokenAt - callStart, decodeMs: end - firstTokenAt }
        : {}),
    };

    if (signal.aborted) {
      yield* closeCalls(stepId, parts.calls, "aborted before the tool ran");
      yield { type: "step-complete", ...ids, stepId, ...timing };
      yield finish("aborted");
      return outcome("aborted");
    }

    // ---- tools: run each call in order, streaming their live output
    if (parts.calls.length > 0) {
      const results: ToolResultPart[] = [];
      for (const call of parts.calls) {
        const events = new Channel<Emitted>();
        const started = clock.now();
        const running = runOneTool(input, stepTools, call, events).finally(() => events.close());
        yield* events.drain();
        const result = await running;
        results.push(result);
        yield {
          type: "tool-result",
          ...ids,
          stepId,
          ...result,
          durationMs: clock.now() - started,
        };
      }
      messages.push({ role: "tool", results });
      yield { type: "step-complete", ...ids, stepId, ...timing };
      if (signal.aborted) {
        yield finish("aborted");
        return outcome("aborted");
      }
      continue;
    }

    yield { type: "step-complete", ...ids, stepId, ...timing };
    // The model is done, unless someone queued a message meanwhile: then it answers that too.
    const late = input.drainSteering?.() ?? [];
    if (late.length === 0) {
      yield finish("stop");
      return outcome("stop");
    }
    for (const text of late) {
      messages.push({ role: "user", content: text });
      yield { type: "steering", ...ids, text };
    }
  }

  function* closeCalls(
    stepId: string,
    calls: { toolCallId: string; toolName: string }[],
    why: string,
  ): Generator<Emitted> {
    // Every tool call in history gets a result, so the next request stays valid for the provider.
    if (calls.length === 0) return;
    const results = calls.map((c) => ({ ...c, content: why, isError: true }));
    messages.push({ role: "tool", results });
    for (const r of results) yield { type: "tool-result", ...ids, stepId, ...r };
  }
}

async function runOneTool(
  input: TurnInput,
  tools: ToolHandle[],
  call: { toolCallId: string; toolName: string; input: unknown },
  events: Channel<TurnEvent>,
): Promise<ToolResultPart> {
  const { conversationId, turnId, signal } = input;
  const base = { toolCallId: call.toolCallId, toolName: call.toolName };
  const fail = (content: string): ToolResultPart => ({ ...base, content, isError: true });
  const tool = tools.find((t) => t.spec.name === call.toolName);
  if (!tool) {
    const names = tools.map((t) => t.spec.name).join(", ") || "none";
    return fail(`unknown tool "${call.toolName}"; available tools: ${names}`);
  }
  let parsed: ReturnType<ToolHandle["parse"]>;
  try {
    parsed = tool.parse(call.input);
  } catch (error) {
    return fail(`invalid arguments for ${call.toolName}: ${errorMessage(error)}`);
  }
  if (!parsed.ok) return fail(`invalid arguments for ${call.toolName}: ${parsed.error}`);
  if (input.hooks?.has(BeforeToolCallHook)) {
    // Raced with abort: an approval may wait on a person who has meanwhile stopped the turn.
    let verdict: ToolCallPlan | Veto;
    try {
      verdict = await raceAbort(
        input.hooks.run(BeforeToolCallHook, {
          conversationId,
          turnId,
          ...base,
          input: parsed.value,
          cwd: input.cwd,
        }),
        signal,
      );
    } catch (error) {
      return fail(
        signal.aborted ? "aborted before the tool ran" : `tool call check failed: ${errorMessage(error)}`,
      );
    }
    if (isVeto(verdict)) return fail(`tool call refused: ${verdict.veto}`);
  }
  if (signal.aborted) return fail("aborted before the tool ran");
  try {
    const result = await raceAbort(
      tool.execute(parsed.value, {
        signal,
        conversationId,
        turnId,
        toolCallId: call.toolCallId,
        cwd: input.cwd,
        emitOutput: (data, stream) =>
          events.push({
            type: "tool-output",
            conversationId,
            turnId,
            toolCallId: call.toolCallId,
            data,
            stream,
          }),
      }),
      signal,
    );
    return { ...base, content: result.content, isError: result.isError ?? false };
  } catch (error) {
    return fail(signal.aborted ? "aborted while the tool ran" : `tool failed: ${errorMessage(error)}`);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

class Aborted extends Error {
  constructor() {
    super("aborted");
  }
}

/** Rejects as soon as the signal fires, whatever the promise does (a tool that ignores its signal). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // Abandoned: its later failure (often the AbortError itself) must not surface as an unhandled rejection.
    promise.catch(() => {});
    return Promise.reject(new Aborted());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Iterates a provider stream but stops at once on abort, even if the provider does not. */
async function* abortable<T>(iterable: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = iterable[Symbol.asyncIterator]();
  try {
    while (true) {
      const next = await raceAbort(it.next(), signal);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Don't await: a stalled provider may never settle its return().
    it.return?.()?.catch(() => {});
  }
}
