// The coding tools through the real sandbox (src/sandbox): each extension in its own host process under
// bubblewrap, in a Worker with exactly its manifest's permissions, "$WORKSPACE_ROOTS" expanded to a temp root.
// Proves the manifests ask for enough, and that containment and run_shell's kill of everything a command
// started (its own PID namespace, nested inside the host process's view) hold there too.
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { ExtensionHost, type ManifestInput, type ToolContext, type ToolHandle } from "../src/kernel/mod.ts";
import { sandboxedEntry } from "../src/sandbox/mod.ts";
import { sleepMarker, waitProcesses } from "./process.ts";

const EXTENSIONS = [
  "tool-read-file",
  "tool-write-file",
  "tool-edit-file",
  "tool-grep",
  "tool-glob",
  "tool-shell",
];

async function assertGone(marker: string): Promise<void> {
  assert(await waitProcesses(marker, (pids) => pids.length === 0), `no process with ${marker} is left`);
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
    for (const entry of entries.filter((e) => e.manifest.tools)) {
      assertEquals(
        [entry.state(), entry.starts()],
        ["idle", 0],
        `${entry.manifest.id} waits for its first call`,
      );
    }
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
    // PIDs inside the command's namespace are not the host's: the sleeps are found by a unique argument.
    const forever = (marker: string, name: string) =>
      `sleep ${marker} & echo started > ${name}; setsid sleep ${marker} & sleep ${marker}`;
    const first = sleepMarker();
    const timedOut = await call("run_shell", { command: forever(first, "bg1"), timeoutMs: 500 });
    assertMatch(timedOut.content, /killed: timeout after 500ms$/);
    await assertGone(first);

    // Abort: the bridge settles the call at once and tells the worker, which kills the namespace.
    const second = sleepMarker();
    const controller = new AbortController();
    const aborted = call("run_shell", { command: forever(second, "bg2") }, controller.signal);
    for (let i = 0; i < 250 && !(await Deno.stat(join(cwd, "bg2")).catch(() => null)); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert(await waitProcesses(second, (pids) => pids.length >= 3), "the command and its sleeps run");
    controller.abort();
    await assertRejects(() => aborted, /aborted/);
    await assertGone(second);
  } finally {
    await host.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});
