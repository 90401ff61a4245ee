// The lsp extension against a real typescript-language-server (fetched from npm into Deno's cache by the
// daemon on first use), through the daemon: diagnostics appended to edit_file's result, definition and
// references on a fixture project, hostile paths, a crashed server restarted, an idle one stopped, and no
// server process left once the daemon is gone (SIGTERM, then SIGKILL). One daemon and one server per scenario, to keep it bounded.
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { type FakeProvider, text, toolCall } from "./fake_provider.ts";
import { type Daemon, readNdjson, startDaemon, startDaemonWithFake } from "./daemon.ts";
import { alive } from "./process.ts";
import { WsClient } from "./ws_client.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/lsp/", import.meta.url));

/** A fresh copy of the fixture project (under /tmp, the test daemons' workspace root). */
async function project(): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-lsp-project-" }));
  for await (const entry of Deno.readDir(FIXTURE)) {
    if (entry.isFile) await Deno.copyFile(`${FIXTURE}${entry.name}`, `${dir}/${entry.name}`);
  }
  return dir;
}

/** One turn that makes the tool calls, then says "done"; the tool results by call id. */
async function callTools(
  daemon: Daemon,
  fake: FakeProvider,
  conversationId: string,
  cwd: string,
  calls: [string, string, unknown][],
) {
  fake.script(calls.map(([id, name, args]) => toolCall(name, args, { id })), [text("done")]);
  const res = await daemon.fetch("/chat", {
    method: "POST",
    body: JSON.stringify({ conversationId, message: "use lsp", cwd }),
  });
  const events = await readNdjson(res);
  if (!events.some((e) => e.type === "tool-result")) {
    throw new Error(`no tool results: ${JSON.stringify(events)}`);
  }
  return new Map(
    events.filter((e) => e.type === "tool-result").map((e) => [
      e.toolCallId as string,
      { content: String(e.content), isError: e.isError as boolean },
    ]),
  );
}

interface ServerInfo {
  id: string;
  state: string;
  pid?: number;
  restarts?: number;
  root: string;
  extensions: string[];
  error?: string;
  configSource?: string;
}

async function lspStatus(daemon: Daemon, conversationId: string): Promise<ServerInfo[]> {
  const res = await daemon.fetch(`/conversations/${conversationId}/lsp`);
  assertEquals(res.status, 200);
  return (await res.json()).servers;
}

/** Polls the status route until `test` holds (a server's start or restart is not an event the test can hear). */
async function waitStatus(
  daemon: Daemon,
  conversationId: string,
  test: (s: ServerInfo) => boolean,
  ms = 60_000,
): Promise<ServerInfo> {
  const until = Date.now() + ms;
  for (;;) {
    const servers = await lspStatus(daemon, conversationId);
    const found = servers.find(test);
    if (found) return found;
    assert(Date.now() < until, `language server state never matched: ${JSON.stringify(servers)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `pid` and every process below it, from /proc. */
async function tree(pid: number): Promise<{ pid: number; cmdline: string }[]> {
  const parents = new Map<number, number>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
    if (!stat) continue;
    parents.set(Number(entry.name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
  }
  const found = [pid];
  for (let i = 0; i < found.length; i++) {
    for (const [child, parent] of parents) if (parent === found[i]) found.push(child);
  }
  return await Promise.all(found.map(async (p) => ({
    pid: p,
    cmdline: (await Deno.readTextFile(`/proc/${p}/cmdline`).catch(() => "")).replaceAll("\0", " "),
  })));
}

async function waitAllGone(pids: number[], ms = 10_000): Promise<number[]> {
  const until = Date.now() + ms;
  for (;;) {
    const left = (await Promise.all(pids.map(async (p) => (await alive(p)) ? p : 0))).filter(Boolean);
    if (left.length === 0 || Date.now() >= until) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("lsp: diagnostics after edit_file, definition, references, hostile paths, a crash restarted, nothing left after SIGTERM", async (t) => {
  const dir = await project();
  // A folder with its own servers; its .dispatch/lsp.json (the reference's file) is configuration the model can
  // write, and is not read.
  const other = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-lsp-config-" }));
  await Deno.mkdir(`${other}/.dispatch`);
  await Deno.writeTextFile(`${other}/x.py`, "print(1)\n");
  await Deno.writeTextFile(`${other}/x.ts`, "export {};\n");
  await Deno.writeTextFile(
    `${other}/.dispatch/lsp.json`,
    JSON.stringify({ servers: { sneaky: { command: ["touch", "/tmp/owned"], extensions: [".ts"] } } }),
  );
  const { fake, daemon } = await startDaemonWithFake("sk-lsp-test-0001", {
    DISPATCH_LSP_SERVERS: JSON.stringify({
      directories: {
        [other]: { servers: { py: { command: ["no-such-language-server"], extensions: [".py"] } } },
      },
    }),
    DISPATCH_LSP_BACKOFF_MS: "200",
    // On a fresh machine the first edit also waits for the npm download.
    DISPATCH_LSP_DIAGNOSTICS_MS: "120000",
  });
  const conv = "lsp-conv-1";
  try {
    await t.step("a draft without a cwd has no servers", async () => {
      const put = await daemon.fetch("/conversations/lsp-draft/reasoning-effort", {
        method: "PUT",
        body: JSON.stringify({ reasoningEffort: "low" }),
      });
      assertEquals(put.status, 200);
      assertEquals(await lspStatus(daemon, "lsp-draft"), []);
    });

    await t.step("a type error written by edit_file is in the tool's result", async () => {
      const results = await callTools(daemon, fake, conv, dir, [
        ["e1", "edit_file", {
          path: "main.ts",
          oldString: "const total: number",
          newString: "const total: string",
        }],
      ]);
      const e1 = results.get("e1")!;
      assertEquals(e1.isError, false, e1.content);
      assertMatch(e1.content, /edited main\.ts/);
      assertMatch(e1.content, /main\.ts:3:7 error TS2322: Type 'number' is not assignable to type 'string'/);
    });

    await t.step("the status route shows the running server", async () => {
      const [server] = await lspStatus(daemon, conv);
      assertEquals(server.id, "typescript");
      assertEquals(server.state, "connected");
      assertEquals(server.root, dir);
      assert(server.extensions.includes(".ts"));
      assert(typeof server.pid === "number");
    });

    await t.step("the lsp surface shows it", async () => {
      const ws = await WsClient.connect(`${daemon.url.replace(/^http/, "ws")}/surface`);
      try {
        const entry = (ws.frames[0].catalog as { id: string; scope?: string }[]).find((e) => e.id === "lsp");
        assertEquals(entry?.scope, "global");
        ws.send({ type: "subscribe", surfaceId: "lsp" });
        const reply = await ws.waitFor((f) =>
          f.type === "surface" && (f.spec as { id: string }).id === "lsp"
        );
        const fields = (reply.spec as { fields: { kind: string; label: string; value: string }[] }).fields;
        assert(fields.some((f) => f.kind === "stat" && f.label.includes(dir) && /^connected/.test(f.value)));
      } finally {
        await ws.close();
      }
    });

    await t.step(
      "definition, references, hover, symbols, diagnostics; hostile arguments are tool errors",
      async () => {
        // A link in the project to the daemon's env file (a protected path).
        await Deno.symlink(daemon.envFile, `${dir}/secret.ts`);
        const results = await callTools(daemon, fake, conv, dir, [
          ["d1", "lsp", { operation: "definition", path: "main.ts", line: 3, character: 23 }],
          ["r1", "lsp", { operation: "references", path: "math.ts", line: 1, character: 17 }],
          ["h1", "lsp", { operation: "hover", path: "main.ts", line: 3, character: 23 }],
          ["s1", "lsp", { operation: "documentSymbol", path: "math.ts" }],
          ["w1", "write_file", {
            path: "main.ts",
            content: 'import { add } from "./math.ts";\nadd(1, 2);\n',
            overwrite: true,
          }],
          ["x1", "lsp", { operation: "diagnostics", path: "../../etc/passwd" }],
          ["x2", "lsp", { operation: "hover", path: "/etc/passwd", line: 1, character: 1 }],
          ["x3", "lsp", { operation: "definition", path: "main.ts" }],
          ["x4", "lsp", { operation: "hover", path: "main.ts", line: 999, character: 1 }],
          ["x5", "lsp", { operation: "hover", path: "tsconfig.json", line: 1, character: 1 }],
          ["x6", "lsp", { operation: "definition", path: "main.ts", line: 0, character: -4 }],
          ["x7", "lsp", { operation: "diagnostics", path: "secret.ts" }],
        ]);
        const ok = (id: string, pattern: RegExp) => {
          const r = results.get(id)!;
          assertEquals(r.isError, false, `${id}: ${r.content}`);
          assertMatch(r.content, pattern, `${id}: ${r.content}`);
        };
        const err = (id: string, pattern: RegExp) => {
          const r = results.get(id)!;
          assertEquals(r.isError, true, `${id}: ${r.content}`);
          assertMatch(r.content, pattern, `${id}: ${r.content}`);
        };
        ok("d1", /^math\.ts:1:17: export function add/m);
        ok("r1", /^math\.ts:1:17/m);
        ok("r1", /^main\.ts:3:23: const total: string = add\(1, 2\);/m);
        ok("r1", /^main\.ts:4:20/m);
        ok("h1", /add\(a: number, b: number\): number/);
        ok("s1", /^Function add 1:1-3:2$/m);
        ok("s1", /^Constant ZERO|^Variable ZERO/m);
        ok("w1", /LSP \(typescript\): no problems in main\.ts/);
        err("x1", /outside|not inside|refused/i);
        err("x2", /outside|not inside|refused/i);
        err("x3", /needs line and character/);
        err("x4", /past its end/);
        err("x5", /no language server handles tsconfig\.json/);
        err("x6", /invalid arguments/);
        err("x7", /protected|outside|refused/i);
      },
    );

    await t.step("a folder's servers from DISPATCH_LSP_SERVERS; nothing read from the cwd", async () => {
      const results = await callTools(daemon, fake, "lsp-conv-config", other, [
        ["c1", "lsp", { operation: "hover", path: "x.py", line: 1, character: 1 }],
        ["c2", "lsp", { operation: "diagnostics", path: "x.ts" }],
      ]);
      assertEquals(results.get("c1")!.isError, true);
      assertMatch(results.get("c1")!.content, /ended while starting|no-such-language-server/);
      assertEquals(results.get("c2")!.isError, true);
      assertMatch(
        results.get("c2")!.content,
        /no language server handles x\.ts here \(configured for: \.py\)/,
      );
      const servers = await lspStatus(daemon, "lsp-conv-config");
      assertEquals(servers.map((s) => [s.id, s.state, s.configSource]), [
        ["py", "error", `DISPATCH_LSP_SERVERS (${other})`],
      ]);
    });

    await t.step("a server that crashes is restarted", async () => {
      const before = await waitStatus(daemon, conv, (s) => s.state === "connected");
      const server = (await tree(before.pid!)).find((p) =>
        p.cmdline.includes("typescript-language-server") && !p.cmdline.includes("bwrap")
      );
      assert(server, "the server process runs below bwrap");
      Deno.kill(server.pid, "SIGKILL");
      const after = await waitStatus(daemon, conv, (s) => s.state === "connected" && (s.restarts ?? 0) >= 1);
      assert(after.pid !== before.pid, "a new sandbox");
      const results = await callTools(daemon, fake, conv, dir, [
        ["r2", "lsp", { operation: "references", path: "math.ts", line: 1, character: 17 }],
      ]);
      assertMatch(results.get("r2")!.content, /^main\.ts:2:1: add\(1, 2\);/m);
    });

    await t.step("no server process outlives a daemon stopped with SIGTERM", async () => {
      const { pid } = await waitStatus(daemon, conv, (s) => s.state === "connected");
      const pids = (await tree(pid!)).map((p) => p.pid);
      assert(pids.length >= 3, "bwrap, the wrapper and the server");
      await daemon.stop();
      assertEquals(await waitAllGone(pids), []);
    });
  } finally {
    await daemon.stop();
    await fake.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(other, { recursive: true }).catch(() => {});
  }
});

Deno.test("lsp: a malformed DISPATCH_LSP_SERVERS stops the start with one line naming it", async () => {
  const error = await startDaemon({ env: { DISPATCH_LSP_SERVERS: '{"servers": {"x": {"command": []}}}' } })
    .then(
      (d) => d.stop().then(() => undefined),
      (e: Error) => e,
    );
  assert(error, "the daemon does not start");
  assertMatch(error.message, /DISPATCH_LSP_SERVERS: servers\.x\.command/);
});

Deno.test("lsp: an idle server is stopped; no server process outlives a daemon killed with SIGKILL", async () => {
  const dir = await project();
  const { fake, daemon } = await startDaemonWithFake("sk-lsp-test-0002", { DISPATCH_LSP_IDLE_MS: "3000" });
  try {
    // Setting the cwd and asking for the status starts the server (as the reference does).
    const put = await daemon.fetch("/conversations/lsp-conv-2/cwd", {
      method: "PUT",
      body: JSON.stringify({ cwd: dir }),
    });
    assertEquals(put.status, 200);
    const first = await waitStatus(daemon, "lsp-conv-2", (s) => s.state === "connected");
    const firstPids = (await tree(first.pid!)).map((p) => p.pid);
    // Unused, it is stopped with every process of its sandbox; the next status read starts it again.
    assertEquals(await waitAllGone(firstPids, 30_000), []);
    const { pid } = await waitStatus(
      daemon,
      "lsp-conv-2",
      (s) => s.state === "connected" && s.pid !== first.pid,
    );
    const pids = (await tree(pid!)).map((p) => p.pid);
    assert(pids.length >= 3, "bwrap, the wrapper and the server");
    await daemon.kill();
    assertEquals(await waitAllGone(pids), []);
  } finally {
    await daemon.stop();
    await fake.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
