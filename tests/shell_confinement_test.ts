// run_shell under bubblewrap, tried as an attacker would: every escape the audit found is attempted by a real
// command in the default layout (the data dir and the env file inside the cwd), against the real bwrap.
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ExtensionHost } from "../src/kernel/mod.ts";
import { toolCaller } from "./tool_calls.ts";
import * as shell from "../extensions/tool-shell/mod.ts";
import { processesWith, sleepMarker, waitProcesses } from "./process.ts";
import { loadConfig } from "../src/config.ts";
import { extensionFields } from "../extensions/surface-loaded-extensions/mod.ts";

const SECRETS = ["ENVFILE-SECRET-1", "DATABASE-SECRET-2", "JOURNAL-SECRET-3"];

/** A cwd holding .env and .dispatch/ (protected), a journal folder beside it (protected), and run_shell. */
async function shellFixture(config: Record<string, string> = {}) {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-confine-" }));
  const cwd = join(root, "project");
  const dataDir = join(cwd, ".dispatch");
  const envFile = join(cwd, ".env");
  const journal = join(root, "journal");
  await Deno.mkdir(dataDir, { recursive: true });
  await Deno.mkdir(journal);
  await Deno.writeTextFile(envFile, `DISPATCH_API_KEY=${SECRETS[0]}\n`);
  await Deno.writeTextFile(join(dataDir, "conversations.sqlite"), SECRETS[1]);
  await Deno.writeTextFile(join(journal, "log"), SECRETS[2]);
  const logs: string[] = [];
  const host = new ExtensionHost({
    sink: { write: (record) => logs.push(JSON.stringify(record)) },
    config: {
      DISPATCH_PROTECTED_PATHS: JSON.stringify([dataDir, envFile, journal]),
      DISPATCH_WORKSPACE_ROOTS: root,
      ...config,
    },
  });
  await host.boot([{ manifest: shell.manifest, activate: shell.activate }]);
  const state = host.list()[0];
  assertEquals(state.status, "active", state.error);
  const call = toolCaller(host, { cwd });
  const run = (command: string, signal?: AbortSignal) =>
    call("run_shell", { command, timeoutMs: 20_000 }, { signal });
  return {
    root,
    cwd,
    logs,
    host,
    run,
    async [Symbol.asyncDispose]() {
      await host.shutdown();
      await Deno.remove(root, { recursive: true });
    },
  };
}

function assertNoSecret(text: string) {
  for (const secret of SECRETS) assert(!text.includes(secret), `a secret leaked:\n${text}`);
}

Deno.test("run_shell: umount, mount --bind, unshare -Urm and links made by the command reveal nothing", async () => {
  await using f = await shellFixture();
  const journal = join(f.root, "journal");
  const attempts = [
    "cat .env .dispatch/conversations.sqlite",
    "umount .env; umount .dispatch; umount -l .dispatch; cat .env .dispatch/*",
    `mount --bind ${f.root} /mnt && cat /mnt/project/.env`,
    `mkdir -p up && mount --bind .. up && cat up/project/.env`,
    "unshare -Urm sh -c 'umount .env; umount .dispatch; cat .env .dispatch/*'",
    "unshare -r cat .env; unshare -m cat .env",
    "ln .env hard-env; ln .dispatch/conversations.sqlite hard-db; cat hard-env hard-db",
    `ln -s .env soft-env; ln -s .dispatch soft-data; ln -s ${journal} soft-journal`,
    "cat soft-env soft-data/* soft-journal/*; cp -r soft-data copied; cat copied/*",
    `cat ${journal}/log; ls -la ${journal} .dispatch`,
    "cat /proc/self/root$PWD/.env; cat /proc/1/root$PWD/.env",
    "python3 -c 'import os; print(os.listdir(\".dispatch\"))' 2>&1",
    "echo probe-done",
  ];
  for (const command of attempts) {
    const { content } = await f.run(command);
    assertNoSecret(content);
  }
  const { content } = await f.run(attempts.join("\n"));
  assertNoSecret(content);
  assertStringIncludes(content, "probe-done");
  // The files are untouched and the cwd was writable.
  assertEquals(await Deno.readTextFile(join(f.cwd, ".env")), `DISPATCH_API_KEY=${SECRETS[0]}\n`);
  assert((await Deno.lstat(join(f.cwd, "soft-env"))).isSymlink);
});

Deno.test("run_shell: /proc shows only the command's own processes; the system is read-only", async () => {
  await using f = await shellFixture();
  const { content } = await f.run(
    "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done; echo x > /etc/x-dispatch || echo RO",
  );
  assert(!content.includes("deno"), `a daemon process is visible:\n${content}`);
  assert(!content.includes(String(Deno.pid)), content);
  assertStringIncludes(content, "RO");
  const { content: count } = await f.run("ls -d /proc/[0-9]* | wc -l");
  assert(Number(count.split("\n")[0]) <= 8, count); // init, the lifeline wrapper and watcher, bash, ls, wc
});

Deno.test("run_shell: DISPATCH_SHELL_NETWORK=off cuts the network; shared by default", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connect = `exec 3<>/dev/tcp/127.0.0.1/${listener.addr.port} && echo CONNECTED`;
  {
    await using f = await shellFixture();
    assertStringIncludes((await f.run(connect)).content, "CONNECTED");
  }
  await using f = await shellFixture({ DISPATCH_SHELL_NETWORK: "off" });
  const { content } = await f.run(connect);
  assert(!content.includes("CONNECTED"), content);
});

Deno.test("run_shell: a bad confinement setting fails activation with a clear message", async () => {
  for (const [key, value] of [["DISPATCH_SHELL_NETWORK", "maybe"], ["DISPATCH_UNCONFINED_SHELL", "yes"]]) {
    const host = new ExtensionHost({ sink: { write() {} }, config: { [key]: value } });
    await host.boot([{ manifest: shell.manifest, activate: shell.activate }]);
    const state = host.list()[0];
    assertEquals(state.status, "failed");
    assertMatch(state.error ?? "", new RegExp(`${key} must be`));
    await host.shutdown();
  }
});

Deno.test("run_shell: a setsid child is gone after the command ends and after a stop", async () => {
  await using f = await shellFixture();
  const marker = sleepMarker();
  const done = await f.run(`setsid sleep ${marker} & (setsid sleep ${marker} &) ; echo ok`);
  assertEquals(done.content, "ok\nexit code 0");
  assert(await waitProcesses(marker, (p) => p.length === 0), "a setsid child outlived the command");

  const controller = new AbortController();
  const running = f.run(
    `setsid sleep ${marker} & setsid -f sleep ${marker}; sleep ${marker}`,
    controller.signal,
  );
  assert(await waitProcesses(marker, (p) => p.length >= 3), "the command's children started");
  controller.abort();
  assertMatch((await running).content, /aborted$/);
  assert(await waitProcesses(marker, (p) => p.length === 0), "a setsid child outlived the stop");
});

Deno.test("run_shell: nothing the command started survives a SIGKILL of the daemon", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-confine-kill-" }));
  const marker = sleepMarker();
  // A small daemon stand-in: runs one confined command through runCommand, as run_shell does.
  const script = `
    import { runCommand } from ${
    JSON.stringify(new URL("../extensions/tool-shell/run.ts", import.meta.url).href)
  };
    await runCommand({
      command: "setsid sleep ${marker} & setsid -f sleep ${marker}; echo started; sleep ${marker}",
      cwd: ${JSON.stringify(dir)},
      timeoutMs: 600000,
      signal: new AbortController().signal,
      env: { PATH: "/usr/bin:/bin" },
      confine: { base: "host", writable: [${JSON.stringify(dir)}] },
      onOutput: (data) => console.log(data.trim()),
      outputLimit: 1000,
      liveLimit: 1000,
    });
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("started")) {
      const { value, done } = await reader.read();
      assert(!done, `the stand-in ended early: ${seen}`);
      seen += value;
    }
    assert(await waitProcesses(marker, (p) => p.length >= 3), "the command's children started");
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    assert(
      await waitProcesses(marker, (p) => p.length === 0),
      `left running: ${await processesWith(marker)}`,
    );
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs run_shell in a child Deno whose PATH is `path` (so bwrap may be missing), printing logs and results. */
async function shellIn(path: string, config: Record<string, string>, command: string) {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-confine-path-" }));
  const script = `
    import { ExtensionHost } from ${JSON.stringify(new URL("../src/kernel/mod.ts", import.meta.url).href)};
    import * as shell from ${
    JSON.stringify(new URL("../extensions/tool-shell/mod.ts", import.meta.url).href)
  };
    const host = new ExtensionHost({ sink: { write: (r) => console.log("LOG " + JSON.stringify(r)) }, config: ${
    JSON.stringify(config)
  } });
    await host.boot([{ manifest: shell.manifest, activate: shell.activate }]);
    const tool = host.tools.list().find((t) => t.spec.name === "run_shell");
    for (let i = 0; i < 2; i++) {
      const r = await tool.execute(tool.parse({ command: ${JSON.stringify(command)} }).value, {
        signal: new AbortController().signal, conversationId: "c", turnId: "t", toolCallId: "x",
        cwd: ${JSON.stringify(dir)}, emitOutput() {},
      });
      console.log("RESULT " + JSON.stringify(r));
    }
    await host.shutdown();
  `;
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", script],
      env: { PATH: path },
      stderr: "inherit",
    }).output();
    assert(out.success, "the child ran");
    const lines = new TextDecoder().decode(out.stdout).split("\n");
    const results = lines.filter((l) => l.startsWith("RESULT ")).map((l) => JSON.parse(l.slice(7)));
    const logs = lines.filter((l) => l.startsWith("LOG ")).map((l) => JSON.parse(l.slice(4)));
    return { results, logs };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("run_shell fails closed when bwrap cannot run: every call is one clear error, and a warning", async () => {
  const bin = await Deno.makeTempDir({ prefix: "dispatch-nobwrap-" });
  try {
    await Deno.symlink("/bin/bash", join(bin, "bash")); // bash is there, bwrap is not
    const { results, logs } = await shellIn(bin, {}, "echo RAN");
    assertEquals(results.length, 2);
    for (const r of results) {
      assertEquals(r.isError, true);
      assertMatch(
        r.content,
        /run_shell is unavailable: .*`bubblewrap`.*not found on PATH.*DISPATCH_UNCONFINED_SHELL=1/,
      );
      assert(!r.content.includes("RAN"));
    }
    const warning = logs.find((l) => l.level === "warn");
    assert(warning, "a warning at start-up");
    assertMatch(JSON.stringify(warning), /bubblewrap/);

    // The operator's explicit opt-out: commands run unconfined, and the start-up log says so loudly.
    const optOut = await shellIn(bin, { DISPATCH_UNCONFINED_SHELL: "1" }, "echo RAN");
    for (const r of optOut.results) assertEquals(r, { content: "RAN\nexit code 0", isError: false });
    assertMatch(JSON.stringify(optOut.logs.find((l) => l.level === "warn")), /UNCONFINED/);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("the confinement settings reach the tools, and the opt-out shows on the loaded-extensions surface", () => {
  const config = loadConfig({
    DISPATCH_ENV_FILE: "/nonexistent/dispatch.env",
    DISPATCH_SHELL_NETWORK: "off",
    DISPATCH_UNCONFINED_SHELL: "1",
    DISPATCH_GREP_TIMEOUT_MS: "5000",
    HOME: "/tmp",
  }, "/tmp");
  assertEquals(config.public.DISPATCH_SHELL_NETWORK, "off");
  assertEquals(config.public.DISPATCH_UNCONFINED_SHELL, "1");
  assertEquals(config.public.DISPATCH_GREP_TIMEOUT_MS, "5000");
  const [field] = extensionFields(
    [{ id: "tool-shell", status: "active", sandboxed: true }],
    { "tool-shell": "UNCONFINED: commands run without bubblewrap (DISPATCH_UNCONFINED_SHELL=1)" },
  );
  assertMatch(
    String(field.kind === "stat" && field.value),
    /^active · ⚠ UNCONFINED: commands run without bubblewrap/,
  );
});
