// mcp-client against real MCP servers written with the SDK (tests/fixtures/mcp/server.ts): one over stdio,
// confined by bubblewrap, one over streamable HTTP. Their tools are called end to end through POST /chat with
// the fake provider; a server that crashes is restarted, one that hangs is timed out, and the stdio server sees
// only the environment the config gives it and not the daemon's env file.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { type Daemon, readNdjson, startDaemonWithFake } from "./daemon.ts";
import { type FakeProvider, text, toolCall } from "./fake_provider.ts";
import { waitProcesses } from "./process.ts";

const SERVER = fileURLToPath(new URL("./fixtures/mcp/server.ts", import.meta.url));
const DENO = Deno.execPath();
/** The daemons' workspace root: tests/daemon.ts's default (/tmp) would hold the config files written here. */
const ROOTS = Deno.makeTempDirSync({ prefix: "dispatch-roots-" });
globalThis.addEventListener("unload", () => Deno.removeSync(ROOTS, { recursive: true }));

async function startHttpServer(): Promise<{ url: string; child: Deno.ChildProcess }> {
  const child = new Deno.Command(DENO, {
    args: ["run", "--allow-net=127.0.0.1", "--allow-env", "--allow-read", SERVER, "--http", "0"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (!/listening (\d+)/.test(buffer)) {
    const { done, value } = await reader.read();
    if (done) throw new Error("the HTTP MCP server exited");
    buffer += value;
  }
  reader.releaseLock();
  return { url: `http://127.0.0.1:${buffer.match(/listening (\d+)/)![1]}/mcp`, child };
}

/** One turn whose model calls `name` with `args`; the tool's result. */
async function callThroughTurn(
  daemon: Daemon,
  fake: FakeProvider,
  name: string,
  args: unknown,
): Promise<{ content: string; isError: boolean }> {
  fake.script([toolCall(name, args, { id: "call_1" })], [text("ok")]);
  const res = await daemon.fetch("/chat", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ conversationId: "mcp-1", message: `call ${name}` }),
  });
  assertEquals(res.status, 200);
  const events = await readNdjson(res);
  const result = events.find((e) => e.type === "tool-result") as Record<string, unknown> | undefined;
  assert(result, JSON.stringify(events));
  const r = (result.result ?? result) as Record<string, unknown>;
  return { content: String(r.content ?? r.output ?? JSON.stringify(result)), isError: r.isError === true };
}

async function servers(daemon: Daemon): Promise<Record<string, Record<string, unknown>>> {
  const res = await daemon.fetch("/conversations/mcp-1/mcp");
  assertEquals(res.status, 200);
  const body = await res.json();
  return Object.fromEntries(body.servers.map((s: Record<string, unknown>) => [s.id, s]));
}

async function waitConnected(daemon: Daemon, ids: string[]): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const now = await servers(daemon);
    if (ids.every((id) => now[id]?.state === "connected")) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not connected: ${JSON.stringify(await servers(daemon))}\n${daemon.logs()}`);
}

Deno.test("MCP servers over stdio (confined) and streamable HTTP, through POST /chat", async () => {
  const http = await startHttpServer();
  const config = await Deno.makeTempFile({ prefix: "dispatch-mcp-", suffix: ".json" });
  const denoDir = Deno.env.get("DENO_DIR");
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      mcpServers: {
        fx: {
          command: DENO,
          args: ["run", "--allow-env", "--allow-read", SERVER],
          env: { MCP_FIXTURE: "1", ...(denoDir ? { DENO_DIR: denoDir } : {}) },
          timeoutMs: 3000,
        },
        web: { url: http.url },
      },
    }),
  );
  const { fake, daemon: d } = await startDaemonWithFake("sk-test-key-123456", {
    DISPATCH_MCP_CONFIG: config,
    DISPATCH_WORKSPACE_ROOTS: ROOTS,
    DISPATCH_LOG_LEVEL: "info",
  });
  try {
    fake.script([text("hello")]);
    await readNdjson(
      await d.fetch("/chat", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ conversationId: "mcp-1", message: "hi" }),
      }),
    );
    await waitConnected(d, ["fx", "web"]);
    const listed = await servers(d);
    assertEquals(listed.fx.toolCount, 5);
    assertEquals(listed.fx.configSource, config);

    assertEquals(await callThroughTurn(d, fake, "mcp__fx__echo", { text: "over stdio" }), {
      content: "echo: over stdio",
      isError: false,
    });
    const offered = fake.requests.at(-1)?.body?.tools?.map((t: { function: { name: string } }) =>
      t.function.name
    );
    assert(offered?.includes("mcp__fx__echo") && offered?.includes("mcp__web__hang"), String(offered));
    assertEquals(await callThroughTurn(d, fake, "mcp__web__echo", { text: "over http" }), {
      content: "echo: over http",
      isError: false,
    });

    // Only the config's environment: nothing of the daemon's (its API key, HOME); PWD is bwrap's, PATH and
    // DENO_* the fixture's Deno runtime's own.
    const env = await callThroughTurn(d, fake, "mcp__fx__env", {});
    const names = env.content.split(",");
    assert(!names.includes("DISPATCH_API_KEY") && !names.includes("HOME"), env.content);
    assertEquals(names.filter((n) => !n.startsWith("DENO_") && n !== "PATH" && n !== "PWD"), ["MCP_FIXTURE"]);
    // The daemon's env file is masked in the server's view.
    const secret = await callThroughTurn(d, fake, "mcp__fx__read", { path: d.envFile });
    assert(secret.isError || secret.content === "", secret.content);

    const hung = await callThroughTurn(d, fake, "mcp__fx__hang", {});
    assertEquals(hung.isError, true);
    assertMatch(hung.content, /did not answer within 3000 ms/);

    const crashed = await callThroughTurn(d, fake, "mcp__fx__crash", {});
    assertEquals(crashed.isError, true);
    // Restarted: the next call works again.
    await waitConnected(d, ["fx"]);
    assertEquals((await callThroughTurn(d, fake, "mcp__fx__echo", { text: "back" })).content, "echo: back");
    assertMatch(d.logs(), /MCP server down; restarting/);

    // A call with arguments that are not an object is a tool error, the daemon keeps serving.
    const bad = await callThroughTurn(d, fake, "mcp__fx__echo", { text: 42 });
    assertEquals(bad.isError, true);
    assertEquals((await d.fetch("/health")).status, 200);
  } finally {
    http.child.kill();
    await http.child.status;
    await d.stop();
    await fake.close();
    await Deno.remove(config);
  }
  // The stdio server (and its bwrap) ended with the daemon.
  assert(await waitProcesses(SERVER, (pids) => pids.length === 0, 10_000), "no MCP server process is left");
});

Deno.test("MCP: a server that cannot start is listed with its error; a bad config disables mcp-client alone", async () => {
  const config = await Deno.makeTempFile({ prefix: "dispatch-mcp-", suffix: ".json" });
  await Deno.writeTextFile(
    config,
    JSON.stringify({ mcpServers: { gone: { command: "/nonexistent/server" } } }),
  );
  const { fake, daemon } = await startDaemonWithFake("sk-test-key-123456", {
    DISPATCH_MCP_CONFIG: config,
    DISPATCH_WORKSPACE_ROOTS: ROOTS,
  });
  try {
    fake.script([text("hello")]);
    await readNdjson(
      await daemon.fetch("/chat", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ conversationId: "mcp-1", message: "hi" }),
      }),
    );
    let gone: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && gone?.state !== "error"; i++) {
      gone = (await servers(daemon)).gone;
      if (gone?.state !== "error") await new Promise((r) => setTimeout(r, 50));
    }
    assertEquals(gone?.state, "error");
    assertMatch(String(gone?.error), /could not start/, JSON.stringify(gone));
    assertEquals(gone?.toolCount, 0);
  } finally {
    await daemon.stop();
  }

  // A config the model could write (inside a workspace root) is refused.
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-root-" }));
  const inRoot = join(root, "mcp.json");
  await Deno.writeTextFile(inRoot, JSON.stringify({ mcpServers: {} }));
  const third = await startDaemonWithFake("sk-test-key-123456", {
    DISPATCH_MCP_CONFIG: inRoot,
    DISPATCH_WORKSPACE_ROOTS: root,
  });
  try {
    assertMatch(third.daemon.logs(), /DISPATCH_MCP_CONFIG .*mcp\.json is inside the workspace root/);
  } finally {
    await third.daemon.stop();
    await third.fake.close();
    await Deno.remove(root, { recursive: true });
  }

  await Deno.writeTextFile(config, JSON.stringify({ mcpServers: { "bad name!": { command: "x" } } }));
  const second = await startDaemonWithFake("sk-test-key-123456", {
    DISPATCH_MCP_CONFIG: config,
    DISPATCH_WORKSPACE_ROOTS: ROOTS,
    DISPATCH_BASE_URL: fake.baseUrl,
  });
  try {
    const disabled = second.daemon.logs().split("\n").find((l) => l.includes('"extension disabled"'));
    assert(disabled, second.daemon.logs());
    assertEquals(JSON.parse(disabled).extension, "mcp-client");
    assertMatch(JSON.parse(disabled).error, /DISPATCH_MCP_CONFIG .*mcpServers.bad name!: Invalid key/);
    assertEquals((await second.daemon.fetch("/health")).status, 200);
  } finally {
    await second.daemon.stop();
    await second.fake.close();
    await fake.close();
    await Deno.remove(config);
  }
});
