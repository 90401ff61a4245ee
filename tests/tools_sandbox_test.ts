// The coding tools through the real sandbox (src/sandbox): each extension in its own Worker with exactly its
// manifest's permissions, "$WORKSPACE_ROOTS" expanded to a temp root. Proves the manifests ask for enough and
// that containment and run_shell's process-group kill (through bash's `kill`, Deno.kill needing full `run`
// permission) hold there too.
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { ExtensionHost, type ManifestInput, type ToolContext, type ToolHandle } from "../src/kernel/mod.ts";
import { sandboxedEntry } from "../src/sandbox/mod.ts";
import { waitGone } from "./process.ts";

const EXTENSIONS = [
  "tool-read-file",
  "tool-write-file",
  "tool-edit-file",
  "tool-grep",
  "tool-glob",
  "tool-shell",
];

async function assertGone(pid: number): Promise<void> {
  assert(await waitGone(pid), `process ${pid} was killed`);
}

Deno.test("the tools run sandboxed with only their manifest's permissions", async () => {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-sandbox-" }));
  const cwd = join(root, "work");
  await Deno.mkdir(join(cwd, ".dispatch"), { recursive: true });
  await Deno.writeTextFile(join(cwd, "a.txt"), "hello\n");
  await Deno.writeTextFile(join(cwd, ".env"), "KEY=TOPSECRET\n");
  await Deno.symlink("/etc/hostname", join(cwd, "out"));

  const entries = [];
  for (const ext of EXTENSIONS) {
    const { manifest } = await import(`../extensions/${ext}/manifest.ts`) as { manifest: ManifestInput };
    entries.push(sandboxedEntry(manifest, new URL(`../extensions/${ext}/mod.ts`, import.meta.url), {
      expand: (placeholder) => (placeholder === "$WORKSPACE_ROOTS" ? [root] : []),
    }));
  }
  const host = new ExtensionHost({
    sink: { write() {} },
    config: { DISPATCH_PROTECTED_PATHS: JSON.stringify([join(cwd, ".dispatch"), join(cwd, ".env")]) },
  });
  try {
    await host.boot(entries);
    for (const s of host.list()) assertEquals(s.status, "active", `${s.id}: ${s.error}`);
    const tools = new Map<string, ToolHandle>(host.tools.list().map((t) => [t.spec.name, t]));
    const call = async (name: string, input: unknown, signal = new AbortController().signal) => {
      const tool = tools.get(name)!;
      const parsed = tool.parse(input);
      assert(parsed.ok);
      const ctx: ToolContext = {
        signal,
        conversationId: "c",
        turnId: "t",
        toolCallId: "x",
        cwd,
        emitOutput() {},
      };
      return await tool.execute(parsed.value, ctx);
    };

    assertEquals(await call("read_file", { path: "a.txt" }), { content: "     1\thello", isError: false });
    assertMatch((await call("read_file", { path: "out" })).content, /through a symbolic link/);
    assertMatch((await call("read_file", { path: ".env" })).content, /protected path/);
    assertEquals(
      (await call("write_file", { path: "b.txt", content: "one two" })).content,
      "created b.txt: wrote 7 bytes",
    );
    assertEquals(
      (await call("edit_file", { path: "b.txt", oldString: "two", newString: "2" })).content,
      "edited b.txt: 1 replacement",
    );
    assertEquals(await Deno.readTextFile(join(cwd, "b.txt")), "one 2");
    assertEquals((await call("grep", { pattern: "hello|TOPSECRET" })).content, "a.txt:1:hello");
    assertEquals((await call("glob", { pattern: "**" })).content, "a.txt\nb.txt");

    assertEquals(await call("run_shell", { command: "echo hi; pwd" }), {
      content: `hi\n${cwd}\nexit code 0`,
      isError: false,
    });
    const forever = (name: string) => `sleep 1000 & echo $! > ${name}; echo $$; sleep 1000`;
    const timedOut = await call("run_shell", { command: forever("bg1"), timeoutMs: 500 });
    assertMatch(timedOut.content, /^\d+\nkilled: timeout after 500ms$/);
    await assertGone(Number(timedOut.content.split("\n")[0]));
    await assertGone(Number(await Deno.readTextFile(join(cwd, "bg1"))));

    // Abort: the bridge settles the call at once and tells the worker, which kills the group.
    const controller = new AbortController();
    const aborted = call("run_shell", { command: forever("bg2") }, controller.signal);
    for (let i = 0; i < 250 && !(await Deno.stat(join(cwd, "bg2")).catch(() => null)); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    controller.abort();
    await assertRejects(() => aborted, /aborted/);
    await assertGone(Number(await Deno.readTextFile(join(cwd, "bg2"))));
  } finally {
    await host.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});
