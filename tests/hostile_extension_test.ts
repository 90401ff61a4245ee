// A hostile sandboxed extension (tests/fixtures/sandbox/hostile) tries every escape the audit tried, in the
// default layout: its read and write grant is the workspace root, and the root holds a checkout with the env
// file and the data directory. Each attempt is refused or finds nothing, while a second extension and turns
// keep working. One host serves every step (they run in order): a step that kills the hostile host process
// also shows it reported and restarted before the next one.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { defineKey } from "../src/kernel/mod.ts";
import { sandboxedEntry } from "../src/sandbox/mod.ts";
import { boot, callTool, manifest, stateOf, waitFor } from "./fixtures/sandbox/harness.ts";

const SECRET = "hostile-test-secret-0b9f";
const fixture = (name: string) => new URL(`./fixtures/sandbox/${name}/mod.ts`, import.meta.url);
const Flood = defineKey<{ n: number }>("test.flood");

Deno.test("a hostile sandboxed extension: every escape is refused, the daemon and other extensions carry on", async (t) => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "hostile-" }));
  const home = join(tmp, "home"); // the workspace root, as DISPATCH_WORKSPACE_ROOTS defaults to $HOME
  const checkout = join(home, "dispatch");
  const dataDir = join(checkout, ".dispatch");
  const envFile = join(checkout, ".env");
  const outside = join(tmp, "outside");
  await Deno.mkdir(dataDir, { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(envFile, `DISPATCH_API_KEY=${SECRET}\n`);
  await Deno.writeTextFile(join(dataDir, "conversations.sqlite"), `SQLite format 3 ${SECRET}`);
  await Deno.writeTextFile(join(outside, "secret.txt"), SECRET);
  await Deno.writeTextFile(join(outside, "secret.json"), JSON.stringify({ secret: SECRET }));
  // Links a shell command made inside the grant (as run_shell or the user could), pointing out of the view.
  const links = {
    outside: [join(outside, "secret.txt"), join(home, "link-outside")],
    env: [envFile, join(home, "link-env")],
    data: [dataDir, join(home, "link-data")],
    db: [join(dataDir, "conversations.sqlite"), join(home, "link-db")],
  };
  for (const [target, link] of Object.values(links)) {
    const made = await new Deno.Command("ln", { args: ["-s", target, link] }).output();
    assert(made.success, `ln -s ${target} ${link}`);
  }
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    hits++;
    return new Response(SECRET);
  });

  const hostile = sandboxedEntry(
    manifest("hostile", { read: ["$ROOTS"], write: ["$ROOTS"] }),
    fixture("hostile"),
    {
      expand: (p) => p === "$ROOTS" ? [home] : [],
      emitEvents: ["test.flood"],
      restartBackoffMs: 50,
      maxBackoffMs: 100,
      toolGraceMs: 200,
      pingTimeoutMs: 300,
      limits: { heapMb: 96, rssLimitBytes: 256 * 1024 * 1024 },
    },
  );
  const helper = sandboxedEntry(manifest("helper"), fixture("helper"));
  const { host, records } = await boot([hostile, helper], {
    DISPATCH_PROTECTED_PATHS: JSON.stringify([dataDir, envFile]),
  });
  let floodEvents = 0;
  host.events.on(Flood, () => floodEvents++);
  const attack = (action: string, more: Record<string, unknown> = {}) =>
    callTool(host, "attack", { action, ...more });
  const refused = async (action: string, more: Record<string, unknown>, why: RegExp) => {
    const result = await attack(action, more);
    assert(result.isError, `${action} ${JSON.stringify(more)} is refused: ${result.content}`);
    assertMatch(result.content, why);
    assert(!result.content.includes(SECRET), "no secret in the answer");
    assertEquals((await callTool(host, "ping", {})).content, "pong", "the other extension still serves");
  };
  /** An attempt the kernel's view answers: whatever comes back (an error or an empty file), no secret. */
  const nothing = async (action: string, more: Record<string, unknown>) => {
    const result = await attack(action, more);
    assert(!result.content.includes(SECRET), `${action} ${JSON.stringify(more)} leaks nothing`);
    assertEquals((await callTool(host, "ping", {})).content, "pong");
    return result;
  };
  const restarted = async (starts: number, why: RegExp) => {
    await waitFor(
      "the hostile host to be reported",
      () => (stateOf(host, "hostile")?.error ?? "").match(why) !== null,
    );
    await waitFor(
      "the hostile host to be restarted",
      () => hostile.starts() > starts && hostile.state() === "running",
    );
    await waitFor("the host to list it active again", () => stateOf(host, "hostile")?.status === "active");
    assertEquals((await callTool(host, "ping", {})).content, "pong");
  };

  try {
    for (const s of host.list()) assertEquals(s.status, "active", `${s.id}: ${s.error}`);

    await t.step("files outside the grant, directly or by import", async () => {
      await refused("read", { target: join(outside, "secret.txt") }, /Requires read access/);
      await refused("read", { target: "/etc/hostname" }, /Requires read access/);
      await refused("import", { target: pathToFileURL(join(outside, "secret.json")).href }, /read access/);
      await refused("write", { target: join(outside, "planted.txt") }, /Requires write access/);
    });

    await t.step(
      "symlinks inside the grant pointing at a secret, the env file and the data directory",
      async () => {
        // Deno's check passes (the link lies in the grant); the view has nothing behind it.
        for (const [, link] of Object.values(links)) await nothing("read", { target: link });
        await nothing("list", { target: links.data[1] });
        const own = join(home, "own-link");
        await nothing("symlink", { target: join(outside, "secret.txt"), link: own });
        await nothing("read", { target: own });
      },
    );

    await t.step("the env file and the databases lying inside the roots", async () => {
      const env = await nothing("read", { target: envFile });
      if (!env.isError) assertEquals(env.content, "", "the env file reads as empty (masked)");
      await nothing("read", { target: join(dataDir, "conversations.sqlite") });
      await nothing("list", { target: dataDir });
      await nothing("write", { target: envFile });
      await nothing("write", { target: links.env[1] });
      await nothing("write", { target: join(dataDir, "conversations.sqlite") });
      assertEquals(
        await Deno.readTextFile(envFile),
        `DISPATCH_API_KEY=${SECRET}\n`,
        "the env file is untouched",
      );
      assertEquals(
        await Deno.readTextFile(join(dataDir, "conversations.sqlite")),
        `SQLite format 3 ${SECRET}`,
      );
    });

    await t.step("the environment, /proc, loopback and spawning", async () => {
      await refused("env", {}, /Requires env access/);
      await refused("environ", {}, /Requires read access to "\/proc\/1\/environ"/);
      await refused("environ", { target: "/proc/self/environ" }, /Requires read access/);
      await refused("fetch", { target: `http://127.0.0.1:${server.addr.port}/` }, /Requires net access/);
      await refused("spawn", { target: envFile }, /Requires run access to "cat"/);
      assertEquals(hits, 0, "the loopback server was never reached");
    });

    await t.step("log and event floods are dropped and counted; calls keep flowing", async () => {
      const logs = await attack("flood-logs");
      assertEquals(logs.content, "flooded");
      assertEquals((await callTool(host, "ping", {})).content, "pong");
      await waitFor(
        "the drop report",
        () => records.some((r) => r.msg === "sandbox messages dropped (rate limit)"),
      );
      const kept = records.filter((r) => r.ext === "hostile" && r.msg === "flood").length;
      assert(kept < 20_000, `most of 200000 log lines were dropped (kept ${kept})`);
      assertEquals((await attack("flood-events")).content, "flooded");
      assert(floodEvents < 20_000, `most of 200000 events were dropped (delivered ${floodEvents})`);
      assertEquals(hostile.state(), "running", "an honest flood through the bridge is only throttled");
    });

    await t.step(
      "frames forged straight onto stdout: throttled, then the flooding host is killed",
      async () => {
        const starts = hostile.starts();
        await nothing("flood-stdout", {});
        await restarted(starts, /flooded the bridge/);
        const again = hostile.starts();
        await nothing("garbage-stdout", {});
        await restarted(again, /malformed message stream/);
      },
    );

    await t.step(
      "1 GiB outside the heap, and an endless heap: the host is killed, the daemon unaffected",
      async () => {
        const before = Deno.memoryUsage().rss;
        let starts = hostile.starts();
        const buffer = await attack("allocate-buffer");
        assert(buffer.isError);
        assertMatch(buffer.content, /hostile crashed: ran out of memory \(\d+ MiB resident\)/);
        await restarted(starts, /ran out of memory/);
        starts = hostile.starts();
        const heap = await attack("allocate-heap");
        assert(heap.isError);
        assertMatch(heap.content, /hostile crashed: its host process ran out of memory/);
        await restarted(starts, /ran out of memory/);
        const grown = Deno.memoryUsage().rss - before;
        assert(
          grown < 128 * 1024 * 1024,
          `the daemon's own memory did not take the allocation (+${grown} bytes)`,
        );
      },
    );

    await t.step("a call stuck in a loop hits its time limit; the stuck host is replaced", async () => {
      const starts = hostile.starts();
      const spin = await callTool(host, "spin", {});
      assert(spin.isError);
      assertMatch(spin.content, /tool spin timed out after 500 ms/);
      await restarted(starts, /unresponsive/);
      assertEquals((await attack("list", { target: home })).isError, false, "the new host answers");
    });
  } finally {
    await host.shutdown();
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});
