import { assert, assertEquals } from "../../tests/assert.ts";
import nodeAssert from "node:assert/strict";
import { startFakeProvider } from "../../tests/fake_provider.ts";
import type { ModelInfo, Provider } from "../../src/kernel/mod.ts";
import { createOpenAICompatProvider } from "../provider-openai-compat/openai_stream.ts";
import { UnknownModelError } from "./api.ts";
import { createModelCatalog } from "./catalog.ts";

/** A provider whose only behaviour is listing; counts its calls. */
function listing(id: string, list: () => Promise<ModelInfo[]>): Provider & { calls: number } {
  const p = {
    id,
    calls: 0,
    listModels() {
      p.calls++;
      return list();
    },
    // deno-lint-ignore require-yield
    async *stream() {
      throw new Error("not used");
    },
  };
  return p;
}

const unknown = (fn: () => unknown, pattern: RegExp) =>
  nodeAssert.throws(fn, (e: unknown) => e instanceof UnknownModelError && pattern.test(e.message));

Deno.test("catalog: resolve splits at the first slash; bare ids go to the default credential", () => {
  const catalog = createModelCatalog();
  const opencode = listing("opencode", () => Promise.resolve([]));
  const umans = listing("umans", () => Promise.resolve([]));
  catalog.registerProvider("opencode", opencode);
  catalog.registerProvider("umans", umans);

  const a = catalog.resolve("opencode/deepseek-v4-flash");
  // Providers are wrapped (the reasoning-effort fallback): the same provider id, not the same object.
  assertEquals([a.name, a.provider.id, a.model], [
    "opencode/deepseek-v4-flash",
    opencode.id,
    "deepseek-v4-flash",
  ]);
  const b = catalog.resolve("umans/org/model-x");
  assertEquals([b.name, b.provider.id, b.model], ["umans/org/model-x", umans.id, "org/model-x"]);
  const c = catalog.resolve("deepseek-v4-flash");
  assertEquals([c.name, c.provider.id, c.model], [
    "opencode/deepseek-v4-flash",
    opencode.id,
    "deepseek-v4-flash",
  ]);
  const d = catalog.resolve("  opencode/m  ");
  assertEquals(d.name, "opencode/m");
});

Deno.test("catalog: unknown credentials and empty names are UnknownModelErrors naming the known ones", () => {
  const catalog = createModelCatalog();
  catalog.registerProvider("opencode", listing("opencode", () => Promise.resolve([])));
  catalog.registerProvider("umans", listing("umans", () => Promise.resolve([])));
  unknown(
    () => catalog.resolve("openai/gpt-9"),
    /unknown credential "openai".*known credentials: opencode, umans/,
  );
  unknown(() => catalog.resolve("opencode/"), /names a credential but no model/);
  unknown(() => catalog.resolve(""), /no model given/);

  const noDefault = createModelCatalog();
  noDefault.registerProvider("umans", listing("umans", () => Promise.resolve([])));
  unknown(() => noDefault.resolve("bare-model"), /default credential "opencode" is not configured.*umans/);
  unknown(() => createModelCatalog().resolve("x/y"), /known credentials: none/);
});

Deno.test("catalog: registration rules and unregistering", () => {
  const catalog = createModelCatalog();
  const off = catalog.registerProvider("opencode", listing("opencode", () => Promise.resolve([])));
  nodeAssert.throws(
    () => catalog.registerProvider("opencode", listing("x", () => Promise.resolve([]))),
    /already has a provider/,
  );
  nodeAssert.throws(
    () => catalog.registerProvider("a/b", listing("x", () => Promise.resolve([]))),
    /no "\/"/,
  );
  off();
  unknown(() => catalog.resolve("opencode/m"), /unknown credential/);
});

Deno.test("catalog: defaultModel is <default credential>/<DISPATCH_MODEL>", () => {
  let model: string | undefined = "deepseek-v4-flash";
  const catalog = createModelCatalog({ defaultModel: () => model });
  assertEquals(catalog.defaultModel(), "opencode/deepseek-v4-flash");
  model = "opencode/already-qualified";
  assertEquals(catalog.defaultModel(), "opencode/already-qualified");
  model = undefined;
  assertEquals(catalog.defaultModel(), undefined);
  assertEquals(createModelCatalog().defaultModel(), undefined);
});

Deno.test("catalog: list aggregates real providers; one refused, one stalled, one failing do not break it", async () => {
  const up = await startFakeProvider({ models: [{ id: "fast", context_length: 64000 }, { id: "org/slow" }] });
  const stalled = await startFakeProvider();
  stalled.onModels = (_req, signal) =>
    new Promise((resolve) => signal.addEventListener("abort", () => resolve(new Response(""))));
  const failing = await startFakeProvider();
  failing.onModels = () => Response.json({ error: { message: "maintenance" } }, { status: 503 });
  const refused = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const refusedPort = (refused.addr as Deno.NetAddr).port;
  refused.close();
  try {
    // The stalled one never answers: the timeout alone ends its listing. Long enough that a loaded machine
    // still lists the healthy one in time (the suite runs files in parallel).
    const catalog = createModelCatalog({ listTimeoutMs: 2000 });
    const provider = (id: string, baseUrl: string) =>
      createOpenAICompatProvider({ id, baseUrl, apiKey: "k" });
    catalog.registerProvider("opencode", provider("opencode", up.baseUrl));
    catalog.registerProvider("stalled", provider("stalled", stalled.baseUrl));
    catalog.registerProvider("failing", provider("failing", failing.baseUrl));
    catalog.registerProvider("down", provider("down", `http://127.0.0.1:${refusedPort}/v1`));

    const result = await catalog.list();
    assertEquals(result.models, ["opencode/fast", "opencode/org/slow"]);
    // A model its provider gives no figure for gets the default (DISPATCH_CONTEXT_WINDOW, else 128000).
    assertEquals(result.modelInfo, {
      "opencode/fast": { contextWindow: 64000 },
      "opencode/org/slow": { contextWindow: 128_000 },
    });
    const why = Object.fromEntries(result.unavailable.map((u) => [u.credential, u.error]));
    assertEquals(Object.keys(why).sort(), ["down", "failing", "stalled"]);
    assert(/timed out/.test(why.stalled), why.stalled);
    assert(/maintenance/.test(why.failing), why.failing);
    assert(/connection refused/.test(why.down), why.down);
  } finally {
    await Promise.all([up.close(), stalled.close(), failing.close()]);
  }
});

Deno.test("catalog: successful listings are cached for the TTL, failures never", async () => {
  let now = 0;
  let fail = true;
  const flaky = listing(
    "b",
    () => fail ? Promise.reject(new Error("down")) : Promise.resolve([{ id: "m2" }]),
  );
  const steady = listing("a", () => Promise.resolve([{ id: "m1" }]));
  const catalog = createModelCatalog({ cacheTtlMs: 60_000, clock: { now: () => now } });
  catalog.registerProvider("a", steady);
  catalog.registerProvider("b", flaky);

  let result = await catalog.list();
  assertEquals(result.models, ["a/m1"]);
  assertEquals(result.unavailable, [{ credential: "b", error: "down" }]);
  fail = false;
  now = 1_000;
  result = await catalog.list();
  assertEquals(result.models, ["a/m1", "b/m2"]);
  assertEquals([steady.calls, flaky.calls], [1, 2]); // a cached, b retried
  now = 61_001;
  await catalog.list();
  assertEquals([steady.calls, flaky.calls], [2, 3]); // both expired
});

Deno.test("catalog: concurrent lists share one in-flight call per provider", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const slow = listing("a", async () => {
    await gate;
    return [{ id: "m" }];
  });
  const catalog = createModelCatalog();
  catalog.registerProvider("a", slow);
  const both = Promise.all([catalog.list(), catalog.list()]);
  release();
  const [x, y] = await both;
  assertEquals([x.models, y.models, slow.calls], [["a/m"], ["a/m"], 1]);
});

Deno.test("catalog: a provider ignoring its abort signal still times out", async () => {
  const never = listing("a", () => new Promise(() => {}));
  const catalog = createModelCatalog({ listTimeoutMs: 30 });
  catalog.registerProvider("a", never);
  const result = await catalog.list();
  assertEquals(result.unavailable, [{ credential: "a", error: "a: listing models timed out after 30 ms" }]);
});

Deno.test("catalog: info finds a model's context window; unknown names and models are undefined", async () => {
  const catalog = createModelCatalog();
  catalog.registerProvider(
    "opencode",
    listing("opencode", () => Promise.resolve([{ id: "m", contextWindow: 1000 }])),
  );
  assertEquals(await catalog.info("m"), { id: "opencode/m", contextWindow: 1000 });
  assertEquals(await catalog.info("opencode/m"), { id: "opencode/m", contextWindow: 1000 });
  assertEquals(await catalog.info("opencode/other"), undefined);
  assertEquals(await catalog.info("nobody/m"), undefined);
});
