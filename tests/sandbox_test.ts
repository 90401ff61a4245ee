// Sandboxed extensions, for real: Workers with exactly their manifest's permissions, fixtures on disk, a
// loopback server, the kernel's ExtensionHost and runTurn. Run: deno test -A tests/sandbox_test.ts
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./assert.ts";
import {
  defineKey,
  type ExtensionEntry,
  isVeto,
  type Permissions,
  type ToolContext,
} from "../src/kernel/mod.ts";
import { boot, callTool, manifest, stateOf, waitFor } from "./fixtures/sandbox/harness.ts";
import { startDaemon } from "./daemon.ts";
import { waitGone } from "./process.ts";
import { extensionEntries } from "../src/extensions.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { encodeFrame, FrameError, readFrames } from "../src/sandbox/frames.ts";
import {
  PermissionError,
  sandboxedEntry,
  type SandboxOptions,
  workerPermissions,
} from "../src/sandbox/mod.ts";

const FIXTURES = new URL("./fixtures/sandbox/", import.meta.url);
const FIXTURE_DIR = fileURLToPath(FIXTURES).replace(/\/$/, "");
const fixture = (name: string) => new URL(`${name}/mod.ts`, FIXTURES);

const sandboxed = (
  id: string,
  permissions: Permissions = {},
  opts: SandboxOptions & { deps?: string[] } = {},
) => sandboxedEntry(manifest(id, permissions, opts.deps), fixture(id), opts);

interface Counter {
  add(n: number): number;
}
const CounterKey = defineKey<Counter>("test.counter");
const HiddenKey = defineKey<{ get(): string }>("test.hidden");
const GreeterKey = defineKey<{ greet(name: string): Promise<string> }>("features.greeter");
const ShoutHook = defineKey<string>("test.shout");
const Ping = defineKey<{ n: number }>("test.ping");
const Pong = defineKey<{ n: number; from: string }>("test.pong");

/** A core extension providing one service sandboxes may reach and one they may not. */
function hostServices(): ExtensionEntry {
  let total = 0;
  return {
    manifest: { ...manifest("host-services"), core: true },
    activate(ctx) {
      ctx.services.provide(CounterKey, { add: (n) => total += n });
      ctx.services.provide(HiddenKey, { get: () => "hidden value" });
    },
  };
}
const features = (opts: SandboxOptions = {}) =>
  sandboxed("features", {}, {
    exposeServices: ["test.counter"],
    hooks: ["test.shout"],
    listenEvents: ["test.ping"],
    emitEvents: ["test.pong"],
    deps: ["host-services"],
    ...opts,
  });

function toolCtx(signal = new AbortController().signal, outputs: string[] = []): ToolContext {
  return {
    signal,
    conversationId: "conv",
    turnId: "turn",
    toolCallId: "direct",
    emitOutput: (data) => outputs.push(data),
  };
}

async function withSecretEnv<T>(fn: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("DISPATCH_API_KEY");
  Deno.env.set("DISPATCH_API_KEY", "sk-sandbox-test-secret");
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete("DISPATCH_API_KEY");
    else Deno.env.set("DISPATCH_API_KEY", before);
  }
}

// ---------------------------------------------------------------- permission mapping

Deno.test("workerPermissions grants exactly what is declared and turns every other kind off", () => {
  assertEquals(workerPermissions({}, { folder: "/ext/a" }), {
    read: ["/ext/a"],
    write: false,
    net: false,
    env: false,
    run: false,
    sys: false,
    import: false,
    ffi: false,
  });
  assertEquals(
    workerPermissions(
      { read: ["data", "/srv/x"], write: ["out"], net: ["127.0.0.1:8080"], env: ["HOME"], sys: ["hostname"] },
      { folder: "/ext/a" },
    ),
    {
      read: ["/ext/a", "/ext/a/data", "/srv/x"],
      write: ["/ext/a/out"],
      net: ["127.0.0.1:8080"],
      env: ["HOME"],
      run: false,
      sys: ["hostname"],
      import: false,
      ffi: false,
    },
  );
  const broad = workerPermissions({ read: true, net: true }, {
    folder: "/ext/a",
    allowBroad: ["read", "net"],
  });
  assertEquals([broad.read, broad.net], [true, true]);
});

Deno.test("workerPermissions expands placeholders through the caller's hook", () => {
  const seen: string[] = [];
  const expand = (placeholder: string, kind: string) => {
    seen.push(`${kind}:${placeholder}`);
    return placeholder === "$ROOTS" ? ["/home/u/a", "/home/u/b"] : [];
  };
  const out = workerPermissions({ read: ["$ROOTS"], write: ["$ROOTS", "$NOTHING"] }, {
    folder: "/ext",
    expand,
  });
  assertEquals(out.read, ["/ext", "/home/u/a", "/home/u/b"]);
  assertEquals(out.write, ["/home/u/a", "/home/u/b"]);
  assertEquals(seen, ["read:$ROOTS", "write:$ROOTS", "write:$NOTHING"]);
  assertThrows(() => workerPermissions({ read: ["$ROOTS"] }, { folder: "/ext" }), /no expansion/);
});

Deno.test("workerPermissions refuses env grants that could reach a secret", () => {
  for (
    const env of [true, ["DISPATCH_API_KEY"], ["DISPATCH_TOKEN"], ["OPENAI_KEY"], ["gh_token"], [
      "DB_PASSWORD",
    ], [
      "DISPATCH_*",
    ]] as const
  ) {
    const error = assertThrows(() =>
      workerPermissions({ env: env as Permissions["env"] }, { folder: "/ext" })
    );
    assert(error instanceof PermissionError, `${JSON.stringify(env)} is refused`);
  }
  const secretPlaceholder = () => ["MY_SECRET"];
  assertThrows(
    () => workerPermissions({ env: ["$VARS"] }, { folder: "/ext", expand: secretPlaceholder }),
    /looks like a secret/,
  );
});

Deno.test("read, run and net as true need the operator's explicit grant", async () => {
  for (const kind of ["read", "run", "net"] as const) {
    const error = assertThrows(() => workerPermissions({ [kind]: true }, { folder: "/ext" }));
    assert(error instanceof PermissionError);
    assertStringIncludes(error.message, `permissions.${kind}: true needs the operator's explicit grant`);
    assertStringIncludes(error.message, `allowBroad: ["${kind}"]`);
    assertEquals(workerPermissions({ [kind]: true }, { folder: "/ext", allowBroad: [kind] })[kind], true);
  }
  const entry = sandboxed("helper", { net: true });
  const { host } = await boot([entry]);
  try {
    assertMatch(
      stateOf(host, "helper")?.error ?? "",
      /permissions\.net: true needs the operator's explicit grant/,
    );
    assertEquals(entry.starts(), 0, "nothing was spawned");
  } finally {
    await host.shutdown();
  }
});

Deno.test("frames: split across chunks, several per chunk; an oversized or non-JSON frame ends the stream", async () => {
  const frames = [encodeFrame({ t: "a" }), encodeFrame({ t: "b", text: "é".repeat(3000) }), encodeFrame([1])];
  const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  frames.reduce((at, f) => (bytes.set(f, at), at + f.length), 0);
  const chunks = [bytes.subarray(0, 3), bytes.subarray(3, 5000), bytes.subarray(5000)];
  const got: unknown[] = [];
  await readFrames(ReadableStream.from(chunks), (m) => got.push(...m));
  assertEquals(got, [{ t: "a" }, { t: "b", text: "é".repeat(3000) }, [1]]);
  const big = new Uint8Array([0, 0, 1, 0]); // announces 256 bytes
  const over = await assertRejects(
    () => readFrames(ReadableStream.from([big]), () => {}, 100),
    /over the 100-byte/,
  );
  assert(over instanceof FrameError);
  const junk = new Uint8Array([0, 0, 0, 2, 0x7b, 0x7b]);
  await assertRejects(() => readFrames(ReadableStream.from([junk]), () => {}), /not valid UTF-8 JSON/);
  assertThrows(() => encodeFrame({ n: 1n }), /BigInt/);
  assertThrows(() => encodeFrame("x".repeat(200), 100), /over the 100-byte limit/);
});

Deno.test("a manifest asking for a secret env var fails before its worker is spawned", async () => {
  const entry = sandboxed("helper", { env: ["DISPATCH_API_KEY"] });
  const { host } = await boot([entry, sandboxed("prober")]);
  try {
    assertEquals(stateOf(host, "helper")?.status, "failed");
    assertMatch(stateOf(host, "helper")?.error ?? "", /"DISPATCH_API_KEY" looks like a secret/);
    assertEquals(entry.state(), "starting", "no worker was ever started");
    assertEquals(stateOf(host, "prober")?.status, "active");
  } finally {
    await host.shutdown();
  }
});

// ---------------------------------------------------------------- refusals

Deno.test("a sandbox without permissions refuses each escape as a tool error; the host keeps serving", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sandbox-" });
  const secretFile = join(tmp, "secret.txt");
  await Deno.writeTextFile(secretFile, "outside secret");
  await Deno.writeTextFile(join(tmp, "secret.json"), JSON.stringify({ secret: "computed" }));
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    hits++;
    return new Response("loopback secret");
  });
  const { host } = await boot([sandboxed("prober"), sandboxed("helper")]);
  try {
    await withSecretEnv(async () => {
      const cases: [string, string | undefined, RegExp][] = [
        ["read", secretFile, /^tool failed: NotCapable: Requires read access to ".*secret\.txt"/],
        ["import-json", undefined, /Requires read access to ".*fixtures\/sandbox\/secret\.json"/],
        [
          "import-computed",
          pathToFileURL(join(tmp, "secret.json")).href,
          /Requires read access to ".*secret\.json"/,
        ],
        [
          "fetch",
          `http://127.0.0.1:${server.addr.port}/`,
          /NotCapable: Requires net access to "127\.0\.0\.1:\d+"/,
        ],
        ["env", undefined, /NotCapable: Requires env access to "DISPATCH_API_KEY"/],
        ["run", undefined, /NotCapable: Requires run access to "echo"/],
        ["write", join(tmp, "written.txt"), /NotCapable: Requires write access to ".*written\.txt"/],
      ];
      for (const [action, target, refusal] of cases) {
        const result = await callTool(host, "probe", { action, target });
        assert(result.isError, `${action} is refused`);
        assertMatch(result.content, refusal);
        assert(!result.content.includes('secret"'), "no secret content leaks");
        assertEquals(
          (await callTool(host, "ping", {})).content,
          "pong",
          `helper still serves after ${action}`,
        );
      }
    });
    assertEquals(hits, 0, "the loopback server was never reached");
    await assertRejects(() => Deno.stat(join(tmp, "written.txt")), /No such file/);
    assertEquals(stateOf(host, "prober")?.status, "active");
  } finally {
    await host.shutdown();
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("an extension statically importing a file outside its folder is refused at load", async () => {
  const { host, records } = await boot([sandboxed("static-escape"), sandboxed("helper")]);
  try {
    const state = stateOf(host, "static-escape");
    assertEquals(state?.status, "failed");
    assertMatch(
      state?.error ?? "",
      /cannot load the extension: TypeError: Requires read access to ".*secret\.json"/,
    );
    assert(!records.some((r) => r.msg === "leaked"), "activate never ran");
    assertEquals((await callTool(host, "ping", {})).content, "pong");
  } finally {
    await host.shutdown();
  }
});

Deno.test("read granted on one folder: readable there and nowhere else", async () => {
  const allowed = await Deno.makeTempDir({ prefix: "sandbox-allowed-" });
  const other = await Deno.makeTempDir({ prefix: "sandbox-other-" });
  await Deno.writeTextFile(join(allowed, "note.txt"), "allowed content");
  await Deno.mkdir(join(allowed, "sub"));
  await Deno.writeTextFile(join(allowed, "sub", "deep.txt"), "deep content");
  await Deno.writeTextFile(join(other, "note.txt"), "other content");
  const expand = (p: string) => p === "$ALLOWED" ? [allowed] : [];
  const { host } = await boot([sandboxed("prober", { read: ["$ALLOWED"] }, { expand })]);
  try {
    const read = (target: string) => callTool(host, "probe", { action: "read", target });
    assertEquals(await read(join(allowed, "note.txt")), {
      content: "allowed content",
      isError: false,
      outputs: [],
    });
    assertEquals((await read(join(allowed, "sub", "deep.txt"))).content, "deep content");
    for (const refused of [join(other, "note.txt"), join(FIXTURE_DIR, "secret.json"), "/etc/hostname"]) {
      const result = await read(refused);
      assert(result.isError, `${refused} is refused`);
      assertStringIncludes(result.content, `Requires read access to "${refused}"`);
    }
    const write = await callTool(host, "probe", { action: "write", target: join(allowed, "new.txt") });
    assertMatch(write.content, /Requires write access/);
  } finally {
    await host.shutdown();
    await Deno.remove(allowed, { recursive: true });
    await Deno.remove(other, { recursive: true });
  }
});

Deno.test("a symlink leading out of the extension folder is refused before spawning", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sandbox-link-" });
  const ext = join(tmp, "linked");
  await Deno.mkdir(ext);
  await Deno.writeTextFile(join(tmp, "secret.txt"), "outside");
  await Deno.writeTextFile(join(ext, "mod.ts"), "export function activate() {}\n");
  await Deno.symlink(join(tmp, "secret.txt"), join(ext, "data.txt"));
  const entry = sandboxedEntry(manifest("linked"), pathToFileURL(join(ext, "mod.ts")));
  const { host } = await boot([entry]);
  try {
    assertEquals(stateOf(host, "linked")?.status, "failed");
    assertMatch(stateOf(host, "linked")?.error ?? "", /symlink leading outside it: .*data\.txt/);
    assertEquals(entry.state(), "starting", "no worker was ever started");
  } finally {
    await host.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("npm:ai loads in a sandbox only with sys hostname declared", async () => {
  const { host } = await boot([
    sandboxedEntry(manifest("no-sys"), fixture("needs-ai")),
    sandboxedEntry(manifest("with-sys", { sys: ["hostname"] }), fixture("needs-ai")),
  ]);
  try {
    assertEquals(stateOf(host, "no-sys")?.status, "failed");
    assertMatch(stateOf(host, "no-sys")?.error ?? "", /Requires sys access to "hostname"/);
    assertEquals(stateOf(host, "with-sys")?.status, "active");
  } finally {
    await host.shutdown();
  }
});

// ---------------------------------------------------------------- failures

Deno.test("a worker failing to load, throwing in activate or hanging is a failed extension", async () => {
  const entries = [
    sandboxed("crash-top"),
    sandboxed("crash-activate"),
    sandboxed("hang", {}, { activateTimeoutMs: 300 }),
    sandboxed("helper"),
  ];
  const { host } = await boot(entries);
  try {
    assertMatch(stateOf(host, "crash-top")?.error ?? "", /cannot load the extension: top-level boom/);
    assertMatch(stateOf(host, "crash-activate")?.error ?? "", /activate failed: activate boom/);
    assertMatch(stateOf(host, "hang")?.error ?? "", /did not activate within 300 ms/);
    for (const id of ["crash-top", "crash-activate", "hang"]) {
      assertEquals(stateOf(host, id)?.status, "failed");
    }
    for (const entry of entries.slice(0, 3)) assertEquals(entry.state(), "stopped", "its worker is gone");
    assert(
      !host.tools.list().some((t) => t.spec.name === "half_built"),
      "a failed activation leaves no tools",
    );
    assertEquals((await callTool(host, "ping", {})).content, "pong");
  } finally {
    await host.shutdown();
  }
});

Deno.test("a host process dying mid-call fails the call naming the extension, is reported, and restarts", async () => {
  const entry = sandboxed("crash-later", {}, {
    hooks: ["test.shout"],
    restartBackoffMs: 50,
    maxBackoffMs: 50,
  });
  const { host, records } = await boot([entry]);
  try {
    for (const [i, how] of ["throw", "close", "exit"].entries()) {
      assertEquals(await host.hooks.run(ShoutHook, "x"), "x (seen by crash-later)");
      const explode = host.tools.list().find((t) => t.spec.name === "explode")!;
      const error = await assertRejects(() => explode.execute({ how }, toolCtx()));
      // Until the backoff passes (a timer), nothing below waits on I/O: this is the crashed state.
      assertMatch(error.message, /^sandboxed extension crash-later crashed: /);
      if (how === "throw") assertStringIncludes(error.message, "later boom");
      else assertStringIncludes(error.message, how === "close" ? "close()" : "Deno.exit(3)");
      assertEquals(entry.state(), "crashed");
      const listed = host.list().find((x) => x.id === "crash-later")!;
      assertEquals(listed.status, "failed", "the host lists a crashed sandbox as failed");
      assertMatch(listed.error ?? "", /crashed/);
      assert(records.some((r) => r.ext === "crash-later" && r.msg === "sandboxed extension crashed"));
      assertEquals(await host.hooks.run(ShoutHook, "x"), "x", "the dead worker's hook is withdrawn");
      await assertRejects(() => explode.execute({ how }, toolCtx()), /crash-later is not running \(crashed/);

      await waitFor("the restart", () => entry.state() === "running");
      assertEquals(entry.starts(), i + 2);
      assertEquals(stateOf(host, "crash-later")?.status, "active", "listed active again");
      assert(records.some((r) => r.msg === "extension recovered" && r.extension === "crash-later"));
      assertEquals(host.tools.list().filter((t) => t.spec.name === "explode").length, 1, "one tool, kept");
    }
  } finally {
    await host.shutdown();
  }
});

// ---------------------------------------------------------------- the bridge

Deno.test("the bridge: one host serves logs, validation, abort, hooks, events, services, config, shutdown", async (t) => {
  const entry = features({ grantConfig: { FIRECRAWL_API_KEY: "fc-granted" } });
  const { host, records } = await boot([hostServices(), entry], {
    DISPATCH_GREETING: "hi",
    DISPATCH_API_KEY: "sk-x",
  });
  try {
    await t.step("ctx.log and console lines reach the host's sink tagged with the extension id", () => {
      const active = records.find((r) => r.msg === "features active");
      assertEquals([active?.ext, active?.level, active?.greeting], ["features", "info", "hi"]);
      const line = records.find((r) => r.source === "console");
      assertEquals([line?.ext, line?.msg], ["features", "a console line { n: 1 }"]);
    });

    await t.step("tool input is validated in the worker with the extension's own zod schema", async () => {
      const spec = host.tools.list().find((t) => t.spec.name === "echo")!.spec;
      assertEquals(spec.parameters.required, ["text"], "the JSON schema came from z.toJSONSchema");
      const bad = await callTool(host, "echo", { text: "", times: -1 });
      assert(bad.isError);
      assertMatch(bad.content, /^invalid arguments for echo: text: .*; times: /);
      const good = await callTool(host, "echo", { text: "hi", times: 2 });
      assertEquals(good, { content: "hi x2 (call-echo)", isError: false, outputs: ["hi", "hi"] });
      assertEquals(
        (await callTool(host, "echo", { text: "once" })).content,
        "once x1 (call-echo)",
        "defaults apply",
      );
    });

    await t.step("abort: the worker-side signal fires and the host call settles at once", async () => {
      const stubborn = host.tools.list().find((t) => t.spec.name === "stubborn")!;
      const controller = new AbortController();
      const call = stubborn.execute({}, toolCtx(controller.signal));
      await new Promise((r) => setTimeout(r, 100));
      const abortedAt = performance.now();
      controller.abort();
      await assertRejects(() => call, /tool stubborn aborted/);
      assert(performance.now() - abortedAt < 100, "settled without waiting for the worker");
      await waitFor("the worker to see its signal", () => records.some((r) => r.msg === "saw abort"));
      const saw = records.find((r) => r.msg === "saw abort")!;
      assertEquals([saw.ext, saw.toolCallId], ["features", "direct"]);
    });

    await t.step(
      "a tool that ignores its abort but leaves its thread free keeps the host alive",
      async () => {
        const alive = () =>
          records.filter((r) => r.msg === "sandbox still answers after a call it gave up on");
        const before = alive().length;
        const controller = new AbortController();
        const call = host.tools.list().find((t) => t.spec.name === "stubborn")!.execute(
          {},
          toolCtx(controller.signal),
        );
        controller.abort();
        await assertRejects(() => call, /aborted/);
        await waitFor("the host to answer its ping after the abort", () => alive().length > before);
        assertEquals(entry.state(), "running");
        assertEquals(
          (await callTool(host, "echo", { text: "still here" })).content,
          "still here x1 (call-echo)",
        );
      },
    );

    await t.step("hooks registered in a worker transform and veto host hook runs", async () => {
      assertEquals(await host.hooks.run(ShoutHook, "hello"), "HELLO");
      const vetoed = await host.hooks.run(ShoutHook, "forbidden");
      assert(isVeto(vetoed) && vetoed.veto === "features says no");
      host.hooks.register(ShoutHook, (v) => `${v}!`, { priority: 10 });
      assertEquals(await host.hooks.run(ShoutHook, "a"), "A!", "worker and host handlers chain by priority");
      assertEquals((await callTool(host, "run_hook", { value: "from worker" })).content, '"FROM WORKER!"');
    });

    await t.step("events flow from host to worker listeners and back", async () => {
      const got: { n: number; from: string }[] = [];
      host.events.on(Pong, (p) => got.push(p));
      host.events.emit(Ping, { n: 1 });
      host.events.emit(Ping, { n: 41 });
      await waitFor("pongs", () => got.length === 2);
      assertEquals(got, [{ n: 2, from: "features" }, { n: 42, from: "features" }]);
    });

    await t.step(
      "services: allow-listed host services are async proxies, others unreachable, worker ones proxied",
      async () => {
        assertEquals((await callTool(host, "count", { n: 2 })).content, "total 2");
        assertEquals((await callTool(host, "count", { n: 3 })).content, "total 5");
        const reach = await callTool(host, "reach", { key: "test.hidden", method: "get" });
        assert(reach.isError);
        assertMatch(reach.content, /service "test.hidden" is not available to sandboxed extension features/);
        const forged = JSON.parse(
          (await callTool(host, "forge", { key: "test.hidden", method: "get" })).content,
        );
        assertEquals(forged.ok, false, "the host enforces the allow-list itself");
        assertMatch(forged.error, /not exposed to sandboxed extensions/);
        const proto = JSON.parse(
          (await callTool(host, "forge", { key: "test.counter", method: "constructor" })).content,
        );
        assertMatch(proto.error, /has no method constructor/);
        assertEquals(await host.services.require(GreeterKey).greet("Ada"), "hi, Ada");
      },
    );

    await t.step("config: the host's minus secrets, plus this extension's grantConfig", async () => {
      assertEquals((await callTool(host, "config", {})).content, "DISPATCH_GREETING,FIRECRAWL_API_KEY");
    });
  } finally {
    const echo = host.tools.list().find((t) => t.spec.name === "echo")!;
    await host.shutdown();
    await t.step("shutdown runs the worker's deactivate and ends the host process", async () => {
      assertEquals(entry.state(), "stopped");
      assert(records.some((r) => r.ext === "features" && r.msg === "features deactivated"));
      await assertRejects(
        () => echo.execute({ text: "late" }, toolCtx()),
        /features is not running \(shut down\)/,
      );
      assertEquals(host.tools.list().length, 0);
    });
  }
});

Deno.test("a worker stuck in a synchronous loop is terminated after an abort it cannot answer", async () => {
  const entry = sandboxed("crash-later", {}, {
    pingTimeoutMs: 300,
    hooks: ["test.shout"],
    restartBackoffMs: 60_000,
  });
  const { host } = await boot([entry]);
  try {
    const spin = host.tools.list().find((t) => t.spec.name === "spin")!;
    const controller = new AbortController();
    const call = spin.execute({}, toolCtx(controller.signal));
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    await assertRejects(() => call, /tool spin aborted/);
    await waitFor("the stuck worker to be terminated", () => entry.state() === "crashed");
    await assertRejects(
      () => spin.execute({}, toolCtx()),
      /crash-later is not running \(crashed: unresponsive.*; restarting in \d+ s/,
    );
  } finally {
    await host.shutdown();
  }
});

Deno.test("a sandbox may touch only the hooks, events and service names its allow-lists give it", async () => {
  const { host } = await boot([
    hostServices(),
    sandboxed("features", {}, { exposeServices: ["test.counter"], deps: ["host-services"] }),
  ]);
  try {
    const state = host.list().find((s) => s.id === "features")!;
    assertEquals(state.status, "failed");
    assertMatch(state.error ?? "", /may not join hook "test\.shout"/);
    assertMatch(state.error ?? "", /may not listen to event "test\.ping"/);
  } finally {
    await host.shutdown();
  }
});

// ---------------------------------------------------------------- started when first needed

Deno.test("declared tools are offered before the extension runs; the first call starts it, idleness stops it", async () => {
  const { manifest: lazyManifest } = await import("./fixtures/sandbox/lazy/manifest.ts");
  const entry = sandboxedEntry(lazyManifest, fixture("lazy"), { idleMs: 1000 });
  const { host, records } = await boot([entry, sandboxed("helper")]);
  try {
    assertEquals(stateOf(host, "lazy")?.status, "active");
    assertEquals([entry.state(), entry.starts(), entry.pid()], ["idle", 0, undefined], "no process yet");
    const greet = host.tools.list().find((t) => t.spec.name === "greet")!;
    const declared = lazyManifest.tools![0];
    assertEquals(greet.spec, {
      name: "greet",
      description: declared.description,
      parameters: declared.parameters,
    });
    assertEquals(greet.spec.parameters.required, ["name"], "the declaration is the zod schema's JSON Schema");

    // Two calls at once share one start; the module's registration matched the declaration byte for byte.
    const [a, b] = await Promise.all([
      callTool(host, "greet", { name: "Ada" }),
      callTool(host, "greet", { name: "Grace" }),
    ]);
    assertEquals([a.content, b.content], ["hello, Ada", "hello, Grace"]);
    assertEquals([entry.state(), entry.starts()], ["running", 1]);
    const bad = await callTool(host, "greet", { name: "" });
    assert(bad.isError, "input is still validated in the worker");
    assertMatch(bad.content, /^invalid arguments for greet: name: /);

    await waitFor("the idle host to stop", () => entry.state() === "idle");
    assert(records.some((r) => r.ext === "lazy" && r.msg === "lazy deactivated"), "it was deactivated");
    assertEquals((await callTool(host, "greet", { name: "again" })).content, "hello, again");
    assertEquals(entry.starts(), 2, "the next call started a new host");
  } finally {
    await host.shutdown();
  }
  assertEquals(entry.state(), "stopped");
});

Deno.test("a module registering a tool unlike its manifest's declaration is refused on its first call", async () => {
  const { manifest: lazyManifest } = await import("./fixtures/sandbox/lazy/manifest.ts");
  const drifted = {
    ...lazyManifest,
    id: "drifted",
    tools: [{ ...lazyManifest.tools![0], description: "an older description" }],
  };
  const entry = sandboxedEntry(drifted, fixture("lazy"), { restartBackoffMs: 10_000 });
  const { host } = await boot([entry]);
  try {
    const first = await callTool(host, "greet", { name: "Ada" });
    assert(first.isError);
    assertMatch(first.content, /registers tool greet unlike its manifest declares it/);
    assertEquals(stateOf(host, "drifted")?.status, "failed", "reported");
    const second = await callTool(host, "greet", { name: "Ada" });
    assertMatch(second.content, /is not running .*; restarting in \d+ s/, "backoff: no new process at once");
    assertEquals(entry.starts(), 1);
  } finally {
    await host.shutdown();
  }
});

// ---------------------------------------------------------------- no bubblewrap

Deno.test("without a working bubblewrap the daemon loads no sandboxed extension, unless the operator opts out", async () => {
  // A bwrap that exists but is refused, as under AppArmor's user namespace restriction.
  const bin = await Deno.makeTempDir({ prefix: "no-bwrap-" });
  await Deno.writeTextFile(
    join(bin, "bwrap"),
    '#!/bin/sh\n[ "$1" = --version ] && { echo "bubblewrap 0.8.0"; exit 0; }\n' +
      'echo "bwrap: setting up uid map: Permission denied" >&2; exit 1\n',
  );
  await Deno.chmod(join(bin, "bwrap"), 0o755);
  const closed = await startDaemon({ env: { PATH: bin } });
  try {
    assertEquals((await closed.fetch("/health")).status, 200, "the daemon itself runs");
    const refusals = closed.logs().split("\n").filter((l) => l.includes('"extension not loaded"'));
    for (const id of ["todo", "tool-read-file", "tool-shell"]) {
      const line = refusals.find((l) => l.includes(`"extension":"${id}"`));
      assert(line, `${id} is not loaded`);
      assertStringIncludes(line, "Debian package bubblewrap");
      assertStringIncludes(line, "setting up uid map: Permission denied");
      assertStringIncludes(line, "DISPATCH_UNCONFINED_SANDBOX=1");
    }
  } finally {
    await closed.stop();
  }
  const open = await startDaemon({ env: { PATH: bin, DISPATCH_UNCONFINED_SANDBOX: "1" } });
  try {
    const logs = open.logs();
    assert(!logs.includes('"extension not loaded","extension":"todo"'), "todo loads unconfined");
    assertMatch(
      logs,
      /"msg":"running without bubblewrap \(DISPATCH_UNCONFINED_SANDBOX=1\)[^"]*","ext":"todo"/,
    );
  } finally {
    await open.stop();
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("sandbox settings: a malformed idle time or memory limit is a config error naming it", () => {
  const env = (extra: Record<string, string>) => ({
    HOME: "/nonexistent",
    DISPATCH_ENV_FILE: "/nonexistent/env",
    ...extra,
  });
  for (
    const [name, value, message] of [
      ["DISPATCH_SANDBOX_IDLE_MS", "soon", /DISPATCH_SANDBOX_IDLE_MS must be a whole number of milliseconds/],
      ["DISPATCH_SANDBOX_MEMORY_MB", "-1", /DISPATCH_SANDBOX_MEMORY_MB must be a whole number of MiB/],
      ["DISPATCH_SANDBOX_MEMORY_MB", "64", /DISPATCH_SANDBOX_MEMORY_MB must be at least 256/],
    ] as const
  ) {
    const error = assertThrows(
      () => extensionEntries(loadConfig(env({ [name]: value }), "/nonexistent")),
      message,
    );
    assert(error instanceof ConfigError);
  }
  assert(
    extensionEntries(
      loadConfig(env({ DISPATCH_SANDBOX_IDLE_MS: "0", DISPATCH_SANDBOX_MEMORY_MB: "2048" }), "/"),
    ),
  );
});

Deno.test("shutting down while a first call is starting its host ends the host and fails the call", async () => {
  const declared = { name: "never", description: "Never registered", parameters: { type: "object" } };
  const entry = sandboxedEntry({ ...manifest("hang"), tools: [declared] }, fixture("hang"), {
    activateTimeoutMs: 60_000,
  });
  const { host } = await boot([entry]);
  const failed = assertRejects(() => host.tools.list()[0].execute({}, toolCtx()), /hang shut down/);
  await waitFor("the host process to start", () => entry.state() === "starting");
  await host.shutdown();
  await failed;
  assertEquals(entry.state(), "stopped");
});

Deno.test("a daemon killed outright takes its sandbox host processes with it", async () => {
  const daemon = await startDaemon();
  const tree = async (pid: number): Promise<number[]> => {
    const out = [pid];
    for (let i = 0; i < out.length; i++) {
      const kids = await Deno.readTextFile(`/proc/${out[i]}/task/${out[i]}/children`).catch(() => "");
      out.push(...kids.split(" ").filter(Boolean).map(Number));
    }
    return out.slice(1);
  };
  let hosts: number[] = [];
  try {
    hosts = await tree(daemon.child.pid); // the daemon listens only once its eager sandboxes are active
    assert(hosts.length >= 3, `bwrap and the host process of each eager sandbox run (${hosts.length})`);
  } finally {
    await daemon.kill();
  }
  for (const pid of hosts) assert(await waitGone(pid), `process ${pid} ended with the daemon`);
});
