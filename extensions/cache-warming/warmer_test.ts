import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import {
  DispatchError,
  HookBus,
  type LogRecord,
  makeLogger,
  type ModelRequest,
  type ModelStreamPart,
  PrepareStepHook,
  type Provider,
  type ToolHandle,
} from "../../src/kernel/mod.ts";
import type { Conversation, ConversationStore } from "../conversation-store/api.ts";
import type { Orchestrator, RequestPrefix } from "../session-orchestrator/api.ts";
import { SETTING_KEY, type Timers, WARM_PROMPT, Warmer } from "./warmer.ts";

/** Timers run by hand. */
class ManualTimers implements Timers {
  pending = new Map<number, { fn: () => void; ms: number }>();
  #next = 1;
  set(fn: () => void, ms: number) {
    const id = this.#next++;
    this.pending.set(id, { fn, ms });
    return id;
  }
  clear(handle: unknown) {
    this.pending.delete(handle as number);
  }
  /** Fires every pending timer once. */
  fire(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const t of due) t.fn();
  }
}

function setup(opts: { maxIdleWarms?: number; defaultEnabled?: boolean } = {}) {
  const requests: ModelRequest[] = [];
  const provider: Provider = {
    id: "stub",
    listModels: () => Promise.resolve([]),
    async *stream(request): AsyncIterable<ModelStreamPart> {
      requests.push(request);
      yield { type: "text-delta", delta: "o" };
      yield { type: "usage", usage: { inputTokens: 200, outputTokens: 1, cacheReadTokens: 150 } };
      yield { type: "finish", reason: "length" };
    },
  };
  const tool: ToolHandle = {
    spec: { name: "t", description: "a tool", parameters: { type: "object" } },
    parse: (input) => ({ ok: true, value: input }),
    execute: () => Promise.resolve({ content: "", isError: false }),
  };
  const conversation: Conversation = {
    id: "c1",
    title: "t",
    status: "idle",
    createdAt: 0,
    lastActivityAt: 0,
    workspaceId: "default",
    cwd: null,
    model: null,
    reasoningEffort: "low",
    settings: {},
  };
  const store = {
    get: (id: string) => (id === conversation.id ? conversation : undefined),
    list: () => (conversation.status === "closed" ? [] : [conversation]),
    setSetting: (_id: string, key: string, value: unknown) => void (conversation.settings[key] = value),
  } as unknown as ConversationStore;
  let running = false;
  const orchestrator = {
    running: () => (running ? {} : undefined),
    prefix: (conversationId: string): Promise<RequestPrefix> =>
      Promise.resolve({
        conversationId,
        provider,
        modelName: "opencode/m",
        model: "m",
        messages: [{ role: "user", content: "hello" }, {
          role: "assistant",
          parts: [{ type: "text", text: "hi" }],
        }],
        tools: [tool],
        reasoningEffort: "low",
      }),
  } as unknown as Orchestrator;
  const hooks = new HookBus();
  const timers = new ManualTimers();
  const logs: LogRecord[] = [];
  const changed: string[] = [];
  const warmer = new Warmer({
    orchestrator,
    store,
    hooks: hooks.scope("test"),
    clock: { now: () => 1000 },
    log: makeLogger({ write: (r) => logs.push(r) }, { now: () => 0 }, "cache-warming"),
    options: {
      ttlMs: 300_000,
      intervalMs: 270_000,
      defaultEnabled: opts.defaultEnabled ?? false,
      maxIdleWarms: opts.maxIdleWarms ?? 0,
    },
    changed: (id) => changed.push(id),
    timers,
  });
  return {
    warmer,
    requests,
    conversation,
    hooks,
    timers,
    changed,
    setRunning: (r: boolean) => (running = r),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("a warm is the prefix, after the prepare-step hooks, plus one tiny message, with one output token", async () => {
  const { warmer, requests, hooks } = setup();
  hooks.register(PrepareStepHook, (plan) => ({
    ...plan,
    messages: [{ role: "system" as const, content: "SYSTEM" }, ...plan.messages],
  }));
  const result = await warmer.warm("c1");
  assertEquals(result, {
    inputTokens: 200,
    outputTokens: 1,
    cacheReadTokens: 150,
    cacheWriteTokens: 0,
    cachePct: 75,
    expectedCacheRate: 100,
  });
  assertEquals(requests.length, 1);
  assertEquals(requests[0].model, "m");
  assertEquals(requests[0].maxOutputTokens, 1);
  assertEquals(requests[0].reasoningEffort, "low");
  assertEquals(requests[0].tools.map((t) => t.name), ["t"]);
  assertEquals(requests[0].messages, [
    { role: "system", content: "SYSTEM" },
    { role: "user", content: "hello" },
    { role: "assistant", parts: [{ type: "text", text: "hi" }] },
    { role: "user", content: WARM_PROMPT },
  ]);
  const fields = warmer.fields("c1");
  assertEquals(fields.find((f) => f.id === "last-pct"), {
    kind: "stat",
    id: "last-pct",
    label: "Last Cache %",
    value: "75%",
  });
  // The reference frontend takes the first stat not labelled "retention" as the last cache rate.
  assertEquals(fields.find((f) => f.kind === "stat" && !/retention/i.test(f.label))?.id, "last-pct");
});

Deno.test("a vetoing hook, a running turn and an unknown conversation refuse the warm", async () => {
  const { warmer, hooks, setRunning } = setup();
  await assertRejects(() => warmer.warm("nope"), /no conversation nope/);
  setRunning(true);
  const busy = await assertRejects(() => warmer.warm("c1"), /a turn is running/);
  assert(busy instanceof DispatchError && busy.kind === "conflict");
  setRunning(false);
  hooks.register(PrepareStepHook, () => ({ veto: "not now" }));
  await assertRejects(() => warmer.warm("c1"), /warming refused: not now/);
});

Deno.test("the timer runs only while warming is on and the conversation is open and idle", async () => {
  const { warmer, requests, conversation, timers, setRunning } = setup();
  warmer.statusChanged("c1", "idle");
  assertEquals(timers.pending.size, 0, "off by default");

  warmer.setSettings("c1", { enabled: true });
  assertEquals(
    conversation.settings[SETTING_KEY],
    { enabled: true },
    "the interval still follows the default",
  );
  assertEquals([...timers.pending.values()].map((t) => t.ms), [270_000]);
  warmer.setSettings("c1", { intervalMs: 200 });
  assertEquals(
    conversation.settings[SETTING_KEY],
    { enabled: true, intervalMs: 1000 },
    "people choose >= 1 s",
  );
  warmer.setSettings("c1", { intervalMs: 5000 });
  assertEquals([...timers.pending.values()].map((t) => t.ms), [5000]);

  // A turn starts: no warming while it runs; it ends: the timer starts over.
  setRunning(true);
  warmer.statusChanged("c1", "active");
  assertEquals(timers.pending.size, 0);
  setRunning(false);
  warmer.statusChanged("c1", "idle");
  assertEquals(timers.pending.size, 1);

  timers.fire();
  await settle();
  assertEquals(requests.length, 1);
  assertEquals(timers.pending.size, 1, "re-armed after the warm");

  // Closed: the timer stops, and idle events do not bring it back until it is open again.
  conversation.status = "closed";
  warmer.statusChanged("c1", "closed");
  assertEquals(timers.pending.size, 0);
  warmer.statusChanged("c1", "idle");
  assertEquals(timers.pending.size, 0);
  conversation.status = "idle";
  warmer.statusChanged("c1", "idle");
  assertEquals(timers.pending.size, 1);

  warmer.setSettings("c1", { enabled: false });
  assertEquals(timers.pending.size, 0);
  warmer.stop();
});

Deno.test("automatic warms rest after the idle limit until a turn (or a person) acts", async () => {
  const { warmer, requests, timers } = setup({ maxIdleWarms: 2, defaultEnabled: true });
  warmer.start();
  assertEquals(timers.pending.size, 1, "warming on by default: armed at start");
  timers.fire();
  await settle();
  timers.fire();
  await settle();
  assertEquals(requests.length, 2);
  assertEquals(timers.pending.size, 0);
  assertEquals(warmer.fields("c1").find((f) => f.id === "state")?.kind === "stat", true);
  const state = warmer.fields("c1").find((f) => f.id === "state") as { value: string };
  assertEquals(state.value, "stopped after 2 warms without a turn");
  warmer.statusChanged("c1", "idle"); // a turn ended
  assertEquals(timers.pending.size, 1);
  await warmer.warm("c1"); // a manual warm resets the count too
  assertEquals(timers.pending.size, 1);
  warmer.stop();
  assertEquals(timers.pending.size, 0);
});
