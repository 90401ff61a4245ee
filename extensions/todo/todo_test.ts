import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import { ExtensionHost, type LogRecord } from "../../src/kernel/mod.ts";
import { sandboxedEntry } from "../../src/sandbox/mod.ts";
import * as registryMod from "../surface-registry/mod.ts";
import { SurfaceRegistryKey } from "../surface-registry/api.ts";
import * as todoMod from "./mod.ts";

const todos = [{ content: "Plan", status: "completed" }, { content: "Build", status: "in_progress" }];

async function runTodo(sandboxed: boolean) {
  const logs: LogRecord[] = [];
  const host = new ExtensionHost({ sink: { write: (r) => logs.push(r) } });
  await host.boot([
    { manifest: registryMod.manifest, activate: registryMod.activate },
    sandboxed
      ? sandboxedEntry(todoMod.manifest, new URL("./mod.ts", import.meta.url), {
        exposeServices: ["surface-registry"],
      })
      : { manifest: todoMod.manifest, activate: todoMod.activate },
  ]);
  try {
    assertEquals(host.list().map((s) => [s.id, s.status]), [["surface-registry", "active"], [
      "todo",
      "active",
    ]], JSON.stringify(logs));
    const registry = host.services.require(SurfaceRegistryKey);
    assertEquals(registry.catalog().find((e) => e.id === "todo")?.scope, "conversation");
    const tool = host.tools.list().find((t) => t.spec.name === "todo_write")!;
    const ctx = {
      signal: new AbortController().signal,
      conversationId: "c1",
      turnId: "t1",
      toolCallId: "call1",
      emitOutput: () => {},
    };
    const parsed = tool.parse({ todos });
    const result = await tool.execute(parsed.ok ? parsed.value : undefined, ctx);
    assertEquals(result.isError, false, result.content);
    assertMatch(result.content, /2 tasks \(1 completed, 1 in progress, 0 pending\)/);
    assertEquals((await registry.spec("todo", "c1")).fields, [{
      kind: "custom",
      rendererId: "todo",
      payload: { todos },
    }]);
    assertEquals((await registry.spec("todo", "c2")).fields[0], {
      kind: "custom",
      rendererId: "todo",
      payload: { todos: [] },
    });
    const bad = tool.parse({ todos: [{ content: "x", status: "someday" }] });
    if (sandboxed) {
      // The host passes input through; the worker parses it with the extension's schema.
      assert(bad.ok);
      const out = await tool.execute(bad.value, ctx);
      assertEquals(out.isError, true);
    } else {
      assert(!bad.ok, "an unknown status is refused in-process");
    }
  } finally {
    await host.shutdown();
  }
}

Deno.test("todo_write updates the per-conversation todo surface (in-process)", () => runTodo(false));
Deno.test("todo_write works sandboxed, reaching the registry through the bridge's service calls", () =>
  runTodo(true));
