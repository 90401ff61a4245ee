// The smaller holes of the confinement audit (issue 9), each tried as the audit tried it: a second daemon on
// the same data, a corrupt database, a sandbox taking over core surfaces, secret-looking env grants, the two
// doors' auth, the default web origins, a working directory inside the daemon's own data.
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { stall, text } from "./fake_provider.ts";
import { readNdjson, runCliProcess, startDaemon, startDaemonWithFake } from "./daemon.ts";
import { rawUpgrade, readHead, surfacePortUrl, wsUrl } from "./ws_client.ts";
import { type ExtensionEntry, ExtensionHost, type Permissions } from "../src/kernel/mod.ts";
import { sandboxedEntry, workerPermissions } from "../src/sandbox/mod.ts";
import { loadConfig } from "../src/config.ts";
import { envGrantRefusal } from "../src/secrets.ts";
import { SHELL_ENV_NAMES } from "../extensions/tool-shell/env_names.ts";
import { manifest as shellManifest } from "../extensions/tool-shell/manifest.ts";
import * as surfaceRegistry from "../extensions/surface-registry/mod.ts";
import { SurfaceRegistryKey } from "../extensions/surface-registry/api.ts";
import * as readFile from "../extensions/tool-read-file/mod.ts";
import * as writeFile from "../extensions/tool-write-file/mod.ts";
import * as editFile from "../extensions/tool-edit-file/mod.ts";

const KEY = "sk-audit-test-key-1234";

/** `dispatch serve` run to its end: for daemons that must refuse to start. */
function serveOnce(dataDir: string, env: Record<string, string> = {}) {
  return runCliProcess(["serve"], {
    BACKEND_PORT: "0",
    DISPATCH_DATA_DIR: dataDir,
    DISPATCH_WORKSPACE_ROOTS: "/tmp",
    HOME: "/tmp",
    ...env,
  }, dataDir);
}

Deno.test("a second daemon on the same data directory refuses to start, naming the first; a dead one's lock is taken over", async () => {
  const { fake, daemon, env } = await startDaemonWithFake(KEY);
  try {
    fake.script([text("streaming..."), stall()]);
    const seen = fake.requests.length;
    const running = daemon.fetch("/chat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: "a long turn" }),
    });
    await fake.waitForRequests(seen + 1, 10_000);
    const res = await running;
    const id = res.headers.get("x-conversation-id")!;

    const second = await serveOnce(daemon.dataDir, env);
    assertEquals(second.code, 1, second.stderr);
    assertStringIncludes(second.stderr, `in use by another dispatch daemon (pid ${daemon.child.pid})`);
    assertStringIncludes(second.stderr, daemon.dataDir);

    // The first daemon's turn was not touched: still running, then stopped as usual.
    const status = await (await daemon.fetch(`/conversations/${id}/status`)).json();
    assertEquals(status.isActive, true, JSON.stringify(status));
    await (await daemon.fetch(`/conversations/${id}/stop`, { method: "POST" })).body?.cancel();
    assertEquals((await readNdjson(res)).find((e) => e.type === "done")?.reason, "aborted");
  } finally {
    await daemon.kill();
  }
  try {
    // Killed: its lock file stays behind, naming a dead pid; the next daemon takes it over.
    const next = await startDaemon({ dataDir: daemon.dataDir, env });
    try {
      assertEquals((await next.fetch("/health")).status, 200);
      assertEquals(
        (await Deno.readTextFile(join(daemon.dataDir, "daemon.lock"))).trim(),
        String(next.child.pid),
      );
    } finally {
      await next.stop();
    }
  } finally {
    await fake.close();
    await Deno.remove(daemon.dataDir, { recursive: true });
  }
});

Deno.test("a corrupt or garbage database file stops start-up with an error naming the file", async () => {
  for (const content of ["garbage ".repeat(200), "x", "\0".repeat(4096)]) {
    const dataDir = await Deno.makeTempDir({ prefix: "dispatch-corrupt-" });
    try {
      const file = join(dataDir, "conversations.sqlite");
      await Deno.writeTextFile(file, content);
      const out = await serveOnce(dataDir);
      assertEquals(out.code, 1, out.stderr);
      assertStringIncludes(out.stderr, `database file ${file} is not a usable SQLite database`);
      assertEquals(await Deno.readTextFile(file), content, "the file is left as it was");
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  }
});

Deno.test("a sandbox with the surface registry cannot withdraw, spoof, read or invoke another extension's surfaces", async () => {
  const invoked: string[] = [];
  const victim: ExtensionEntry = {
    manifest: {
      id: "victim",
      version: "0.0.1",
      description: "core surface owner",
      dependsOn: [],
      core: true,
    },
    activate(ctx) {
      const registry = ctx.services.require(SurfaceRegistryKey);
      registry.contribute({
        id: "core-panel",
        region: "side",
        title: "Core",
        fields: [{ kind: "stat", label: "state", value: "genuine" }],
      });
      registry.attach("core-panel", { invoke: ({ actionId }) => invoked.push(actionId) });
      ctx.services.provide({ id: "surface-handler:victim" }, { invoke: () => invoked.push("via handler") });
    },
  };
  const hostile = sandboxedEntry(
    {
      id: "hostile",
      version: "0.0.1",
      description: "tries foreign surfaces",
      dependsOn: ["surface-registry", "victim"],
      core: false,
    },
    new URL("./fixtures/surface-hostile/mod.ts", import.meta.url),
    { exposeServices: ["surface-registry"] }, // as src/extensions.ts exposes it to todo
  );
  const host = new ExtensionHost({ sink: { write: () => {} } });
  await host.boot([
    { manifest: surfaceRegistry.manifest, activate: surfaceRegistry.activate },
    victim,
    hostile,
  ]);
  try {
    assertEquals(host.list().map((s) => s.status), ["active", "active", "active"]);
    const registry = host.services.require(SurfaceRegistryKey);
    const outcomes = Object.fromEntries(
      (await registry.spec("hostile")).fields.map((f) => {
        const stat = f as { label: string; value: string };
        return [stat.label, stat.value];
      }),
    );
    for (const attempt of ["withdraw core", "update core", "refresh core", "read core", "invoke core"]) {
      assertMatch(outcomes[attempt], /^refused: .*contributed by victim, not hostile/, attempt);
    }
    assertMatch(outcomes["borrow handler"], /^refused: .*surface-handler:victim is not hostile's/);
    assertMatch(
      outcomes["clients service"],
      /^refused: .*not available/,
      "the transports' view stays out of reach",
    );
    // Nothing changed hands: the core surface is there, unchanged, and its action ran for nobody.
    assertEquals(registry.catalog().map((e) => e.id), ["core-panel", "hostile"]);
    assertEquals((await registry.spec("core-panel")).fields, [{
      kind: "stat",
      label: "state",
      value: "genuine",
    }]);
    assertEquals(invoked, []);
    // The user's side (the host, the transports) still reaches every surface.
    await registry.invoke({ surfaceId: "core-panel", actionId: "pay" });
    assertEquals(invoked, ["pay"]);
  } finally {
    await host.shutdown();
  }
});

Deno.test("env grants: secret-looking, credential-carrying, broad and the daemon's own names are refused", async () => {
  for (
    const name of [
      "GH_PAT",
      "GITLAB_PAT",
      "DATABASE_URL",
      "REDIS_URI",
      "SENTRY_DSN",
      "PGPASS",
      "PGPASSWORD",
      "MYSQL_PWD_FILE_PASS",
      "NPM_AUTH",
      "GOOGLE_APPLICATION_CREDENTIALS",
      "DISPATCH_DATA_DIR",
      "DISPATCH_TOKEN",
      "AWS_*",
      "*",
      "gh_token",
    ]
  ) {
    assert(envGrantRefusal(name), `${name} is refused`);
    let refused = false;
    try {
      workerPermissions({ env: [name] }, { folder: "/ext" });
    } catch {
      refused = true;
    }
    assert(refused, `a manifest granted ${name} does not load`);
  }
  // What run_shell legitimately passes on stays grantable.
  for (const name of SHELL_ENV_NAMES) assertEquals(envGrantRefusal(name), undefined, name);
  assertEquals(
    workerPermissions(shellManifest.permissions as Permissions, { folder: "/ext", expand: () => ["/tmp"] })
      .env,
    [...SHELL_ENV_NAMES],
  );

  // Through the host: the extension fails before any worker starts; the others load.
  const entry = sandboxedEntry(
    {
      id: "prober",
      version: "0.0.1",
      description: "asks for GH_PAT",
      dependsOn: [],
      permissions: { env: ["GH_PAT"] },
    },
    new URL("./fixtures/sandbox/prober/mod.ts", import.meta.url),
  );
  const host = new ExtensionHost({ sink: { write: () => {} } });
  await host.boot([entry, { manifest: surfaceRegistry.manifest, activate: surfaceRegistry.activate }]);
  try {
    assertEquals(host.list().map((s) => [s.id, s.status]), [["prober", "failed"], [
      "surface-registry",
      "active",
    ]]);
    assertMatch(host.list()[0].error ?? "", /"GH_PAT" looks like a secret/);
    assertEquals(entry.state(), "starting", "no worker was started");
  } finally {
    await host.shutdown();
  }
});

/** The status line and headers of a raw HTTP/1.1 request with the Host header of our choosing (fetch sets its own). */
async function withHost(url: string, host: string, extra: string[] = []): Promise<string> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  try {
    const lines = [`GET ${u.pathname} HTTP/1.1`, `Host: ${host}`, ...extra];
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    return await readHead(conn);
  } finally {
    conn.close();
  }
}

Deno.test("one access check on both doors: bearer in any case, Host guarded on SURFACE_WS_PORT too", async () => {
  const token = "tok-audit-0123456789abcdef";
  const { fake, daemon } = await startDaemonWithFake(KEY, { DISPATCH_TOKEN: token, SURFACE_WS_PORT: "0" });
  try {
    const portUrl = surfacePortUrl(daemon.logs())!;
    assert(portUrl, daemon.logs());
    for (const scheme of ["Bearer", "bearer", "BEARER"]) {
      const res = await daemon.fetch("/models", { headers: { authorization: `${scheme} ${token}` } });
      assertEquals(res.status, 200, scheme);
      await res.body?.cancel();
      for (const base of [wsUrl(daemon.url), portUrl]) {
        const up = await rawUpgrade(base, { Authorization: `${scheme} ${token}` });
        up.conn.close();
        assertEquals(up.status, 101, `${scheme} on ${base}`);
      }
    }
    for (const base of [wsUrl(daemon.url), portUrl]) {
      const wrong = await rawUpgrade(base, { Authorization: `bearer ${token}x` });
      wrong.conn.close();
      assertEquals(wrong.status, 401, base);
    }
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 reaches neither port.
    const upgrade = [
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      `Authorization: Bearer ${token}`,
    ];
    for (const base of [`${daemon.url}/surface`, portUrl.replace(/^ws/, "http")]) {
      const answer = await withHost(base, "evil.example", upgrade);
      assertMatch(answer, /^HTTP\/1\.1 403/, base);
      assertStringIncludes(answer, "application/json", "a JSON refusal");
      assertMatch(await withHost(base, "localhost", upgrade), /^HTTP\/1\.1 101/, base);
    }
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("web origins: by default only the reference frontend's dev origins, not any loopback port", async () => {
  assertEquals(loadConfig({}, "/tmp").allowedOrigins, ["http://localhost:24204", "http://127.0.0.1:24204"]);
  assertEquals(loadConfig({ DISPATCH_ALLOWED_ORIGINS: "loopback" }, "/tmp").allowedOrigins, ["loopback"]);
  const post = (daemon: { fetch: (p: string, i?: RequestInit) => Promise<Response> }, origin: string) =>
    daemon.fetch("/conversations/probe/title", {
      method: "PUT",
      headers: { origin, "content-type": "text/plain" },
      body: JSON.stringify({ title: "from a page" }),
    });
  const { fake, daemon, env } = await startDaemonWithFake(KEY);
  try {
    for (const origin of ["http://localhost:5173", "http://127.0.0.1:8080", "http://[::1]:24204"]) {
      const res = await post(daemon, origin);
      assertEquals([res.status, (await res.json()).code], [403, "origin_not_allowed"], origin);
      const up = await rawUpgrade(wsUrl(daemon.url), { Origin: origin });
      up.conn.close();
      assertEquals(up.status, 403, `socket from ${origin}`);
    }
    for (const origin of ["http://localhost:24204", "http://127.0.0.1:24204"]) {
      const res = await post(daemon, origin);
      assert(res.status !== 403, `${origin}: ${res.status}`);
      await res.body?.cancel();
    }
  } finally {
    await daemon.stop();
  }
  const loopback = await startDaemon({ env: { ...env, DISPATCH_ALLOWED_ORIGINS: "loopback" } });
  try {
    const res = await post(loopback, "http://localhost:5173");
    assert(res.status !== 403, `loopback opt-in: ${res.status}`);
    await res.body?.cancel();
  } finally {
    await loopback.stop();
    await fake.close();
  }
});

Deno.test("a working directory inside the daemon's data directory is refused wherever it is set", async () => {
  const root = await Deno.makeTempDir({ prefix: "dispatch-cwd-guard-" });
  const dataDir = join(root, "data");
  await Deno.mkdir(join(dataDir, "inner"), { recursive: true });
  const project = join(root, "project");
  await Deno.mkdir(project);
  await Deno.symlink(dataDir, join(project, "link-to-data"));
  const { fake, daemon } = await startDaemonWithFake(KEY);
  await daemon.stop();
  const guarded = await startDaemon({
    dataDir,
    env: {
      DISPATCH_API_KEY: KEY,
      DISPATCH_BASE_URL: fake.baseUrl,
      DISPATCH_MODEL: "fake-model",
      DISPATCH_WORKSPACE_ROOTS: root,
    },
  });
  const json = (method: string, path: string, body: unknown) =>
    guarded.fetch(path, {
      method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  try {
    for (
      const cwd of [dataDir, join(dataDir, "inner"), join(project, "link-to-data"), `${dataDir}/inner/..`]
    ) {
      for (
        const res of [
          await json("PUT", "/conversations/guard-1/cwd", { cwd }),
          await json("POST", "/chat", { message: "hi", cwd }),
          await json("PUT", "/workspaces/default/default-cwd", { defaultCwd: cwd }),
          await json("PUT", "/workspaces/guarded", { title: "Guarded", defaultCwd: cwd }),
        ]
      ) {
        const body = await res.json();
        assertEquals([res.status, body.code], [400, "bad_cwd"], `${res.url} ${cwd}: ${JSON.stringify(body)}`);
        assertMatch(body.error, /the daemon's own data/);
      }
    }
    assertEquals(fake.chatRequests.length, 0, "no turn ran");
    // A project folder beside it is fine, and the daemon kept serving.
    const ok = await json("PUT", "/conversations/guard-1/cwd", { cwd: project });
    assertEquals(ok.status, 200, await ok.text());
  } finally {
    await guarded.stop();
    await fake.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(daemon.dataDir, { recursive: true }).catch(() => {});
  }
});

/** The file tools in process (as tools_test does), a cwd holding the protected data dir, and a caller. */
async function fileTools() {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-race-" }));
  const cwd = join(root, "work");
  const dataDir = join(cwd, ".dispatch");
  await Deno.mkdir(dataDir, { recursive: true });
  await Deno.writeTextFile(join(dataDir, "db.sqlite"), "TOPSECRET database\n");
  await Deno.writeTextFile(join(root, "outside.txt"), "TOPSECRET outside\n");
  const host = new ExtensionHost({
    sink: { write() {} },
    config: { DISPATCH_PROTECTED_PATHS: JSON.stringify([dataDir, join(cwd, ".env")]) },
  });
  await host.boot(
    [readFile, writeFile, editFile].map((m) => ({ manifest: m.manifest, activate: m.activate })),
  );
  const call = async (name: string, input: unknown) => {
    const tool = host.tools.list().find((t) => t.spec.name === name)!;
    const parsed = tool.parse(input);
    assert(parsed.ok);
    const result = await tool.execute(parsed.value, {
      signal: new AbortController().signal,
      conversationId: "c1",
      turnId: "t1",
      toolCallId: "call1",
      cwd,
      emitOutput: () => {},
    });
    return { content: result.content, isError: !!result.isError };
  };
  return {
    root,
    cwd,
    call,
    async close() {
      await host.shutdown();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/**
 * Another process flipping `cwd/d` between a real folder and a link to the data directory, as fast as it can
 * rename: a tool checks `d/...`, then uses it.
 */
function swapFolder(cwd: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const d = "d", away = "d.real";
       for (;;) {
         Deno.renameSync(d, away);
         Deno.symlinkSync(".dispatch", d);
         Deno.removeSync(d);
         Deno.renameSync(away, d);
       }`,
    ],
    cwd,
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

Deno.test("the file tools refuse a file with more than one hard link", async () => {
  const f = await fileTools();
  try {
    await Deno.link(join(f.root, "outside.txt"), join(f.cwd, "alias.txt"));
    await Deno.link(join(f.cwd, ".dispatch", "db.sqlite"), join(f.cwd, "db-alias"));
    await Deno.writeTextFile(join(f.cwd, "mine.txt"), "harmless\n");
    await Deno.link(join(f.cwd, "mine.txt"), join(f.cwd, "mine-too.txt"));
    for (const path of ["alias.txt", "db-alias", "mine.txt", "mine-too.txt"]) {
      for (
        const [tool, input] of [
          ["read_file", { path }],
          ["write_file", { path, content: "overwritten", overwrite: true }],
          ["edit_file", { path, oldString: "TOPSECRET", newString: "changed" }],
        ] as const
      ) {
        const out = await f.call(tool, input);
        assert(out.isError, `${tool} ${path}: ${out.content}`);
        assert(!out.content.includes("TOPSECRET"), out.content);
        assertMatch(out.content, /hard link|protected path/, `${tool} ${path}`);
      }
    }
    assertEquals(await Deno.readTextFile(join(f.root, "outside.txt")), "TOPSECRET outside\n");
    assertEquals(await Deno.readTextFile(join(f.cwd, "mine.txt")), "harmless\n");
  } finally {
    await f.close();
  }
});

Deno.test("read_file against a symlink-swap race for 2 s leaks nothing", async () => {
  const f = await fileTools();
  // `d` holds a harmless db.sqlite or is a link to the data directory, whose db.sqlite is secret.
  await Deno.mkdir(join(f.cwd, "d"));
  await Deno.writeTextFile(join(f.cwd, "d", "db.sqlite"), "harmless\n");
  const swapper = swapFolder(f.cwd);
  const seen = { harmless: 0, refused: 0, leaked: 0 };
  try {
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      const out = await f.call("read_file", { path: "d/db.sqlite" }).catch((error) => ({
        content: String(error),
        isError: true,
      }));
      if (out.content.includes("TOPSECRET")) seen.leaked++;
      else if (!out.isError && out.content.includes("harmless")) seen.harmless++;
      else seen.refused++;
    }
  } finally {
    swapper.kill("SIGKILL");
    await swapper.output();
    await f.close();
  }
  assertEquals(seen.leaked, 0, JSON.stringify(seen));
  assert(seen.harmless > 0 && seen.refused > 0, `the race ran both ways: ${JSON.stringify(seen)}`);
});

Deno.test("write_file against the same swap race for 2 s writes nothing into the data directory", async () => {
  const f = await fileTools();
  await Deno.mkdir(join(f.cwd, "d"));
  const swapper = swapFolder(f.cwd);
  let written = 0;
  try {
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      const out = await f.call("write_file", { path: "d/db.sqlite", content: "evil", overwrite: true })
        .catch((error) => ({ content: String(error), isError: true }));
      if (!out.isError) written++;
    }
  } finally {
    swapper.kill("SIGKILL");
    await swapper.output();
  }
  try {
    const dataDir = join(f.cwd, ".dispatch");
    assertEquals(await Deno.readTextFile(join(dataDir, "db.sqlite")), "TOPSECRET database\n");
    // What can land there is a temporary file created while the folder was the link: empty, never renamed.
    for await (const entry of Deno.readDir(dataDir)) {
      if (entry.name === "db.sqlite") continue;
      assertMatch(entry.name, /^\.db\.sqlite\.[0-9a-f]{8}\.tmp$/);
      assertEquals((await Deno.stat(join(dataDir, entry.name))).size, 0, entry.name);
    }
    assert(written > 0, "the race ran");
  } finally {
    await f.close();
  }
});
