// The example run the way the daemon runs it: in its own sandbox host process under bubblewrap, with exactly
// its manifest's permissions; its declared tool starts the sandbox on the first call.
import { assertEquals } from "../../tests/assert.ts";
import { ExtensionHost } from "@dispatch/kernel";
import { sandboxedEntry } from "../../src/sandbox/mod.ts";
import { manifest } from "./manifest.ts";

Deno.test("examples/hello: the tool greets, sandboxed", async () => {
  const entry = sandboxedEntry(manifest, new URL("./mod.ts", import.meta.url));
  const host = new ExtensionHost({ sink: { write() {} } });
  try {
    await host.boot([entry]);
    assertEquals(host.list().map((s) => [s.id, s.status]), [["hello", "active"]]);
    assertEquals(entry.state(), "idle"); // declared tools: nothing runs until the first call
    const tool = host.tools.list().find((t) => t.spec.name === "hello")!;
    const parsed = tool.parse({ name: "Ada" });
    assertEquals(parsed.ok, true);
    const result = await tool.execute(parsed.ok ? parsed.value : undefined, {
      signal: new AbortController().signal,
      conversationId: "c1",
      turnId: "t1",
      toolCallId: "call1",
      emitOutput: () => {},
    });
    assertEquals(result, { content: "hello, Ada", isError: false });
  } finally {
    await host.shutdown();
  }
});
