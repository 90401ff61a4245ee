import { z } from "zod";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../../tests/assert.ts";
import type { ExtensionContext, ManifestInput } from "./contracts.ts";
import { defineKey } from "./bus.ts";
import { activationOrder, BootError, type ExtensionEntry, ExtensionHost } from "./host.ts";
import { CollectingLogSink, ManualClock } from "./testing.ts";

type Activate = ExtensionEntry["activate"];

/** A manifest with the required fields filled in. */
const manifest = (id: string, more: Partial<ManifestInput> = {}): ManifestInput => ({
  id,
  version: "1.0.0",
  description: `test extension ${id}`,
  ...more,
});

/** A host plus a journal of activations/deactivations, to build entries that record what happens. */
function harness(opts: { config?: Record<string, string> } = {}) {
  const sink = new CollectingLogSink();
  const host = new ExtensionHost({ sink, clock: new ManualClock(1000), config: opts.config });
  const journal: string[] = [];
  const ext = (
    id: string,
    more: Partial<ManifestInput> = {},
    activate: Activate = () => {},
    sandboxed?: boolean,
  ): ExtensionEntry => ({
    manifest: manifest(id, more),
    sandboxed,
    async activate(ctx) {
      journal.push(`activate ${id}`);
      const deactivate = await activate(ctx);
      return async () => {
        journal.push(`deactivate ${id}`);
        await deactivate?.();
      };
    },
  });
  const state = (id: string) => host.list().find((s) => s.id === id);
  return { host, sink, journal, ext, state };
}

const TestService = defineKey<{ value: string }>("test.service");
const TestHook = defineKey<{ n: number }>("test.hook");
const TestEvent = defineKey<string>("test.event");

// ---------------------------------------------------------------- activationOrder

Deno.test("activationOrder: independent extensions keep declaration order", () => {
  const { order, refused } = activationOrder([
    { id: "c", dependsOn: [] },
    { id: "a", dependsOn: [] },
    { id: "b", dependsOn: [] },
  ]);
  assertEquals(order, ["c", "a", "b"]);
  assertEquals(refused.size, 0);
});

Deno.test("activationOrder: dependencies come first, otherwise declaration order", () => {
  const { order } = activationOrder([
    { id: "app", dependsOn: ["store", "log"] },
    { id: "other", dependsOn: [] },
    { id: "store", dependsOn: ["sqlite"] },
    { id: "log", dependsOn: [] },
    { id: "sqlite", dependsOn: [] },
  ]);
  assertEquals(order, ["sqlite", "store", "log", "app", "other"]);
});

Deno.test("activationOrder: a diamond activates the shared dependency once, before both sides", () => {
  const { order } = activationOrder([
    { id: "top", dependsOn: ["left", "right"] },
    { id: "left", dependsOn: ["base"] },
    { id: "right", dependsOn: ["base"] },
    { id: "base", dependsOn: [] },
  ]);
  assertEquals(order, ["base", "left", "right", "top"]);
});

Deno.test("activationOrder: every order respects every dependency edge", () => {
  const manifests = [
    { id: "e", dependsOn: ["d", "a"] },
    { id: "d", dependsOn: ["b", "c"] },
    { id: "c", dependsOn: ["a"] },
    { id: "b", dependsOn: ["a", "c"] },
    { id: "a", dependsOn: [] },
    { id: "f", dependsOn: ["e", "b"] },
  ];
  const { order, refused } = activationOrder(manifests);
  assertEquals(refused.size, 0);
  assertEquals(order.length, manifests.length);
  for (const m of manifests) {
    for (const dep of m.dependsOn) assert(order.indexOf(dep) < order.indexOf(m.id), `${dep} before ${m.id}`);
  }
});

Deno.test("activationOrder: a cycle refuses its members, naming the cycle; the rest still order", () => {
  const { order, refused } = activationOrder([
    { id: "a", dependsOn: ["b"] },
    { id: "b", dependsOn: ["c"] },
    { id: "c", dependsOn: ["a"] },
    { id: "free", dependsOn: [] },
  ]);
  assertEquals(order, ["free"]);
  assertEquals([...refused.keys()].sort(), ["a", "b", "c"]);
  for (const id of ["a", "b", "c"]) assertEquals(refused.get(id), "dependency cycle: a -> b -> c -> a");
});

Deno.test("activationOrder: a self-dependency is a cycle", () => {
  const { order, refused } = activationOrder([{ id: "narcissus", dependsOn: ["narcissus"] }]);
  assertEquals(order, []);
  assertEquals(refused.get("narcissus"), "dependency cycle: narcissus -> narcissus");
});

Deno.test("activationOrder: extensions depending on a cycle are refused, naming the refused dependency", () => {
  const { order, refused } = activationOrder([
    { id: "user", dependsOn: ["x"] },
    { id: "x", dependsOn: ["y"] },
    { id: "y", dependsOn: ["x"] },
  ]);
  assertEquals(order, []);
  assertEquals(refused.get("x"), "dependency cycle: x -> y -> x");
  assertEquals(refused.get("y"), "dependency cycle: x -> y -> x");
  assertEquals(refused.get("user"), "dependency x was refused (dependency cycle: x -> y -> x)");
});

Deno.test("activationOrder: a cycle reached through a non-member does not refuse that member as a cycle", () => {
  const { refused } = activationOrder([
    { id: "entry", dependsOn: ["p"] },
    { id: "p", dependsOn: ["q"] },
    { id: "q", dependsOn: ["p"] },
  ]);
  assertEquals(refused.get("p"), "dependency cycle: p -> q -> p");
  assertMatch(refused.get("entry")!, /^dependency p was refused/);
});

Deno.test("activationOrder: a missing dependency is named, and its dependents are refused in turn", () => {
  const { order, refused } = activationOrder([
    { id: "a", dependsOn: ["ghost"] },
    { id: "b", dependsOn: ["a"] },
    { id: "c", dependsOn: [] },
  ]);
  assertEquals(order, ["c"]);
  assertEquals(refused.get("a"), "missing dependency: ghost");
  assertEquals(refused.get("b"), "dependency a was refused (missing dependency: ghost)");
});

// ---------------------------------------------------------------- boot: order and context

Deno.test("boot: activates dependencies first; list() reports every extension as active", async () => {
  const { host, journal, ext } = harness();
  await host.boot([
    ext("app", { dependsOn: ["store"] }),
    ext("store", { dependsOn: ["storage"], core: true }),
    ext("storage", { core: true }),
    ext("extra"),
  ]);
  assertEquals(journal, ["activate storage", "activate store", "activate app", "activate extra"]);
  assertEquals(host.list().map((s) => [s.id, s.status]), [
    ["storage", "active"],
    ["store", "active"],
    ["app", "active"],
    ["extra", "active"],
  ]);
});

Deno.test("boot: activate is awaited before the next extension starts", async () => {
  const { host, journal, ext } = harness();
  await host.boot([
    ext("slow", {}, async () => {
      await new Promise((r) => setTimeout(r, 10));
      journal.push("slow ready");
    }),
    ext("next"),
  ]);
  assertEquals(journal, ["activate slow", "slow ready", "activate next"]);
});

Deno.test("boot: the context carries the parsed manifest (defaults filled), config and a tagged logger", async () => {
  const { host, sink, ext } = harness({ config: { MODE: "test" } });
  let seen: ExtensionContext | undefined;
  await host.boot([
    ext("probe", {}, (ctx) => {
      seen = ctx;
      ctx.log.info("hello", { extra: 1 });
    }, true),
  ]);
  assert(seen);
  assertEquals(seen.manifest, {
    id: "probe",
    version: "1.0.0",
    description: "test extension probe",
    dependsOn: [],
    permissions: {},
    core: false,
  });
  assertEquals(seen.config, { MODE: "test" });
  assert(Object.isFrozen(seen.config));
  assertEquals(seen.clock.now(), 1000);
  assertEquals(sink.matching("hello"), [{ extra: 1, time: 1000, level: "info", msg: "hello", ext: "probe" }]);
  const state = host.list()[0];
  assertEquals(state.sandboxed, true);
  assertEquals(state.manifest?.id, "probe");
});

Deno.test("boot: a dependency's service, hook and tool are visible to its dependent", async () => {
  const { host, ext } = harness();
  let got: string | undefined;
  await host.boot([
    ext("consumer", { dependsOn: ["provider"] }, (ctx) => {
      got = ctx.services.require(TestService).value;
      assertEquals(ctx.tools.list().map((t) => t.spec.name), ["provided_tool"]);
      assert(ctx.hooks.has(TestHook));
    }),
    ext("provider", {}, (ctx) => {
      ctx.services.provide(TestService, { value: "from provider" });
      ctx.hooks.register(TestHook, (v) => v);
      ctx.tools.register({
        name: "provided_tool",
        description: "d",
        inputSchema: z.object({}),
        execute: () => Promise.resolve("ok"),
      });
    }),
  ]);
  assertEquals(got, "from provider");
  assertEquals(host.tools.owners(), [{ name: "provided_tool", owner: "provider" }]);
});

// ---------------------------------------------------------------- boot: refusals

Deno.test("boot: a non-core cycle is refused with an error naming it; the others run", async () => {
  const { host, sink, journal, ext, state } = harness();
  await host.boot([ext("ok"), ext("ping", { dependsOn: ["pong"] }), ext("pong", { dependsOn: ["ping"] })]);
  assertEquals(journal, ["activate ok"]);
  assertEquals(state("ok")?.status, "active");
  for (const id of ["ping", "pong"]) {
    assertEquals(state(id)?.status, "failed");
    assertEquals(state(id)?.error, "dependency cycle: ping -> pong -> ping");
  }
  assertEquals(sink.matching("extension disabled").map((r) => r.extension).sort(), ["ping", "pong"]);
});

Deno.test("boot: a core extension in a cycle is a BootError naming the cycle, before anything activates", async () => {
  const { host, journal, ext } = harness();
  const error = await assertRejects(() =>
    host.boot([
      ext("first"),
      ext("kernel-a", { core: true, dependsOn: ["kernel-b"] }),
      ext("kernel-b", { dependsOn: ["kernel-a"] }),
    ])
  );
  assert(error instanceof BootError);
  assertStringIncludes(error.message, "dependency cycle: kernel-a -> kernel-b -> kernel-a");
  assertStringIncludes(error.message, "kernel-a");
  assertEquals(journal, []);
});

Deno.test("boot: a missing dependency is named; a core one missing it is a BootError", async () => {
  const { host, ext, state } = harness();
  await host.boot([ext("needy", { dependsOn: ["nowhere"] }), ext("fine")]);
  assertEquals(state("needy")?.status, "failed");
  assertEquals(state("needy")?.error, "missing dependency: nowhere");
  assertEquals(state("fine")?.status, "active");

  const core = harness();
  const error = await assertRejects(() =>
    core.host.boot([core.ext("needy", { dependsOn: ["nowhere"], core: true })])
  );
  assert(error instanceof BootError);
  assertEquals(error.message, "core extension needy: missing dependency: nowhere");
});

Deno.test("boot: invalid manifests are refused with a readable message; valid ones still run", async () => {
  const { host, ext, state } = harness();
  const bad = (m: unknown): ExtensionEntry => ({ manifest: m as ManifestInput, activate: () => {} });
  await host.boot([
    bad(manifest("Bad_ID")),
    bad({ ...manifest("extra-field"), surprise: true }),
    bad({ id: "wrong-types", version: 1, description: "d", dependsOn: "x" }),
    bad({ ...manifest("bad-perms"), permissions: { ffi: true } }),
    ext("good"),
  ]);
  assertEquals(state("good")?.status, "active");

  assertEquals(state("Bad_ID")?.status, "failed");
  assertEquals(
    state("Bad_ID")?.error,
    "invalid manifest: id: id must be lower-case letters, digits and dashes",
  );
  assertEquals(state("Bad_ID")?.manifest, undefined);

  assertEquals(state("extra-field")?.error, `invalid manifest: manifest: Unrecognized key: "surprise"`);

  const types = state("wrong-types")?.error ?? "";
  assertMatch(types, /^invalid manifest: /);
  assertMatch(types, /version: Invalid input: expected string, received number/);
  assertMatch(types, /dependsOn: Invalid input: expected array, received string/);

  assertMatch(state("bad-perms")?.error ?? "", /^invalid manifest: permissions\.ffi: /);
});

Deno.test("boot: a manifest that is not even an object is refused under `?`", async () => {
  const { host, state } = harness();
  await host.boot([{ manifest: null as unknown as ManifestInput, activate: () => {} }]);
  assertEquals(state("?")?.status, "failed");
  assertEquals(
    state("?")?.error,
    "invalid manifest: manifest: Invalid input: expected object, received null",
  );
});

Deno.test("boot: an invalid core manifest is a BootError", async () => {
  const { host } = harness();
  const error = await assertRejects(() =>
    host.boot([{ manifest: { ...manifest("core-x"), core: true, version: "" }, activate: () => {} }])
  );
  assert(error instanceof BootError);
  assertMatch(error.message, /^extension core-x: invalid manifest: version: /);
});

Deno.test("boot: a duplicate id is a BootError, before anything activates", async () => {
  const { host, journal, ext } = harness();
  const error = await assertRejects(() => host.boot([ext("twin"), ext("other"), ext("twin")]));
  assert(error instanceof BootError);
  assertEquals(error.message, `extension id "twin" is declared twice`);
  assertEquals(journal, []);
});

// ---------------------------------------------------------------- boot: failure isolation

Deno.test("boot: a throwing non-core activate leaves the others running and withdraws its registrations", async () => {
  const { host, sink, ext, state } = harness();
  let unregisterAfterFailure: (() => void) | undefined;
  await host.boot([
    ext("before", {}, (ctx) => ctx.services.provide(defineKey<number>("test.before"), 1)),
    ext("broken", {}, (ctx) => {
      ctx.services.provide(TestService, { value: "half-built" });
      ctx.tools.register({
        name: "half_tool",
        description: "d",
        inputSchema: z.object({}),
        execute: () => Promise.resolve(""),
      });
      unregisterAfterFailure = ctx.hooks.register(TestHook, () => ({ veto: "from broken" }));
      ctx.events.on(TestEvent, () => {
        throw new Error("must not be reached");
      });
      throw new Error("activation exploded");
    }),
    ext("after"),
  ]);

  assertEquals(state("before")?.status, "active");
  assertEquals(state("after")?.status, "active");
  assertEquals(state("broken")?.status, "failed");
  assertEquals(state("broken")?.error, "activate failed: activation exploded");

  assertEquals(host.services.get(TestService), undefined);
  assertEquals(host.services.get(defineKey<number>("test.before")), 1);
  assertEquals(host.tools.list(), []);
  assertEquals(host.hooks.has(TestHook), false);
  assertEquals(await host.hooks.run(TestHook, { n: 1 }), { n: 1 });
  host.events.emit(TestEvent, "x");
  assertEquals(sink.matching("event listener threw"), []);
  unregisterAfterFailure?.(); // harmless after withdraw

  const disabled = sink.matching("extension disabled");
  assertEquals(disabled.length, 1);
  assertEquals(disabled[0].extension, "broken");
  assertEquals(disabled[0].level, "error");
});

Deno.test("boot: a rejecting async activate is isolated the same way", async () => {
  const { host, ext, state } = harness();
  await host.boot([
    ext("async-broken", {}, async (ctx) => {
      ctx.services.provide(TestService, { value: "x" });
      await Promise.resolve();
      throw new Error("later failure");
    }),
    ext("fine"),
  ]);
  assertEquals(state("async-broken")?.error, "activate failed: later failure");
  assertEquals(host.services.get(TestService), undefined);
  assertEquals(state("fine")?.status, "active");
});

Deno.test("boot: dependents of a failed extension are disabled with a reason, transitively", async () => {
  const { host, journal, ext, state } = harness();
  await host.boot([
    ext("base", {}, () => {
      throw new Error("no");
    }),
    ext("mid", { dependsOn: ["base"] }),
    ext("leaf", { dependsOn: ["mid"] }),
    ext("bystander"),
  ]);
  assertEquals(journal, ["activate base", "activate bystander"]);
  assertEquals(state("mid")?.status, "failed");
  assertEquals(state("mid")?.error, "dependency base is not active");
  assertEquals(state("leaf")?.error, "dependency mid is not active");
  assertEquals(state("bystander")?.status, "active");
});

Deno.test("boot: a core extension depending on a failed one is a BootError", async () => {
  const { host, ext } = harness();
  const error = await assertRejects(() =>
    host.boot([
      ext("optional", {}, () => {
        throw new Error("no");
      }),
      ext("needs-it", { core: true, dependsOn: ["optional"] }),
    ])
  );
  assert(error instanceof BootError);
  assertEquals(error.message, "core extension needs-it: dependency optional is not active");
});

Deno.test("boot: a throwing core activate is a clear BootError; its registrations are withdrawn", async () => {
  const { host, journal, ext } = harness();
  const error = await assertRejects(() =>
    host.boot([
      ext("early"),
      ext("storage", { core: true }, (ctx) => {
        ctx.services.provide(TestService, { value: "partial" });
        throw new Error("disk is read-only");
      }),
      ext("late"),
    ])
  );
  assert(error instanceof BootError);
  assertEquals(error.name, "BootError");
  assertEquals(error.message, "core extension storage failed to activate: disk is read-only");
  assertEquals(host.services.get(TestService), undefined);
  assertEquals(journal, ["activate early", "activate storage"], "boot stops at the core failure");

  // Whatever did start can still be shut down by the caller.
  await host.shutdown();
  assertEquals(journal.at(-1), "deactivate early");
});

Deno.test("boot: a non-Error throw still produces a readable message", async () => {
  const { host, ext, state } = harness();
  await host.boot([
    ext("weird", {}, () => {
      throw "plain string";
    }),
  ]);
  assertEquals(state("weird")?.error, "activate failed: plain string");
});

// ---------------------------------------------------------------- shutdown

Deno.test("shutdown: deactivates in reverse activation order and marks extensions stopped", async () => {
  const { host, journal, ext } = harness();
  await host.boot([ext("c", { dependsOn: ["a"] }), ext("a"), ext("b")]);
  journal.length = 0;
  await host.shutdown();
  assertEquals(journal, ["deactivate b", "deactivate c", "deactivate a"]);
  assertEquals(host.list().map((s) => s.status), ["stopped", "stopped", "stopped"]);
});

Deno.test("shutdown: a failing deactivate is logged and does not stop the others", async () => {
  const { host, sink, journal, ext } = harness();
  await host.boot([
    ext("first"),
    ext("grumpy", {}, () => () => {
      throw new Error("refuses to stop");
    }),
    ext("async-grumpy", {}, () => () => Promise.reject(new Error("async refusal"))),
    ext("last"),
  ]);
  journal.length = 0;
  await host.shutdown();
  assertEquals(journal, [
    "deactivate last",
    "deactivate async-grumpy",
    "deactivate grumpy",
    "deactivate first",
  ]);
  const failures = sink.matching("deactivate failed");
  assertEquals(failures.map((r) => [r.extension, r.error]), [
    ["async-grumpy", "async refusal"],
    ["grumpy", "refuses to stop"],
  ]);
  assertEquals(host.list().every((s) => s.status === "stopped"), true);
});

Deno.test("shutdown: awaits each deactivate before the next", async () => {
  const { host, journal, ext } = harness();
  await host.boot([
    ext("a"),
    ext("b", {}, () => async () => {
      await new Promise((r) => setTimeout(r, 10));
      journal.push("b finished");
    }),
  ]);
  journal.length = 0;
  await host.shutdown();
  assertEquals(journal, ["deactivate b", "b finished", "deactivate a"]);
});

Deno.test("shutdown: withdraws every registration; failed extensions stay failed; a second call is a no-op", async () => {
  const { host, journal, ext, state } = harness();
  await host.boot([
    ext("svc", {}, (ctx) => {
      ctx.services.provide(TestService, { value: "v" });
      ctx.hooks.register(TestHook, (v) => v);
    }),
    ext("broken", {}, () => {
      throw new Error("x");
    }),
  ]);
  await host.shutdown();
  assertEquals(host.services.get(TestService), undefined);
  assertEquals(host.hooks.has(TestHook), false);
  assertEquals(state("svc")?.status, "stopped");
  assertEquals(state("broken")?.status, "failed");
  const before = journal.length;
  await host.shutdown();
  assertEquals(journal.length, before);
});

Deno.test("shutdown: an extension without a deactivate is simply stopped", async () => {
  const sink = new CollectingLogSink();
  const host = new ExtensionHost({ sink });
  const noDeactivate: Activate = () => {};
  await host.boot([{ manifest: manifest("plain"), activate: noDeactivate }]);
  await host.shutdown();
  assertEquals(host.list()[0].status, "stopped");
  assertEquals(sink.matching("deactivate failed"), []);
});

// ---------------------------------------------------------------- list and logging

Deno.test("list: states for active, failed (with reason) and sandboxed extensions", async () => {
  const { host, ext } = harness();
  await host.boot([
    ext("alpha", { core: true }),
    ext("beta", {}, () => {
      throw new Error("nope");
    }, true),
    ext("gamma", { dependsOn: ["missing"] }),
  ]);
  const states = host.list().map(({ id, status, sandboxed, error }) => ({ id, status, sandboxed, error }));
  assertEquals(states.sort((a, b) => a.id.localeCompare(b.id)), [
    { id: "alpha", status: "active", sandboxed: false, error: undefined },
    { id: "beta", status: "failed", sandboxed: true, error: "activate failed: nope" },
    { id: "gamma", status: "failed", sandboxed: false, error: "missing dependency: missing" },
  ]);
});

Deno.test("host: an event listener that throws is logged with the event and its owner", async () => {
  const { host, sink, ext } = harness();
  await host.boot([
    ext("listener", {}, (ctx) => {
      ctx.events.on(TestEvent, () => {
        throw new Error("listener broke");
      });
    }),
    ext("emitter", {}, (ctx) => ctx.events.emit(TestEvent, "hello")),
  ]);
  const logged = sink.matching("event listener threw");
  assertEquals(logged.length, 1);
  assertEquals(logged[0].event, "test.event");
  assertEquals(logged[0].owner, "listener");
  assertEquals(logged[0].error, "listener broke");
  assertEquals(logged[0].ext, "host");
});

Deno.test("host: an extension that reports a failure after activation is listed as failed; others stay", async () => {
  const { host, ext, state } = harness();
  let report: ((reason: string) => void) | undefined;
  await host.boot([
    ext("flaky", {}, (ctx) => {
      report = ctx.reportFailure;
    }),
    ext("steady"),
  ]);
  assertEquals(state("flaky")?.status, "active");
  report!("crashed: out of memory");
  assertEquals(state("flaky")?.status, "failed");
  assertEquals(state("flaky")?.error, "crashed: out of memory");
  assertEquals(state("steady")?.status, "active");
  await host.shutdown();
});
