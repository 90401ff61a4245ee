// Against the real bwrap: what a confined command can see, change and reach.
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { BWRAP, bwrapArgs, type ConfinedView, probeBwrap, spawnConfined } from "./bwrap.ts";
import { processesWith, sleepMarker, waitProcesses } from "../../tests/process.ts";

async function confined(view: ConfinedView, script: string): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command(BWRAP, {
    args: [...bwrapArgs(view), "bash", "-c", script],
    clearEnv: true,
    env: { PATH: "/usr/local/bin:/usr/bin:/bin" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}

/** A cwd holding an env file and a data folder (the default layout), and a secret outside it. */
async function layout() {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-bwrap-" }));
  const cwd = `${dir}/project`;
  await Deno.mkdir(`${cwd}/.dispatch`, { recursive: true });
  await Deno.writeTextFile(`${cwd}/.env`, "TOKEN=env-secret-1\n");
  await Deno.writeTextFile(`${cwd}/.dispatch/dispatch.db`, "db-secret-2");
  await Deno.writeTextFile(`${cwd}/readme.txt`, "hello");
  await Deno.writeTextFile(`${dir}/outside.txt`, "outside-3");
  return {
    dir,
    cwd,
    env: `${cwd}/.env`,
    data: `${cwd}/.dispatch`,
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("probeBwrap finds a working bwrap and caches the answer", async () => {
  const probe = await probeBwrap();
  assert(probe.ok, probe.ok ? "" : probe.reason);
  assertStringIncludes(probe.version, "bubblewrap");
  assert(probeBwrap() === probeBwrap());
});

Deno.test("probeBwrap names the package when bwrap is missing", async () => {
  const probe = await probeBwrap("/nonexistent/bwrap");
  assert(!probe.ok);
  assertStringIncludes(probe.reason, "`bubblewrap`");
});

Deno.test("bwrapArgs: capabilities dropped, namespaces, user namespaces disabled unless nesting", () => {
  const args = bwrapArgs({ base: "minimal" });
  for (
    const flag of [
      "--unshare-user",
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--unshare-cgroup-try",
      "--die-with-parent",
      "--new-session",
      "--disable-userns",
    ]
  ) assert(args.includes(flag), flag);
  assertEquals(args[args.indexOf("--cap-drop") + 1], "ALL");
  assertEquals(args.at(-1), "--");
  assert(!args.includes("--unshare-net"));
  assert(bwrapArgs({ base: "minimal", network: false }).includes("--unshare-net"));
  assert(!bwrapArgs({ base: "minimal", nestedUserns: true }).includes("--disable-userns"));
  assert(
    !bwrapArgs({ base: "minimal", masked: ["/nonexistent/x"], readOnly: ["/nonexistent/y"] }).some((a) =>
      a.startsWith("/nonexistent")
    ),
  );
});

Deno.test("protected paths inside a writable cwd stay hidden: umount, mount, unshare, links", async () => {
  const l = await layout();
  try {
    await Deno.symlink(l.env, `${l.dir}/env-link`); // the env file named through a link, as an operator might
    const view: ConfinedView = {
      base: "host",
      writable: [l.cwd],
      masked: [`${l.dir}/env-link`, l.data, `${l.cwd}/.missing`],
      cwd: l.cwd,
    };
    const { code, out } = await confined(
      view,
      [
        "cat .env .dispatch/dispatch.db",
        "umount .env; umount .dispatch; umount -l .env",
        "cat .env .dispatch/dispatch.db",
        "mount --bind / /mnt && cat /mnt" + l.env,
        "unshare -Urm sh -c 'umount .env; cat .env'",
        "ln .env hard; ln .dispatch/dispatch.db hard2; cat hard hard2",
        "ln -s .env soft; ln -s .dispatch soft2; cat soft soft2/dispatch.db",
        "cat readme.txt; echo written > new.txt && cat new.txt",
        "echo x > /usr/x; echo y > " + l.dir + "/y",
        "echo end",
      ].join("\n"),
    );
    assertEquals(code, 0, out);
    for (const secret of ["env-secret-1", "db-secret-2"]) assert(!out.includes(secret), out);
    assertStringIncludes(out, "hello");
    assertStringIncludes(out, "written");
    assertStringIncludes(out, "end");
    assertEquals(await Deno.readTextFile(`${l.cwd}/new.txt`), "written\n");
    assertEquals(await Deno.readTextFile(l.env), "TOKEN=env-secret-1\n");
  } finally {
    await l.cleanup();
  }
});

Deno.test("minimal view: only system folders and the binds; read-only binds cannot be written", async () => {
  const l = await layout();
  try {
    const { out } = await confined(
      { base: "minimal", readOnly: [l.cwd], masked: [l.env, l.data] },
      `cat ${l.dir}/outside.txt; cat ${l.cwd}/readme.txt; echo x > ${l.cwd}/w && echo WROTE; ls /root /home 2>&1; cat ${l.env}`,
    );
    assert(!out.includes("outside-3"), out);
    assert(!out.includes("WROTE"), out);
    assert(!out.includes("env-secret-1"), out);
    assertStringIncludes(out, "hello");
  } finally {
    await l.cleanup();
  }
});

Deno.test("the PID namespace shows only the command's processes; network can be cut", async () => {
  const { out } = await confined({ base: "host" }, "ls -d /proc/[0-9]* | wc -l");
  assert(Number(out.trim()) <= 4, out); // bwrap's init, bash and ls (and wc)
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const shared = await confined({ base: "host" }, `exec 3<>/dev/tcp/127.0.0.1/${port} && echo CONNECTED`);
  assertStringIncludes(shared.out, "CONNECTED");
  const cut = await confined(
    { base: "host", network: false },
    `exec 3<>/dev/tcp/127.0.0.1/${port} && echo CONNECTED`,
  );
  assert(!cut.out.includes("CONNECTED"), cut.out);
});

Deno.test("a nesting view can run bwrap inside itself, and the inner sandbox is as tight", async () => {
  const l = await layout();
  try {
    // A Deno program inside the outer sandbox confines a command with this same module.
    const script = `
      import { bwrapArgs, probeBwrap } from ${JSON.stringify(new URL("./bwrap.ts", import.meta.url).href)};
      const probe = await probeBwrap();
      if (!probe.ok) { console.log("PROBE " + probe.reason); Deno.exit(3); }
      const out = await new Deno.Command("bwrap", {
        args: [...bwrapArgs({ base: "host", writable: [${JSON.stringify(l.cwd)}], masked: [${
      JSON.stringify(l.env)
    }], cwd: ${JSON.stringify(l.cwd)} }),
          "bash", "-c", "cat .env; umount .env; cat .env; unshare -Ur true || echo NO-USERNS; cat /proc/1/environ || echo NO-ENVIRON; echo inner-ok"],
        clearEnv: true, env: { PATH: "/usr/bin:/bin" }, stdout: "piped", stderr: "piped",
      }).output();
      console.log(new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr));
    `;
    await Deno.writeTextFile(`${l.dir}/nested.ts`, script);
    const { code, out } = await confined(
      { base: "host", nestedUserns: true, readOnly: [l.dir], writable: [l.cwd] },
      `${Deno.execPath()} run --allow-all --no-lock --quiet ${l.dir}/nested.ts`,
    );
    assertEquals(code, 0, out);
    assertStringIncludes(out, "inner-ok");
    assertStringIncludes(out, "NO-USERNS");
    assertStringIncludes(out, "NO-ENVIRON");
    assert(!out.includes("env-secret-1"), out);
  } finally {
    await l.cleanup();
  }
});

Deno.test("spawnConfined: a sandbox stopped at any moment, even while bwrap sets it up, leaves nothing", async () => {
  const marker = sleepMarker();
  for (let i = 0; i < 20; i++) {
    const child = spawnConfined({
      view: { base: "minimal" },
      argv: ["sh", "-c", `setsid sleep ${marker} & sleep ${marker}`],
      env: { PATH: "/usr/bin:/bin" },
      stderr: "null",
    });
    if (i % 4) await new Promise((r) => setTimeout(r, i % 4 === 1 ? 0 : i * 2));
    await child.stop();
    assertEquals((await child.status).code, 137);
    await child.stdout.cancel();
  }
  assert(await waitProcesses(marker, (p) => p.length === 0), `left: ${await processesWith(marker)}`);
});

Deno.test("spawnConfined: exit codes pass through; a command that kills the lifeline watcher ends itself", async () => {
  const run = async (script: string) => {
    const child = spawnConfined({
      view: { base: "minimal" },
      argv: ["bash", "-c", script],
      env: { PATH: "/usr/bin:/bin" },
    });
    const [out, err, status] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.status,
    ]);
    return { out, err, code: status.code };
  };
  assertEquals(await run("echo hi; echo oops >&2; exit 7"), { out: "hi\n", err: "oops\n", code: 7 });
  assertEquals((await run("kill -9 $$")).code, 137);
  const marker = sleepMarker();
  const killer = await run(`sleep ${marker} & pkill -KILL -x cat; sleep ${marker}`);
  assertEquals(killer.code, 137);
  assert(await waitProcesses(marker, (p) => p.length === 0));
});
