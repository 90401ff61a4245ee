import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import {
  DispatchError,
  EventBus,
  type LogRecord,
  makeLogger,
  ServiceRegistry,
} from "../../src/kernel/mod.ts";
import type { SurfaceField, SurfaceUpdate } from "../../src/contract/ui.ts";
import { type SurfaceHandler, SurfaceUpdated } from "./api.ts";
import { Registry } from "./registry.ts";
import { SurfaceRegistryKey as TodoSideKey } from "../todo/mod.ts";
import { SurfaceRegistryKey } from "./api.ts";

function setup(maxConversations?: number) {
  const events = new EventBus();
  const services = new ServiceRegistry();
  const logs: LogRecord[] = [];
  const registry = new Registry({
    events,
    services: services.scope("test"),
    log: makeLogger({ write: (r) => logs.push(r) }, { now: () => 0 }, "surface-registry"),
    maxConversations,
  });
  const updates: SurfaceUpdate[] = [];
  events.on(SurfaceUpdated, (u) => updates.push(u));
  return { registry, services, updates, logs };
}

const stat = (value: string): SurfaceField => ({ kind: "stat", label: "v", value });

Deno.test("contributions are validated and listed; a taken id is refused until withdrawn", () => {
  const { registry } = setup();
  registry.contribute({ id: "a", region: "side", title: "A" });
  registry.contribute({ id: "b", region: "side", title: "B", scope: "conversation", fields: [stat("0")] });
  assertEquals(registry.catalog(), [
    { id: "a", region: "side", title: "A", scope: "global" },
    { id: "b", region: "side", title: "B", scope: "conversation" },
  ]);
  const taken = assertThrows(
    () => registry.contribute({ id: "a", region: "top", title: "A2" }),
    /already contributed/,
  );
  assert(taken instanceof DispatchError && taken.kind === "conflict");
  registry.withdraw("a");
  registry.contribute({ id: "a", region: "top", title: "A2" });
  assertEquals(registry.catalog()[1], { id: "a", region: "top", title: "A2", scope: "global" });

  for (
    const bad of [
      { id: "Bad Id", region: "side", title: "x" },
      { id: "c", region: "", title: "x" },
      { id: "c", region: "side", title: "x", fields: [{ kind: "toggle", label: "t", value: "yes" }] },
      { id: "c", region: "side", title: "x", scope: "everywhere" },
      { id: "c", region: "side", title: "x", extra: 1 },
      { id: "c", region: "side", title: "x", handlerService: "session-orchestrator" },
    ]
  ) {
    const error = assertThrows(() => registry.contribute(bad as never), /invalid surface/);
    assert(error instanceof DispatchError && error.kind === "invalid");
  }
  registry.withdraw("a");
  assertEquals(registry.catalog().map((e) => e.id), ["b"]);
  assertThrows(
    () =>
      registry.contribute({ id: "z", region: "side", title: "Z", handlerService: "session-orchestrator" }),
    /surface-handler:/,
  );
});

Deno.test("conversation surfaces keep fields per conversation; global ones refuse a conversation id", async () => {
  const { registry, updates } = setup(2);
  registry.contribute({ id: "g", region: "side", title: "G", fields: [stat("g0")] });
  registry.contribute({
    id: "c",
    region: "side",
    title: "C",
    scope: "conversation",
    fields: [stat("default")],
  });

  registry.update("c", [stat("one")], "c1");
  registry.update("c", [stat("two")], "c2");
  assertEquals((await registry.spec("c", "c1")).fields, [stat("one")]);
  assertEquals((await registry.spec("c", "c3")).fields, [stat("default")]);
  assertEquals((await registry.spec("c")).fields, [stat("default")], "no conversation focused: the defaults");
  assertEquals(updates.at(-1), {
    surfaceId: "c",
    conversationId: "c2",
    spec: { id: "c", region: "side", title: "C", fields: [stat("two")] },
  });
  registry.update("c", [stat("three")], "c3"); // over the limit of 2: c1, least recently updated, goes
  assertEquals((await registry.spec("c", "c1")).fields, [stat("default")]);
  registry.forget("c", "c2");
  assertEquals((await registry.spec("c", "c2")).fields, [stat("default")]);

  assertThrows(() => registry.update("c", [stat("x")]), /per conversation/);
  assertThrows(() => registry.update("g", [stat("x")], "c1"), /is global/);
  assertThrows(() => registry.update("g", [{ kind: "nope" }] as never), /invalid fields/);
  assertThrows(() => registry.update("missing", []), /no surface missing/);
  registry.update("g", [stat("g1")]);
  assertEquals((await registry.spec("g", "ignored")).fields, [stat("g1")]);
  await assertRejects(() => registry.spec("missing"), /no surface/);
});

Deno.test("actions go to the attached handler, or to the service the contribution names (sandboxed)", async () => {
  const { registry, services, updates } = setup();
  registry.contribute({ id: "local", region: "side", title: "L", scope: "conversation" });
  const seen: unknown[] = [];
  const detach = registry.attach("local", {
    invoke: (req) => (seen.push(req), { ok: true }),
    render: ({ conversationId }) => [stat(`rendered for ${conversationId}`)],
  });
  assertEquals(
    await registry.invoke({ surfaceId: "local", actionId: "go", payload: 1, conversationId: "c1" }),
    { ok: true },
  );
  assertEquals(seen, [{ surfaceId: "local", actionId: "go", payload: 1, conversationId: "c1" }]);
  await assertRejects(() => registry.invoke({ surfaceId: "local", actionId: "go" }), /per conversation/);
  assertEquals((await registry.spec("local", "c9")).fields, [stat("rendered for c9")]);
  await registry.refresh("local", "c9");
  assertEquals(updates.at(-1)?.spec.fields, [stat("rendered for c9")]);
  detach();
  await assertRejects(
    () => registry.invoke({ surfaceId: "local", actionId: "go", conversationId: "c1" }),
    /no actions/,
  );

  // What a sandboxed contributor does: provide a handler service (the bridge proxies it), name it.
  registry.contribute({ id: "remote", region: "side", title: "R", handlerService: "surface-handler:remote" });
  await assertRejects(() => registry.invoke({ surfaceId: "remote", actionId: "x" }), /no actions/);
  const handler: SurfaceHandler = {
    invoke: ({ actionId, payload }) => Promise.resolve({ actionId, payload }),
    render: () => Promise.reject(new Error("worker crashed")),
  };
  services.provide({ id: "surface-handler:remote" }, handler);
  assertEquals(await registry.invoke({ surfaceId: "remote", actionId: "x", payload: [1] }), {
    actionId: "x",
    payload: [1],
  });
  // A failing render falls back to the stored fields.
  assertEquals((await registry.spec("remote")).fields, []);
});

Deno.test("the todo extension's copy of the registry key names the same service", () => {
  assertEquals(TodoSideKey.id, SurfaceRegistryKey.id);
});

Deno.test("each extension's view: its own surfaces only; contributing its own id again replaces it", async () => {
  const { registry } = setup();
  const mine = registry.viewFor("ext-a");
  const theirs = registry.viewFor("ext-b");
  mine.contribute({ id: "a", region: "side", title: "A", fields: [stat("a0")] });
  const ran: string[] = [];
  mine.attach("a", { invoke: ({ actionId }) => ran.push(actionId) });
  for (
    const attempt of [
      () => theirs.update("a", [stat("spoofed")]),
      () => theirs.withdraw("a"),
      () => theirs.forget("a", "c1"),
      () => theirs.attach("a", {}),
    ]
  ) {
    const error = assertThrows(attempt);
    assert(error instanceof DispatchError && error.code === "foreign_surface", String(error));
  }
  await assertRejects(
    () => theirs.invoke({ surfaceId: "a", actionId: "go" }),
    /contributed by ext-a, not ext-b/,
  );
  await assertRejects(() => theirs.spec("a"), /contributed by ext-a/);
  await assertRejects(() => theirs.refresh("a"), /contributed by ext-a/);
  assertThrows(
    () => theirs.contribute({ id: "a", region: "side", title: "Mine now" }),
    /already contributed/,
  );
  assertThrows(
    () => theirs.contribute({ id: "b", region: "side", title: "B", handlerService: "surface-handler:ext-a" }),
    /is not ext-b's/,
  );
  assertEquals(theirs.catalog().map((e) => e.id), ["a"], "the catalog lists every surface");
  assertEquals(await mine.invoke({ surfaceId: "a", actionId: "go" }), 1);
  assertEquals(ran, ["go"]);
  // Restarted after a crash, ext-a contributes again: its old surface is replaced, not refused.
  mine.contribute({ id: "a", region: "top", title: "A again" });
  assertEquals(registry.catalog(), [{ id: "a", region: "top", title: "A again", scope: "global" }]);
  theirs.withdraw("missing"); // withdrawing nothing is still a no-op
  mine.withdraw("a");
  assertEquals(registry.catalog(), []);
});
