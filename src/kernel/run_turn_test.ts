import { z } from "zod";
import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import type { ModelMessage, ToolContext, ToolHandle } from "./contracts.ts";
import { ProviderError } from "./contracts.ts";
import { HookBus } from "./bus.ts";
import { toolHandle } from "./tools.ts";
import { type TurnEvent, type TurnEventOf, TurnEventSchema } from "./wire.ts";
import { BeforeToolCallHook, PrepareStepHook, runTurn, type TurnInput } from "./run_turn.ts";
import {
  abortion,
  type CallScript,
  collectTurn,
  fail,
  finish,
  ManualClock,
  reasoning,
  ScriptedProvider,
  sequentialIds,
  stall,
  text,
  toolCall,
  usage,
  within,
} from "./testing.ts";

const IDS = { conversationId: "conv-1", turnId: "turn-1" };
const USER: ModelMessage = { role: "user", content: "hello" };

/** A provider scripted with `scripts`, and a turn input around it (overridable). */
function setup(scripts: CallScript[], more: Partial<TurnInput> = {}) {
  const provider = new ScriptedProvider(scripts);
  const controller = new AbortController();
  const input: TurnInput = {
    ...IDS,
    provider,
    model: "test-model",
    messages: [USER],
    tools: [echoTool],
    signal: controller.signal,
    clock: new ManualClock(1000, 1),
    newId: sequentialIds("step"),
    ...more,
  };
  const run = (onEvent?: (event: TurnEvent, events: TurnEvent[]) => void | Promise<void>) =>
    within(2000, collectTurn(runTurn(input), onEvent), "turn");
  return { provider, controller, input, run };
}

const types = (events: TurnEvent[]): TurnEvent["type"][] => events.map((e) => e.type);
const only = <T extends TurnEvent["type"]>(events: TurnEvent[], type: T): TurnEventOf<T>[] =>
  events.filter((e): e is TurnEventOf<T> => e.type === type);
const last = (events: TurnEvent[]) => events[events.length - 1];

/** Every event must be valid on the wire, carry the turn's ids, and the turn must end with exactly one done. */
function assertWellFormed(events: TurnEvent[]): void {
  for (const event of events) {
    const parsed = TurnEventSchema.safeParse(event);
    assert(parsed.success, `invalid event ${JSON.stringify(event)}: ${parsed.error?.message}`);
    assertEquals([event.conversationId, "turnId" in event ? event.turnId : undefined], [
      IDS.conversationId,
      IDS.turnId,
    ]);
  }
  assertEquals(events[0]?.type, "turn-start");
  assertEquals(only(events, "done").length, 1);
  assertEquals(last(events).type, "done");
}

// ---------------------------------------------------------------- tools used by the tests

const echoTool: ToolHandle = toolHandle({
  name: "echo",
  description: "Echoes its text",
  inputSchema: z.object({ text: z.string() }),
  execute: ({ text }) => Promise.resolve(`echo: ${text}`),
});

/** A tool that records each call's input and context, and answers through `impl`. */
function spyTool(
  name: string,
  impl: (
    input: { value?: string },
    ctx: ToolContext,
  ) => Promise<string | { content: string; isError?: boolean }> = () => Promise.resolve("ok"),
) {
  const calls: { input: unknown; ctx: ToolContext }[] = [];
  const handle = toolHandle({
    name,
    description: `spy ${name}`,
    inputSchema: z.object({ value: z.string().optional() }),
    execute: (input, ctx) => {
      calls.push({ input, ctx });
      return impl(input, ctx);
    },
  });
  return { handle, calls };
}

// ---------------------------------------------------------------- plain turns

Deno.test("runTurn: a plain text turn streams turn-start, deltas, usage, step-complete, done(stop)", async () => {
  const { provider, run } = setup([[text("Hel"), text("lo"), usage(10, 5), finish("stop")]]);
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(types(events), ["turn-start", "text-delta", "text-delta", "usage", "step-complete", "done"]);
  assertEquals(only(events, "text-delta").map((e) => e.delta), ["Hel", "lo"]);
  assertEquals(only(events, "usage")[0].usage, { inputTokens: 10, outputTokens: 5 });
  assertEquals(only(events, "usage")[0].stepId, "step-1");

  const step = only(events, "step-complete")[0];
  assertEquals(step.stepId, "step-1");
  assert(
    typeof step.genTotalMs === "number" && typeof step.ttftMs === "number" &&
      typeof step.decodeMs === "number",
  );

  const done = only(events, "done")[0];
  assertEquals(done.reason, "stop");
  assertEquals(done.usage, { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0 });
  assertEquals(done.contextSize, 15);
  assert(typeof done.durationMs === "number" && done.durationMs > 0);

  assertEquals(outcome, {
    reason: "stop",
    usage: { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0 },
    added: [{ role: "assistant", parts: [{ type: "text", text: "Hello" }] }],
  });
  assertEquals(provider.requests, [{
    model: "test-model",
    messages: [USER],
    tools: [echoTool.spec],
  }]);
});

Deno.test("runTurn: the reasoning effort is passed to the provider; the input messages are not mutated", async () => {
  const messages: ModelMessage[] = [{ role: "system", content: "be brief" }, USER];
  const { provider, run } = setup([[text("ok")]], { messages, reasoningEffort: "high" });
  await run();
  assertEquals(provider.requests[0].reasoningEffort, "high");
  assertEquals(provider.requests[0].messages, [{ role: "system", content: "be brief" }, USER]);
  assertEquals(messages.length, 2);
});

Deno.test("runTurn: a model call that yields nothing still ends cleanly, adding no message", async () => {
  const { run } = setup([[finish("stop")]]);
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(types(events), ["turn-start", "step-complete", "done"]);
  assertEquals(only(events, "step-complete")[0].ttftMs, undefined, "no first token, no ttft");
  assertEquals(outcome.added, []);
});

Deno.test("runTurn: empty deltas are dropped", async () => {
  const { run } = setup([[text(""), reasoning(""), text("x"), text("")]]);
  const { events, outcome } = await run();
  assertEquals(types(events), ["turn-start", "text-delta", "step-complete", "done"]);
  assertEquals(outcome.added, [{ role: "assistant", parts: [{ type: "text", text: "x" }] }]);
});

Deno.test("runTurn: usage is summed over steps (cache and reasoning tokens too); contextSize is the last call's", async () => {
  const { run } = setup([
    [toolCall("c1", "echo", { text: "a" }), usage(100, 10, { cacheReadTokens: 40 })],
    [text("done"), usage(130, 20, { cacheWriteTokens: 5, reasoningTokens: 7 })],
  ]);
  const { events, outcome } = await run();
  const expected = {
    inputTokens: 230,
    outputTokens: 30,
    cacheReadTokens: 40,
    cacheWriteTokens: 5,
    reasoningTokens: 7,
  };
  assertEquals(outcome.usage, expected);
  const done = only(events, "done")[0];
  assertEquals(done.usage, expected);
  assertEquals(done.contextSize, 150);
  assertEquals(only(events, "usage").map((e) => e.stepId), ["step-1", "step-2"]);
});

// ---------------------------------------------------------------- the tool loop

Deno.test("runTurn: multi-step tool loop sends the assistant tool call and its result back to the model", async () => {
  const { provider, run } = setup([
    [text("Let me check."), toolCall("c1", "echo", { text: "hi" }), usage(10, 3), finish("tool-calls")],
    [text("It said hi."), usage(20, 4), finish("stop")],
  ]);
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(types(events), [
    "turn-start",
    "text-delta",
    "tool-call",
    "usage",
    "tool-result",
    "step-complete",
    "text-delta",
    "usage",
    "step-complete",
    "done",
  ]);
  const call = only(events, "tool-call")[0];
  assertEquals(call, {
    type: "tool-call",
    ...IDS,
    stepId: "step-1",
    toolCallId: "c1",
    toolName: "echo",
    input: { text: "hi" },
  });
  const result = only(events, "tool-result")[0];
  assertEquals({ ...result, durationMs: undefined }, {
    type: "tool-result",
    ...IDS,
    stepId: "step-1",
    toolCallId: "c1",
    toolName: "echo",
    content: "echo: hi",
    isError: false,
    durationMs: undefined,
  });
  assert(typeof result.durationMs === "number");
  assertEquals(only(events, "step-complete").map((e) => e.stepId), ["step-1", "step-2"]);
  assertEquals(only(events, "done")[0].reason, "stop");

  const assistant: ModelMessage = {
    role: "assistant",
    parts: [
      { type: "text", text: "Let me check." },
      { type: "tool-call", toolCallId: "c1", toolName: "echo", input: { text: "hi" } },
    ],
  };
  const toolMessage: ModelMessage = {
    role: "tool",
    results: [{ toolCallId: "c1", toolName: "echo", content: "echo: hi", isError: false }],
  };
  assertEquals(provider.requests.length, 2);
  assertEquals(provider.requests[0].messages, [USER]);
  assertEquals(provider.requests[1].messages, [USER, assistant, toolMessage]);
  assertEquals(provider.requests[1].tools, [echoTool.spec]);
  assertEquals(outcome.added, [
    assistant,
    toolMessage,
    { role: "assistant", parts: [{ type: "text", text: "It said hi." }] },
  ]);
});

Deno.test("runTurn: several calls in one step run in order and share one tool message", async () => {
  const order: string[] = [];
  const slow = spyTool("slow", async () => {
    order.push("slow start");
    await new Promise((r) => setTimeout(r, 10));
    order.push("slow end");
    return "slow done";
  });
  const fast = spyTool("fast", () => {
    order.push("fast");
    return Promise.resolve("fast done");
  });
  const { provider, run } = setup([
    [toolCall("a", "slow", {}), toolCall("b", "fast", {}), toolCall("c", "echo", { text: "3" })],
    [text("ok")],
  ], { tools: [slow.handle, fast.handle, echoTool] });
  const { events } = await run();
  assertEquals(order, ["slow start", "slow end", "fast"]);
  assertEquals(only(events, "tool-result").map((e) => [e.toolCallId, e.content]), [
    ["a", "slow done"],
    ["b", "fast done"],
    ["c", "echo: 3"],
  ]);
  const sent = provider.requests[1].messages;
  assertEquals(sent.length, 3);
  assertEquals(sent[2], {
    role: "tool",
    results: [
      { toolCallId: "a", toolName: "slow", content: "slow done", isError: false },
      { toolCallId: "b", toolName: "fast", content: "fast done", isError: false },
      { toolCallId: "c", toolName: "echo", content: "echo: 3", isError: false },
    ],
  });
});

Deno.test("runTurn: a tool gets the parsed input and a context with ids, cwd and the turn's signal", async () => {
  const spy = spyTool("spy");
  const { controller, run } = setup([[toolCall("c9", "spy", { value: "v" })], [text("ok")]], {
    tools: [spy.handle],
    cwd: "/work/project",
  });
  await run();
  assertEquals(spy.calls.length, 1);
  assertEquals(spy.calls[0].input, { value: "v" });
  const ctx = spy.calls[0].ctx;
  assertEquals([ctx.conversationId, ctx.turnId, ctx.toolCallId, ctx.cwd], [
    "conv-1",
    "turn-1",
    "c9",
    "/work/project",
  ]);
  assert(ctx.signal === controller.signal);
});

Deno.test("runTurn: reasoning is streamed and kept, in order, in the assistant message sent back", async () => {
  const { provider, run } = setup([
    [
      reasoning("Thinking"),
      reasoning("..."),
      text("First"),
      text(" answer."),
      reasoning("Hmm, check."),
      toolCall("c1", "echo", { text: "x" }),
    ],
    [reasoning("Fine."), text("Done.")],
  ]);
  const { events, outcome } = await run();
  assertEquals(only(events, "reasoning-delta").map((e) => e.delta), [
    "Thinking",
    "...",
    "Hmm, check.",
    "Fine.",
  ]);
  assertEquals(provider.requests[1].messages[1], {
    role: "assistant",
    parts: [
      { type: "reasoning", text: "Thinking..." },
      { type: "text", text: "First answer." },
      { type: "reasoning", text: "Hmm, check." },
      { type: "tool-call", toolCallId: "c1", toolName: "echo", input: { text: "x" } },
    ],
  });
  assertEquals(outcome.added.at(-1), {
    role: "assistant",
    parts: [{ type: "reasoning", text: "Fine." }, { type: "text", text: "Done." }],
  });
});

Deno.test("runTurn: text after a tool call in the same response becomes its own part after the call", async () => {
  const { provider, run } = setup([[text("a"), toolCall("c1", "echo", { text: "x" }), text("b")], [
    text("ok"),
  ]]);
  await run();
  assertEquals(provider.requests[1].messages[1], {
    role: "assistant",
    parts: [
      { type: "text", text: "a" },
      { type: "tool-call", toolCallId: "c1", toolName: "echo", input: { text: "x" } },
      { type: "text", text: "b" },
    ],
  });
});

Deno.test("runTurn: an unknown tool becomes an error result listing the available tools; the loop continues", async () => {
  const { provider, run } = setup([[toolCall("c1", "nope", {})], [text("sorry")]]);
  const { events, outcome } = await run();
  assertWellFormed(events);
  const result = only(events, "tool-result")[0];
  assertEquals([result.isError, result.content], [true, `unknown tool "nope"; available tools: echo`]);
  assertEquals(provider.requests.length, 2);
  assertEquals(provider.requests[1].messages[2], {
    role: "tool",
    results: [{
      toolCallId: "c1",
      toolName: "nope",
      content: `unknown tool "nope"; available tools: echo`,
      isError: true,
    }],
  });
  assertEquals(outcome.reason, "stop");
});

Deno.test("runTurn: with no tools at all, the unknown-tool error says so", async () => {
  const { run } = setup([[toolCall("c1", "echo", { text: "x" })], [text("ok")]], { tools: [] });
  const { events } = await run();
  assertEquals(only(events, "tool-result")[0].content, `unknown tool "echo"; available tools: none`);
});

Deno.test("runTurn: invalid arguments become a readable error naming the argument; the tool does not run", async () => {
  const spy = spyTool("spy");
  const { provider, run } = setup([
    [toolCall("c1", "echo", { text: 42 }), toolCall("c2", "spy", { value: ["x"] })],
    [text("retrying")],
  ], { tools: [echoTool, spy.handle] });
  const { events, outcome } = await run();
  const results = only(events, "tool-result");
  assertEquals(results.map((r) => r.isError), [true, true]);
  assertEquals(
    results[0].content,
    "invalid arguments for echo: text: Invalid input: expected string, received number",
  );
  assertMatch(results[1].content, /^invalid arguments for spy: value: /);
  assertEquals(spy.calls.length, 0);
  assertEquals(provider.requests.length, 2);
  assertEquals(outcome.reason, "stop");
});

Deno.test("runTurn: a throwing tool becomes an error result; the loop continues", async () => {
  const boom = spyTool("boom", () => Promise.reject(new Error("disk on fire")));
  const { provider, run } = setup([[toolCall("c1", "boom", {})], [text("oh no")]], { tools: [boom.handle] });
  const { events, outcome } = await run();
  assertWellFormed(events);
  const result = only(events, "tool-result")[0];
  assertEquals([result.isError, result.content], [true, "tool failed: disk on fire"]);
  assertEquals(provider.requests.length, 2);
  assertEquals(outcome.reason, "stop");
});

Deno.test("runTurn: a tool's own error result is passed through as an error", async () => {
  const soft = spyTool("soft", () => Promise.resolve({ content: "file not found", isError: true }));
  const { run } = setup([[toolCall("c1", "soft", {})], [text("ok")]], { tools: [soft.handle] });
  const { events } = await run();
  const result = only(events, "tool-result")[0];
  assertEquals([result.isError, result.content], [true, "file not found"]);
});

Deno.test("runTurn: tool output is streamed while the tool runs, before its tool-result", async () => {
  const release = Promise.withResolvers<void>();
  const streamer = spyTool("streamer", async (_input, ctx) => {
    ctx.emitOutput("line 1\n", "stdout");
    await release.promise; // only released once the consumer has seen line 1: proves it is live
    ctx.emitOutput("warning\n", "stderr");
    return "finished";
  });
  const { run } = setup([[toolCall("c1", "streamer", {})], [text("ok")]], { tools: [streamer.handle] });
  const { events } = await run((event) => {
    if (event.type === "tool-output" && event.data === "line 1\n") release.resolve();
  });
  assertWellFormed(events);
  assertEquals(types(events).slice(1, 6), [
    "tool-call",
    "tool-output",
    "tool-output",
    "tool-result",
    "step-complete",
  ]);
  assertEquals(only(events, "tool-output").map((e) => [e.toolCallId, e.stream, e.data]), [
    ["c1", "stdout", "line 1\n"],
    ["c1", "stderr", "warning\n"],
  ]);
  assertEquals(only(events, "tool-result")[0].content, "finished");
});

Deno.test("runTurn: output emitted after a tool finished is dropped", async () => {
  let late: (() => void) | undefined;
  const leaky = spyTool("leaky", (_input, ctx) => {
    late = () => ctx.emitOutput("too late", "stdout");
    return Promise.resolve("done");
  });
  const { run } = setup([[toolCall("c1", "leaky", {})], [text("ok")]], {
    tools: [leaky.handle],
  });
  const { events } = await run((event) => {
    if (event.type === "tool-result") late?.();
  });
  assertEquals(only(events, "tool-output"), []);
});

// ---------------------------------------------------------------- abort

for (const onAbort of ["end", "throw", "ignore"] as const) {
  Deno.test(`runTurn: abort mid-stream ends the turn promptly (provider on abort: ${onAbort})`, async () => {
    const { provider, controller, run } = setup([[text("partial"), stall(onAbort)]]);
    const { events, outcome } = await run((event) => {
      if (event.type === "text-delta") controller.abort();
    });
    assertWellFormed(events);
    assertEquals(only(events, "done")[0].reason, "aborted");
    assertEquals(only(events, "error"), [], "an abort is not an error");
    assertEquals(outcome.reason, "aborted");
    assertEquals(outcome.added, [{ role: "assistant", parts: [{ type: "text", text: "partial" }] }]);
    assertEquals(provider.calls.length, 1);
    assert(provider.calls[0].signal.aborted, "the provider's signal fired");
  });
}

Deno.test("runTurn: abort while the model's tool calls are pending closes each call with an error result", async () => {
  const spy = spyTool("spy");
  const { controller, run } = setup([[
    toolCall("c1", "spy", {}),
    toolCall("c2", "echo", { text: "x" }),
    stall("ignore"),
  ]], {
    tools: [spy.handle, echoTool],
  });
  const { events, outcome } = await run((event) => {
    if (event.type === "tool-call" && event.toolCallId === "c2") controller.abort();
  });
  assertWellFormed(events);
  assertEquals(spy.calls.length, 0, "no tool runs after abort");
  const results = only(events, "tool-result");
  assertEquals(results.map((r) => [r.toolCallId, r.isError, r.content]), [
    ["c1", true, "aborted before the tool ran"],
    ["c2", true, "aborted before the tool ran"],
  ]);
  assertEquals(
    results.map((r) => r.stepId),
    ["step-1", "step-1"],
    "results belong to the step that made the calls",
  );
  assertEquals(outcome.reason, "aborted");
  // History stays valid for the next turn: every tool call has a result.
  assertEquals(outcome.added.map((m) => m.role), ["assistant", "tool"]);
});

Deno.test("runTurn: an already-aborted signal ends the turn before any model call", async () => {
  const { provider, controller, run } = setup([[text("never")]]);
  controller.abort();
  const { events, outcome } = await run();
  assertEquals(types(events), ["turn-start", "done"]);
  assertEquals(outcome.reason, "aborted");
  assertEquals(provider.calls.length, 0);
});

Deno.test("runTurn: abort mid-tool fires the tool's signal; the result is an error and the turn ends aborted", async () => {
  let sawAbort = false;
  const waiter = spyTool("waiter", async (_input, ctx) => {
    ctx.emitOutput("working", "stdout");
    await abortion(ctx.signal);
    sawAbort = ctx.signal.aborted;
    return "stopped early"; // too late: the turn has already recorded the abort
  });
  const second = spyTool("second");
  const { provider, controller, run } = setup([
    [toolCall("c1", "waiter", {}), toolCall("c2", "second", {})],
    [text("never asked")],
  ], { tools: [waiter.handle, second.handle] });
  const { events, outcome } = await run((event) => {
    if (event.type === "tool-output") controller.abort(); // the tool is running now
  });
  assertWellFormed(events);
  assert(sawAbort, "the tool saw its signal fire");
  assertEquals(second.calls.length, 0, "later calls in the step do not run");
  assertEquals(only(events, "tool-result").map((r) => [r.toolCallId, r.isError, r.content]), [
    ["c1", true, "aborted while the tool ran"],
    ["c2", true, "aborted before the tool ran"],
  ]);
  assertEquals(types(events).slice(-2), ["step-complete", "done"]);
  assertEquals(only(events, "done")[0].reason, "aborted");
  assertEquals(outcome.reason, "aborted");
  assertEquals(provider.calls.length, 1, "no further model call");
});

Deno.test("runTurn: abort mid-tool ends promptly even if the tool ignores its signal", async () => {
  const stubborn = spyTool("stubborn", () => new Promise<never>(() => {}));
  const { controller, run } = setup([[toolCall("c1", "stubborn", {})]], { tools: [stubborn.handle] });
  const { events, outcome } = await run((event) => {
    if (event.type === "tool-call") setTimeout(() => controller.abort(), 5);
  });
  assertEquals(only(events, "tool-result")[0].content, "aborted while the tool ran");
  assertEquals(outcome.reason, "aborted");
});

// ---------------------------------------------------------------- limits and failures

Deno.test("runTurn: the step limit stops a looping model with a max_steps error and done(max-steps)", async () => {
  const loop: CallScript = (
    _request,
    call,
  ) => [toolCall(`c${call}`, "echo", { text: String(call) }), usage(1, 1)];
  const { provider, run } = setup([loop, loop, loop, loop], { maxSteps: 3 });
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(provider.calls.length, 3);
  assertEquals(only(events, "tool-result").length, 3);
  const error = only(events, "error");
  assertEquals(error.map((e) => [e.code, e.message]), [["max_steps", "stopped after 3 steps (step limit)"]]);
  assertEquals(types(events).slice(-3), ["step-complete", "error", "done"]);
  assertEquals(only(events, "done")[0].reason, "max-steps");
  assertEquals(outcome.reason, "max-steps");
  assertEquals(outcome.usage.inputTokens, 3);
});

Deno.test("runTurn: a ProviderError becomes an error event with its code and done(error)", async () => {
  const { run } = setup([[fail(new ProviderError("rate limited, retry later", "rate_limited", 429))]]);
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(types(events), ["turn-start", "error", "done"]);
  const error = only(events, "error")[0];
  assertEquals([error.code, error.message], ["rate_limited", "rate limited, retry later"]);
  assertEquals(only(events, "done")[0].reason, "error");
  assertEquals(outcome.reason, "error");
  assertEquals(outcome.added, []);
});

Deno.test("runTurn: any other provider failure gets code provider_error", async () => {
  const { run } = setup([[text("part"), fail(new TypeError("socket hang up"))]]);
  const { events, outcome } = await run();
  const error = only(events, "error")[0];
  assertEquals([error.code, error.message], ["provider_error", "socket hang up"]);
  assertEquals(outcome.reason, "error");
  assertEquals(outcome.added, [{ role: "assistant", parts: [{ type: "text", text: "part" }] }]);
});

Deno.test("runTurn: a provider failure after tool calls closes them, so history stays valid", async () => {
  const spy = spyTool("spy");
  const { run } = setup([[
    toolCall("c1", "spy", {}),
    fail(new ProviderError("stream broke", "stream_error")),
  ]], {
    tools: [spy.handle],
  });
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(spy.calls.length, 0);
  assertEquals(types(events), ["turn-start", "tool-call", "error", "tool-result", "done"]);
  const result = only(events, "tool-result")[0];
  assertEquals([result.isError, result.content, result.stepId], [
    true,
    "the model call failed before the tool ran",
    "step-1",
  ]);
  assertEquals(outcome.added.map((m) => m.role), ["assistant", "tool"]);
});

Deno.test("runTurn: a provider failure in a later step keeps the earlier steps in `added`", async () => {
  const { run } = setup([[toolCall("c1", "echo", { text: "a" })], [
    fail(new ProviderError("overloaded", "overloaded")),
  ]]);
  const { events, outcome } = await run();
  assertEquals(only(events, "error")[0].code, "overloaded");
  assertEquals(outcome.reason, "error");
  assertEquals(outcome.added.map((m) => m.role), ["assistant", "tool"]);
});

// ---------------------------------------------------------------- steering

Deno.test("runTurn: steering messages queued during a tool become steering events and user messages next step", async () => {
  const queue: string[] = [];
  const busy = spyTool("busy", () => {
    queue.push("also check B", "and C");
    return Promise.resolve("checked A");
  });
  const { provider, run } = setup([[toolCall("c1", "busy", {})], [text("B and C fine")]], {
    tools: [busy.handle],
    drainSteering: () => queue.splice(0),
  });
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(types(events), [
    "turn-start",
    "tool-call",
    "tool-result",
    "step-complete",
    "steering",
    "steering",
    "text-delta",
    "step-complete",
    "done",
  ]);
  assertEquals(only(events, "steering").map((e) => e.text), ["also check B", "and C"]);
  const sent = provider.requests[1].messages;
  assertEquals(sent.slice(-2), [{ role: "user", content: "also check B" }, {
    role: "user",
    content: "and C",
  }]);
  assertEquals(sent[2].role, "tool", "steering follows the tool results");
  assertEquals(outcome.added.map((m) => m.role), ["assistant", "tool", "user", "user", "assistant"]);
});

Deno.test("runTurn: a message queued before the first step joins the first request", async () => {
  const queue = ["actually, in French"];
  const { provider, run } = setup([[text("Bonjour")]], { drainSteering: () => queue.splice(0) });
  const { events } = await run();
  assertEquals(types(events).slice(0, 2), ["turn-start", "steering"]);
  assertEquals(provider.requests[0].messages, [USER, { role: "user", content: "actually, in French" }]);
});

Deno.test("runTurn: a message that arrives as the model stops continues the turn", async () => {
  const queue: string[] = [];
  const { provider, run } = setup([[text("Answer one.")], [text("Answer two.")]], {
    drainSteering: () => queue.splice(0),
  });
  const { events, outcome } = await run((event) => {
    if (event.type === "text-delta" && event.delta === "Answer one.") queue.push("one more thing");
  });
  assertWellFormed(events);
  assertEquals(types(events), [
    "turn-start",
    "text-delta",
    "step-complete",
    "steering",
    "text-delta",
    "step-complete",
    "done",
  ]);
  assertEquals(provider.requests.length, 2);
  assertEquals(provider.requests[1].messages, [
    USER,
    { role: "assistant", parts: [{ type: "text", text: "Answer one." }] },
    { role: "user", content: "one more thing" },
  ]);
  assertEquals(outcome.reason, "stop");
  assertEquals(outcome.added.length, 3);
});

// ---------------------------------------------------------------- hooks

Deno.test("runTurn: PrepareStepHook can rewrite messages, tools and model for each step", async () => {
  const hooks = new HookBus();
  const other = spyTool("other");
  const seen: { step: number; conversationId: string; turnId: string }[] = [];
  hooks.register(PrepareStepHook, (plan) => {
    seen.push({ step: plan.step, conversationId: plan.conversationId, turnId: plan.turnId });
    return {
      ...plan,
      model: `model-step-${plan.step}`,
      messages: [{ role: "system" as const, content: `step ${plan.step}` }, ...plan.messages],
      tools: plan.step === 1 ? [other.handle] : [],
    };
  });
  const { provider, run } = setup([[toolCall("c1", "other", {})], [text("done")]], {
    hooks: hooks.scope("ext"),
  });
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(seen, [
    { step: 1, conversationId: "conv-1", turnId: "turn-1" },
    { step: 2, conversationId: "conv-1", turnId: "turn-1" },
  ]);
  assertEquals(provider.requests.map((r) => r.model), ["model-step-1", "model-step-2"]);
  assertEquals(provider.requests.map((r) => r.tools.map((t) => t.name)), [["other"], []]);
  assertEquals(provider.requests[0].messages, [{ role: "system", content: "step 1" }, USER]);
  assertEquals(provider.requests[1].messages[0], { role: "system", content: "step 2" });
  assertEquals(
    provider.requests[1].messages.filter((m) => m.role === "system").length,
    1,
    "per step, not kept",
  );
  assertEquals(other.calls.length, 1, "the step's rewritten tool list is what runs");
  assertEquals(
    outcome.added.map((m) => m.role),
    ["assistant", "tool", "assistant"],
    "rewrites are not history",
  );
});

Deno.test("runTurn: a PrepareStepHook that edits the plan in place does not change the turn's history", async () => {
  const hooks = new HookBus();
  const tools = [echoTool];
  hooks.register(PrepareStepHook, (plan) => {
    plan.messages.unshift({ role: "system", content: "injected" });
    plan.tools.length = 0;
  });
  const { provider, run } = setup([[toolCall("c1", "echo", { text: "x" })], [text("ok")]], { hooks, tools });
  const { outcome } = await run();
  assertEquals(provider.requests[0].messages, [{ role: "system", content: "injected" }, USER]);
  assertEquals(provider.requests[0].tools, []);
  assertEquals(provider.requests[1].messages.filter((m) => m.role === "system").length, 1);
  assertEquals(tools, [echoTool], "the caller's tool list is untouched");
  assertEquals(outcome.added.map((m) => m.role), ["assistant", "tool", "assistant"]);
  assertEquals(outcome.added[0], {
    role: "assistant",
    parts: [{ type: "tool-call", toolCallId: "c1", toolName: "echo", input: { text: "x" } }],
  });
});

Deno.test("runTurn: the request a provider got is not changed afterwards by the turn", async () => {
  const received: ModelMessage[][] = [];
  const provider = new ScriptedProvider([[toolCall("c1", "echo", { text: "x" })], [text("ok")]]);
  const { run } = setup([], {
    provider: {
      id: "holder",
      listModels: (signal) => provider.listModels(signal),
      stream: (request, signal) => {
        received.push(request.messages); // keeps a reference, as a lazy provider might
        return provider.stream(request, signal);
      },
    },
  });
  await run();
  assertEquals(received[0], [USER]);
  assertEquals(received[1].length, 3);
});

Deno.test("runTurn: a PrepareStepHook veto ends the turn with an error before the model call", async () => {
  const hooks = new HookBus();
  hooks.register(PrepareStepHook, (plan) => (plan.step === 2 ? { veto: "budget exhausted" } : plan));
  const { provider, run } = setup([[toolCall("c1", "echo", { text: "x" })], [text("never")]], { hooks });
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(provider.calls.length, 1);
  const error = only(events, "error")[0];
  assertEquals([error.code, error.message], ["vetoed", "budget exhausted"]);
  assertEquals(only(events, "done")[0].reason, "error");
  assertEquals(outcome.reason, "error");
  assertEquals(outcome.added.map((m) => m.role), ["assistant", "tool"]);
});

Deno.test("runTurn: a throwing PrepareStepHook ends the turn with an error event, not an exception", async () => {
  const hooks = new HookBus();
  hooks.register(PrepareStepHook, () => {
    throw new Error("compaction failed");
  });
  const { provider, run } = setup([[text("never")]], { hooks });
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(provider.calls.length, 0);
  const error = only(events, "error")[0];
  assertEquals([error.code, error.message], ["hook_failed", "compaction failed"]);
  assertEquals(outcome.reason, "error");
});

Deno.test("runTurn: abort while a PrepareStepHook is pending ends the turn promptly", async () => {
  const hooks = new HookBus();
  hooks.register(PrepareStepHook, () => new Promise<never>(() => {}));
  const { provider, controller, run } = setup([[text("never")]], { hooks });
  const { events, outcome } = await run((event) => {
    if (event.type === "turn-start") setTimeout(() => controller.abort(), 5);
  });
  assertWellFormed(events);
  assertEquals(outcome.reason, "aborted");
  assertEquals(only(events, "error"), []);
  assertEquals(provider.calls.length, 0);
});

Deno.test("runTurn: BeforeToolCallHook sees the parsed call; a veto becomes the tool's error result", async () => {
  const hooks = new HookBus();
  const spy = spyTool("spy");
  const plans: unknown[] = [];
  hooks.register(BeforeToolCallHook, (plan) => {
    plans.push(plan);
    return plan.toolName === "spy" ? { veto: "needs approval" } : undefined;
  });
  const { provider, run } = setup([
    [toolCall("c1", "spy", { value: "rm -rf" }), toolCall("c2", "echo", { text: "fine" })],
    [text("ok")],
  ], { hooks, tools: [spy.handle, echoTool], cwd: "/w" });
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(plans, [
    { ...IDS, toolCallId: "c1", toolName: "spy", input: { value: "rm -rf" }, cwd: "/w" },
    { ...IDS, toolCallId: "c2", toolName: "echo", input: { text: "fine" }, cwd: "/w" },
  ]);
  assertEquals(spy.calls.length, 0);
  assertEquals(only(events, "tool-result").map((r) => [r.isError, r.content]), [
    [true, "tool call refused: needs approval"],
    [false, "echo: fine"],
  ]);
  assertEquals(provider.requests.length, 2, "the loop continues");
  assertEquals(outcome.reason, "stop");
});

Deno.test("runTurn: BeforeToolCallHook is not consulted for calls that fail to parse", async () => {
  const hooks = new HookBus();
  let consulted = 0;
  hooks.register(BeforeToolCallHook, () => void consulted++);
  const { run } = setup([[toolCall("c1", "echo", { text: 1 }), toolCall("c2", "ghost", {})], [text("ok")]], {
    hooks,
  });
  await run();
  assertEquals(consulted, 0);
});

Deno.test("runTurn: a throwing BeforeToolCallHook becomes the tool's error result; the loop continues", async () => {
  const hooks = new HookBus();
  const spy = spyTool("spy");
  hooks.register(BeforeToolCallHook, () => {
    throw new Error("policy store offline");
  });
  const { provider, run } = setup([[toolCall("c1", "spy", {})], [text("ok")]], {
    hooks,
    tools: [spy.handle],
  });
  const { events, outcome } = await run();
  assertWellFormed(events);
  assertEquals(spy.calls.length, 0);
  const result = only(events, "tool-result")[0];
  assertEquals(result.isError, true);
  assertMatch(result.content, /policy store offline/);
  assertEquals(provider.requests.length, 2);
  assertEquals(outcome.reason, "stop");
});

Deno.test("runTurn: abort while a BeforeToolCallHook waits (an approval) ends the turn promptly", async () => {
  const hooks = new HookBus();
  const spy = spyTool("spy");
  hooks.register(BeforeToolCallHook, () => new Promise<never>(() => {}));
  const { controller, run } = setup([[toolCall("c1", "spy", {})]], { hooks, tools: [spy.handle] });
  const { events, outcome } = await run((event) => {
    if (event.type === "tool-call") setTimeout(() => controller.abort(), 5);
  });
  assertWellFormed(events);
  assertEquals(spy.calls.length, 0);
  const result = only(events, "tool-result")[0];
  assertEquals([result.isError, result.content], [true, "aborted before the tool ran"]);
  assertEquals(outcome.reason, "aborted");
});

// ---------------------------------------------------------------- ids and the scripted provider itself

Deno.test("runTurn: each step gets a fresh id from newId, used by its tool calls, results and step-complete", async () => {
  const { run } = setup([[toolCall("c1", "echo", { text: "a" })], [toolCall("c2", "echo", { text: "b" })], [
    text("x"),
  ]]);
  const { events } = await run();
  assertEquals(only(events, "tool-call").map((e) => e.stepId), ["step-1", "step-2"]);
  assertEquals(only(events, "tool-result").map((e) => e.stepId), ["step-1", "step-2"]);
  assertEquals(only(events, "step-complete").map((e) => e.stepId), ["step-1", "step-2", "step-3"]);
});

Deno.test("ScriptedProvider: a call with no script left fails with script_exhausted", async () => {
  const { run } = setup([[toolCall("c1", "echo", { text: "a" })]]);
  const { events, outcome } = await run();
  assertEquals(only(events, "error")[0].code, "script_exhausted");
  assertEquals(outcome.reason, "error");
});

Deno.test("ScriptedProvider: lists its models and honours an aborted signal", async () => {
  const provider = new ScriptedProvider([], { id: "p", models: [{ id: "m1", contextWindow: 8 }] });
  assertEquals(await provider.listModels(), [{ id: "m1", contextWindow: 8 }]);
  const controller = new AbortController();
  controller.abort();
  let threw = false;
  try {
    await provider.listModels(controller.signal);
  } catch {
    threw = true;
  }
  assert(threw);
  assertEquals(provider.id, "p");
  assertEquals(provider.script([text("a")]).pending, 1);
});
