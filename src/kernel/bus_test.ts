import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { defineKey, EventBus, HookBus, isVeto, ServiceRegistry, type Veto } from "./bus.ts";

interface Greeter {
  greet(name: string): string;
}
const GreeterKey = defineKey<Greeter>("test.greeter");
const CounterKey = defineKey<{ n: number }>("test.counter");

// ---------------------------------------------------------------- services

Deno.test("services: provide then require and get return the same implementation", () => {
  const registry = new ServiceRegistry();
  const impl: Greeter = { greet: (name) => `hi ${name}` };
  registry.scope("ext-a").provide(GreeterKey, impl);

  const other = registry.scope("ext-b");
  assert(other.require(GreeterKey) === impl);
  assert(other.get(GreeterKey) === impl);
  assertEquals(other.require(GreeterKey).greet("bo"), "hi bo");
});

Deno.test("services: a second provider is refused with an error naming the key and the first owner", () => {
  const registry = new ServiceRegistry();
  registry.scope("ext-a").provide(GreeterKey, { greet: () => "a" });
  const error = assertThrows(() => registry.scope("ext-b").provide(GreeterKey, { greet: () => "b" }));
  assertEquals(error.message, `service "test.greeter" is already provided by ext-a`);
  assertEquals(registry.require(GreeterKey).greet(""), "a", "the first provider stays");
});

Deno.test("services: require of a missing service names it and hints at dependsOn; get returns undefined", () => {
  const registry = new ServiceRegistry();
  const error = assertThrows(() => registry.scope("ext-a").require(GreeterKey));
  assertEquals(
    error.message,
    `service "test.greeter" is not provided (is its extension loaded and in dependsOn?)`,
  );
  assertEquals(registry.scope("ext-a").get(GreeterKey), undefined);
});

Deno.test("services: keys match by id, so two defineKey calls with one id name the same service", () => {
  const registry = new ServiceRegistry();
  registry.provide(defineKey<number>("test.n"), 42, "ext-a");
  assertEquals(registry.require(defineKey<number>("test.n")), 42);
});

Deno.test("services: withdraw removes only that owner's services, and the key can be provided again", () => {
  const registry = new ServiceRegistry();
  registry.scope("ext-a").provide(GreeterKey, { greet: () => "a" });
  registry.scope("ext-a").provide(CounterKey, { n: 1 });
  registry.scope("ext-b").provide(defineKey<string>("test.other"), "b");

  registry.withdraw("ext-a");
  assertEquals(registry.get(GreeterKey), undefined);
  assertEquals(registry.get(CounterKey), undefined);
  assertEquals(registry.get(defineKey<string>("test.other")), "b");

  registry.scope("ext-c").provide(GreeterKey, { greet: () => "c" });
  assertEquals(registry.require(GreeterKey).greet(""), "c");
});

// ---------------------------------------------------------------- hooks

Deno.test("hooks: run with no handlers returns the value unchanged; has reflects registration", async () => {
  const bus = new HookBus();
  const value = { n: 1 };
  assertEquals(bus.has(CounterKey), false);
  assert((await bus.run(CounterKey, value)) === value);
  const off = bus.register(CounterKey, () => {});
  assertEquals(bus.has(CounterKey), true);
  off();
  assertEquals(bus.has(CounterKey), false);
});

Deno.test("hooks: lower priority runs first, ties in registration order (default priority 0)", async () => {
  const bus = new HookBus();
  const seen: string[] = [];
  const note = (name: string) => () => void seen.push(name);
  bus.register(CounterKey, note("p10"), { priority: 10 });
  bus.register(CounterKey, note("p0-first"));
  bus.register(CounterKey, note("p-5"), { priority: -5 });
  bus.register(CounterKey, note("p0-second"), { priority: 0 });
  bus.register(CounterKey, note("p10-second"), { priority: 10 });
  await bus.run(CounterKey, { n: 0 });
  assertEquals(seen, ["p-5", "p0-first", "p0-second", "p10", "p10-second"]);
});

Deno.test("hooks: each handler sees the previous one's value; returning nothing keeps it", async () => {
  const bus = new HookBus();
  const seen: number[] = [];
  bus.register(CounterKey, (v) => ({ n: v.n + 1 }));
  bus.register(CounterKey, (v) => void seen.push(v.n)); // keep
  bus.register(CounterKey, (v) => ({ n: v.n * 10 }));
  assertEquals(await bus.run(CounterKey, { n: 1 }), { n: 20 });
  assertEquals(seen, [2]);
});

Deno.test("hooks: a veto stops the chain and is returned", async () => {
  const bus = new HookBus();
  let laterRan = false;
  bus.register(CounterKey, (v) => ({ n: v.n + 1 }));
  bus.register(CounterKey, (v) => (v.n > 1 ? { veto: `too big: ${v.n}` } : v));
  bus.register(CounterKey, () => void (laterRan = true));
  const out = await bus.run(CounterKey, { n: 1 });
  assert(isVeto(out));
  assertEquals((out as Veto).veto, "too big: 2");
  assertEquals(laterRan, false);
});

Deno.test("hooks: async handlers are awaited in order", async () => {
  const bus = new HookBus();
  const seen: string[] = [];
  bus.register(CounterKey, async (v) => {
    await new Promise((r) => setTimeout(r, 5));
    seen.push("slow");
    return { n: v.n + 1 };
  });
  bus.register(CounterKey, (v) => {
    seen.push("fast");
    return Promise.resolve({ n: v.n * 3 });
  });
  assertEquals(await bus.run(CounterKey, { n: 1 }), { n: 6 });
  assertEquals(seen, ["slow", "fast"]);
});

Deno.test("hooks: an async veto stops the chain", async () => {
  const bus = new HookBus();
  let laterRan = false;
  bus.register(CounterKey, () => Promise.resolve({ veto: "no" }));
  bus.register(CounterKey, () => void (laterRan = true));
  assertEquals(await bus.run(CounterKey, { n: 1 }), { veto: "no" });
  assertEquals(laterRan, false);
});

Deno.test("hooks: a throwing handler rejects run (the caller decides what that means)", async () => {
  const bus = new HookBus();
  bus.register(CounterKey, () => {
    throw new Error("hook broke");
  });
  await assertRejects(() => bus.run(CounterKey, { n: 1 }), /hook broke/);
});

Deno.test("hooks: unregister removes exactly that handler, and is idempotent", async () => {
  const bus = new HookBus();
  const seen: string[] = [];
  const offA = bus.register(CounterKey, () => void seen.push("a"));
  bus.register(CounterKey, () => void seen.push("b"));
  offA();
  offA();
  await bus.run(CounterKey, { n: 0 });
  assertEquals(seen, ["b"]);
});

Deno.test("hooks: unregistering during a run does not disturb that run", async () => {
  const bus = new HookBus();
  const seen: string[] = [];
  let offB = () => {};
  bus.register(CounterKey, () => {
    seen.push("a");
    offB();
  });
  offB = bus.register(CounterKey, () => void seen.push("b"));
  await bus.run(CounterKey, { n: 0 });
  await bus.run(CounterKey, { n: 0 });
  assertEquals(seen, ["a", "b", "a"]);
});

Deno.test("hooks: scope records the owner, and withdraw removes only that owner's handlers", async () => {
  const bus = new HookBus();
  const seen: string[] = [];
  bus.scope("ext-a").register(CounterKey, () => void seen.push("a1"));
  bus.scope("ext-b").register(CounterKey, () => void seen.push("b"), { priority: 1 });
  bus.scope("ext-a").register(CounterKey, () => void seen.push("a2"), { priority: 2 });
  bus.withdraw("ext-a");
  await bus.scope("ext-c").run(CounterKey, { n: 0 });
  assertEquals(seen, ["b"]);
  assertEquals(bus.scope("ext-c").has(CounterKey), true);
});

Deno.test("hooks: handlers for different keys are independent", async () => {
  const bus = new HookBus();
  const other = defineKey<{ n: number }>("test.other");
  bus.register(CounterKey, () => ({ veto: "counter only" }));
  assertEquals(await bus.run(other, { n: 5 }), { n: 5 });
});

Deno.test("isVeto: only objects with a string veto field", () => {
  assert(isVeto({ veto: "why" }));
  assert(isVeto({ veto: "" }));
  assert(!isVeto({ veto: 1 }));
  assert(!isVeto(null));
  assert(!isVeto("veto"));
  assert(!isVeto(undefined));
});

// ---------------------------------------------------------------- events

const PingKey = defineKey<{ seq: number }>("test.ping");

Deno.test("events: every listener gets the payload, in subscription order", () => {
  const bus = new EventBus();
  const seen: string[] = [];
  bus.on(PingKey, (p) => void seen.push(`a${p.seq}`));
  bus.scope("ext-b").on(PingKey, (p) => void seen.push(`b${p.seq}`));
  bus.emit(PingKey, { seq: 1 });
  bus.scope("ext-c").emit(PingKey, { seq: 2 });
  assertEquals(seen, ["a1", "b1", "a2", "b2"]);
});

Deno.test("events: emit with no listeners is a no-op", () => {
  new EventBus(() => {
    throw new Error("must not be called");
  }).emit(PingKey, { seq: 1 });
});

Deno.test("events: a throwing listener is reported with event id and owner; the others still run", () => {
  const reported: { eventId: string; owner: string; error: unknown }[] = [];
  const bus = new EventBus((eventId, owner, error) => reported.push({ eventId, owner, error }));
  const seen: string[] = [];
  bus.on(PingKey, () => void seen.push("first"), "ext-a");
  bus.scope("ext-bad").on(PingKey, () => {
    throw new Error("listener broke");
  });
  bus.on(PingKey, () => void seen.push("last"), "ext-c");

  bus.emit(PingKey, { seq: 1 }); // does not throw
  assertEquals(seen, ["first", "last"]);
  assertEquals(reported.length, 1);
  assertEquals(reported[0].eventId, "test.ping");
  assertEquals(reported[0].owner, "ext-bad");
  assertEquals((reported[0].error as Error).message, "listener broke");
});

Deno.test("events: a listener returning a rejected promise is reported too, not left unhandled", async () => {
  const reported: { owner: string; error: unknown }[] = [];
  const bus = new EventBus((_id, owner, error) => reported.push({ owner, error }));
  // An async function is a valid Listener (it returns void as far as the type goes).
  bus.scope("ext-async").on(PingKey, async () => {
    await Promise.resolve();
    throw new Error("async listener broke");
  });
  bus.emit(PingKey, { seq: 1 });
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(reported.length, 1);
  assertEquals(reported[0].owner, "ext-async");
  assertEquals((reported[0].error as Error).message, "async listener broke");
});

Deno.test("events: without an error callback a throwing listener is swallowed", () => {
  const bus = new EventBus();
  let ran = false;
  bus.on(PingKey, () => {
    throw new Error("x");
  });
  bus.on(PingKey, () => void (ran = true));
  bus.emit(PingKey, { seq: 1 });
  assert(ran);
});

Deno.test("events: unsubscribe stops delivery to that listener only, and is idempotent", () => {
  const bus = new EventBus();
  const seen: string[] = [];
  const offA = bus.on(PingKey, () => void seen.push("a"));
  bus.on(PingKey, () => void seen.push("b"));
  bus.emit(PingKey, { seq: 1 });
  offA();
  offA();
  bus.emit(PingKey, { seq: 2 });
  assertEquals(seen, ["a", "b", "b"]);
});

Deno.test("events: the same function subscribed twice is called twice and unsubscribed separately", () => {
  const bus = new EventBus();
  let count = 0;
  const fn = () => void count++;
  const off1 = bus.on(PingKey, fn);
  bus.on(PingKey, fn);
  bus.emit(PingKey, { seq: 1 });
  assertEquals(count, 2);
  off1();
  bus.emit(PingKey, { seq: 2 });
  assertEquals(count, 3);
});

Deno.test("events: withdraw removes only that owner's listeners", () => {
  const bus = new EventBus();
  const seen: string[] = [];
  bus.scope("ext-a").on(PingKey, () => void seen.push("a"));
  bus.scope("ext-b").on(PingKey, () => void seen.push("b"));
  bus.scope("ext-a").on(defineKey<void>("test.other"), () => void seen.push("a-other"));
  bus.withdraw("ext-a");
  bus.emit(PingKey, { seq: 1 });
  bus.emit(defineKey<void>("test.other"), undefined);
  assertEquals(seen, ["b"]);
});
