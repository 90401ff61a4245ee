// The registry's sandbox design, across the real bridge: a sandboxed contributor provides a handler service and
// names it in its contribution; the registry invokes and renders through it.
import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { ExtensionHost } from "../../src/kernel/mod.ts";
import { sandboxedEntry } from "../../src/sandbox/mod.ts";
import { SurfaceRegistryKey, type SurfaceUpdate, SurfaceUpdated } from "./api.ts";
import * as registryMod from "./mod.ts";
import { manifest } from "./testdata/counter/mod.ts";

Deno.test("a sandboxed contributor answers actions and renders through the service it provides", async () => {
  const host = new ExtensionHost({ sink: { write: () => {} } });
  await host.boot([
    { manifest: registryMod.manifest, activate: registryMod.activate },
    sandboxedEntry(manifest, new URL("./testdata/counter/mod.ts", import.meta.url), {
      exposeServices: ["surface-registry"],
    }),
  ]);
  try {
    assertEquals(host.list().map((s) => s.status), ["active", "active"]);
    const registry = host.services.require(SurfaceRegistryKey);
    const updates: SurfaceUpdate[] = [];
    host.events.on(SurfaceUpdated, (u) => updates.push(u));
    assertEquals((await registry.spec("counter")).fields, [{ kind: "stat", label: "count", value: "0" }]);
    assertEquals(await registry.invoke({ surfaceId: "counter", actionId: "add", payload: 2 }), { count: 2 });
    assertEquals(await registry.invoke({ surfaceId: "counter", actionId: "add", payload: 3 }), { count: 5 });
    assertEquals(updates.at(-1)?.spec.fields, [{ kind: "stat", label: "count", value: "5" }]);
    assertEquals((await registry.spec("counter")).fields[0], { kind: "stat", label: "count", value: "5" });
    await assertRejects(
      () => registry.invoke({ surfaceId: "counter", actionId: "reset" }),
      /no action reset/,
    );
  } finally {
    await host.shutdown();
  }
});
