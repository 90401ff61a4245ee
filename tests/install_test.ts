// install.sh into a DESTDIR (what it builds and installs, with which modes; the env file kept on reinstall;
// uninstall keeping config and data; its refusals), `systemd-analyze verify` on the unit, and the installed
// `dispatch setup` / `sync-env` driven through stdin.
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "./assert.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const INSTALL = `${ROOT}/install.sh`;
const DENO = Deno.execPath();
const decoder = new TextDecoder();

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  command: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string; cwd?: string } = {},
): Promise<Ran> {
  const child = new Deno.Command(command, {
    args,
    cwd: opts.cwd,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/", ...opts.env },
    clearEnv: true,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(opts.stdin));
    await writer.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

const mode = async (path: string) => ((await Deno.stat(path)).mode ?? 0) & 0o7777;
const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);
const oneLine = (r: Ran, pattern: RegExp) => {
  assert(r.code !== 0, `expected a failure: ${r.stdout}${r.stderr}`);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  assertMatch(r.stderr, pattern);
};

Deno.test("install.sh stages the program, unit, env file and folders; reinstall keeps the env; uninstall keeps data", async (t) => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-install-" }));
  const dest = `${tmp}/root`;
  const dist = `${tmp}/dist`;
  const env = { DESTDIR: dest, DIST_DIR: dist, DENO };
  try {
    await t.step("a build and install (compile cannot download its runtime here: the bundle)", async () => {
      const first = await run("sh", [INSTALL], { env });
      assertEquals(first.code, 0, first.stdout + first.stderr);
      assertMatch(first.stdout, /installed \/usr\/bin\/dispatch \((bundle|compiled)\)/);
    });
    const compiled = await exists(`${dist}/dispatch`);
    const dispatch = `${dest}/usr/bin/dispatch`;

    await t.step("files and modes", async () => {
      assertEquals(await mode(dispatch), 0o755);
      if (!compiled) {
        assertMatch(await Deno.readTextFile(dispatch), /^#!\/bin\/sh\n/);
        assertEquals(await mode(`${dest}/usr/lib/dispatch/deno`), 0o755);
        assertEquals(await mode(`${dest}/usr/lib/dispatch/dispatch.js`), 0o644);
        assertEquals(await mode(`${dest}/usr/lib/dispatch/sandbox/worker_bootstrap.js`), 0o644);
        assertEquals(await mode(`${dest}/usr/lib/dispatch/extensions/tool-shell/mod.js`), 0o644);
      }
      assertEquals(await mode(`${dest}/etc/dispatch/env`), 0o600);
      assertEquals(await mode(`${dest}/etc/systemd/system/dispatch.service`), 0o644);
      assertEquals(await mode(`${dest}/etc/systemd/system/dispatch.service.d/workspace.conf`), 0o644);
      assertEquals(await mode(`${dest}/var/lib/dispatch`), 0o750);
      assertEquals(await mode(`${dest}/var/log/dispatch`), 0o750);
      assertEquals(await mode(`${dest}/srv/dispatch`), 0o755);

      const envText = await Deno.readTextFile(`${dest}/etc/dispatch/env`);
      assertMatch(envText, /^BACKEND_PORT=24991$/m);
      assertMatch(envText, /^SURFACE_WS_PORT=24990$/m);
      assertMatch(envText, /^DISPATCH_API_KEY=$/m);
      assertMatch(envText, /^DISPATCH_DATA_DIR=\/var\/lib\/dispatch$/m);
      const unit = await Deno.readTextFile(`${dest}/etc/systemd/system/dispatch.service`);
      assertEquals(unit, await Deno.readTextFile(`${ROOT}/dispatch.service`));
      assertMatch(
        await Deno.readTextFile(`${dest}/etc/systemd/system/dispatch.service.d/workspace.conf`),
        /^\[Service\]\nReadWritePaths=-\/srv\/dispatch\n$/m,
      );

      const version = await run(dispatch, ["--version"]);
      assertEquals(version.code, 0, version.stderr);
      assertMatch(
        version.stdout,
        new RegExp(`^dispatch \\d+\\.\\d+\\.\\d+ \\((bundle|compiled)\\)\\ndeno ${Deno.version.deno} `),
      );
    });

    await t.step(
      "a reinstall keeps the env file, follows its workspace roots and replaces the program",
      async () => {
        const envFile = `${dest}/etc/dispatch/env`;
        const edited = (await Deno.readTextFile(envFile)) +
          "DISPATCH_API_KEY=sk-kept-across-reinstall\nDISPATCH_WORKSPACE_ROOTS=/srv/dispatch:/home/alice/code\n";
        await Deno.writeTextFile(envFile, edited);
        await Deno.writeTextFile(`${dest}/usr/lib/dispatch/stale.js`, "old").catch(() => {});
        const again = await run("sh", [INSTALL, "--no-build"], { env });
        assertEquals(again.code, 0, again.stdout + again.stderr);
        assertMatch(again.stdout, /kept \/etc\/dispatch\/env/);
        assertEquals(await Deno.readTextFile(envFile), edited);
        assertEquals(await mode(envFile), 0o600);
        assert(
          !(await exists(`${dest}/usr/lib/dispatch/stale.js`)),
          "a reinstall leaves no stale program files",
        );
        assertEquals(
          await Deno.readTextFile(`${dest}/etc/systemd/system/dispatch.service.d/workspace.conf`),
          "# Written by install.sh from DISPATCH_WORKSPACE_ROOTS in /etc/dispatch/env; run it again after changing them.\n" +
            "[Service]\nReadWritePaths=-/srv/dispatch\nReadWritePaths=-/home/alice/code\nBindPaths=-/home/alice/code\n" +
            "ProtectHome=tmpfs\n",
        );
      },
    );

    await t.step("PREFIX moves the program and the unit's ExecStart", async () => {
      const other = `${tmp}/prefixed`;
      const r = await run("sh", [INSTALL, "--no-build"], {
        env: { ...env, DESTDIR: other, PREFIX: "/usr/local" },
      });
      assertEquals(r.code, 0, r.stdout + r.stderr);
      assert(await exists(`${other}/usr/local/bin/dispatch`));
      assertMatch(
        await Deno.readTextFile(`${other}/etc/systemd/system/dispatch.service`),
        /^ExecStart=\/usr\/local\/bin\/dispatch serve$/m,
      );
      const version = await run(`${other}/usr/local/bin/dispatch`, ["--version"]);
      assertEquals(version.code, 0, version.stderr);
    });

    await t.step("systemd-analyze verify accepts the unit", async (s) => {
      const analyze = await run("sh", ["-c", "command -v systemd-analyze"]);
      if (analyze.code !== 0) {
        console.log("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
      }
      // The installed unit, pointed at the staged program (verify checks that ExecStart is executable).
      const unit = (await Deno.readTextFile(`${dest}/etc/systemd/system/dispatch.service`))
        .replace(/^ExecStart=\/usr\/bin\/dispatch /m, `ExecStart=${dispatch} `);
      const dir = `${tmp}/verify`;
      await Deno.mkdir(dir);
      await Deno.writeTextFile(`${dir}/dispatch.service`, unit);
      const r = await run("systemd-analyze", ["verify", `${dir}/dispatch.service`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stderr.trim(), "", "no warnings");
      await s.step("and notices a broken one", async () => {
        await Deno.writeTextFile(
          `${dir}/dispatch.service`,
          unit.replace("Restart=on-failure", "Restart=sometimes"),
        );
        const bad = await run("systemd-analyze", ["verify", `${dir}/dispatch.service`]);
        assertMatch(bad.stderr, /restart specifier/);
      });
    });

    await t.step("setup through stdin writes a 0600 env file; bad answers are asked again", async () => {
      const target = `${tmp}/setup/env`;
      const r = await run(dispatch, ["setup", "--env-file", target], {
        stdin: "ftp://nope\nhttp://127.0.0.1:9/v1\nsk-from-stdin\n\n",
      });
      assertEquals(r.code, 0, r.stderr);
      assertMatch(
        r.stderr,
        /^dispatch: provider base url: the URL must start with http:\/\/ or https:\/\/\n$/,
      );
      assertEquals(await mode(target), 0o600);
      const text = await Deno.readTextFile(target);
      assertMatch(text, /^DISPATCH_BASE_URL=http:\/\/127\.0\.0\.1:9\/v1$/m);
      assertMatch(text, /^DISPATCH_API_KEY=sk-from-stdin$/m);
      assertMatch(text, /^DISPATCH_MODEL=deepseek-v4-flash$/m);
      assertMatch(text, /^BACKEND_PORT=24991$/m);
      assert(!r.stdout.includes("sk-from-stdin"), "the key is not echoed");

      // Again on the existing file: empty answers keep what is there, the rest of the file is untouched.
      await Deno.writeTextFile(target, text + "# my note\nBACKEND_PORT=25000\n");
      const again = await run(dispatch, ["setup", "--env-file", target], { stdin: "\n\nother-model\n" });
      assertEquals(again.code, 0, again.stderr);
      const after = await Deno.readTextFile(target);
      assertEquals(
        after,
        (text + "# my note\nBACKEND_PORT=25000\n").replace(
          /^DISPATCH_MODEL=.*$/m,
          "DISPATCH_MODEL=other-model",
        ),
      );

      const ended = await run(dispatch, ["setup", "--env-file", `${tmp}/setup/other`], { stdin: "" });
      oneLine(ended, /^dispatch: setup: input ended before the provider base url was given$/m);
      assert(!(await exists(`${tmp}/setup/other`)), "nothing written when setup did not finish");
      oneLine(await run(dispatch, ["setup", "--bogus"]), /--bogus/);
    });

    await t.step("sync-env copies keys, URLs and models, never ports or paths", async () => {
      const target = `${tmp}/setup/env`;
      const before = await Deno.readTextFile(target);
      const dev = `${tmp}/dev.env`;
      await Deno.writeTextFile(
        dev,
        'DISPATCH_API_KEY=sk-synced\nUMANS_API_KEY="with space"\nBACKEND_PORT=24203\nSURFACE_WS_PORT=24205\n' +
          "DISPATCH_DATA_DIR=./.dispatch\nDISPATCH_MODEL=other-model\n",
      );
      const r = await run(dispatch, ["sync-env", "--from", dev, "--env-file", target]);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout, /^updated DISPATCH_API_KEY, UMANS_API_KEY in /);
      assert(!r.stdout.includes("sk-synced"), "values are not printed");
      const after = await Deno.readTextFile(target);
      assertEquals(
        after,
        before.replace(/^DISPATCH_API_KEY=.*$/m, "DISPATCH_API_KEY=sk-synced") +
          'UMANS_API_KEY="with space"\n',
      );
      assertEquals(await mode(target), 0o600);
      const same = await run(dispatch, ["sync-env", "--from", dev, "--env-file", target]);
      assertMatch(same.stdout, /is up to date/);
      oneLine(
        await run(dispatch, ["sync-env", "--from", dev, "--env-file", `${tmp}/none`]),
        /no env file at .*none; run dispatch setup first/,
      );
      oneLine(
        await run(dispatch, ["sync-env", "--from", `${tmp}/missing.env`, "--env-file", target]),
        /no env file to copy from/,
      );
    });

    await t.step("uninstall removes the program and unit, keeps config, data and logs", async () => {
      await Deno.writeTextFile(`${dest}/var/lib/dispatch/conversations.sqlite`, "data");
      await Deno.writeTextFile(`${dest}/var/log/dispatch/dispatch.log`, "log");
      const r = await run("sh", [INSTALL, "--uninstall"], { env });
      assertEquals(r.code, 0, r.stdout + r.stderr);
      for (const gone of ["usr/bin/dispatch", "usr/lib/dispatch", "etc/systemd/system/dispatch.service"]) {
        assert(!(await exists(`${dest}/${gone}`)), `${gone} is still there`);
      }
      assert(!(await exists(`${dest}/etc/systemd/system/dispatch.service.d`)));
      assertMatch(await Deno.readTextFile(`${dest}/etc/dispatch/env`), /sk-kept-across-reinstall/);
      assertEquals(await Deno.readTextFile(`${dest}/var/lib/dispatch/conversations.sqlite`), "data");
      assertEquals(await Deno.readTextFile(`${dest}/var/log/dispatch/dispatch.log`), "log");
      const twice = await run("sh", [INSTALL, "--uninstall"], { env });
      assertEquals(twice.code, 0, twice.stderr);
    });

    await t.step("compile says in one line when DENORT_BIN is wrong", async () => {
      const r = await run(DENO, ["run", "--allow-all", "build/compile.ts", "--output", `${tmp}/c/dispatch`], {
        cwd: ROOT,
        env: { DENORT_BIN: `${tmp}/no-such-denort` },
      });
      oneLine(r, /^dispatch build: DENORT_BIN=.*no-such-denort is not a file; point it at the denort \d/);
    });

    await t.step("refusals: an unknown option, not root, no systemd", async () => {
      oneLine(await run("sh", [INSTALL, "--bogus"], { env }), /^install\.sh: unknown option --bogus/);
      oneLine(
        await run("sh", [INSTALL], { env: { ...env, DESTDIR: "relative/dir" } }),
        /DESTDIR must be an absolute path/,
      );
      if (Deno.uid() === 0) {
        const nobody = await run("setpriv", [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "sh",
          INSTALL,
        ], {
          env: { DIST_DIR: dist },
        });
        oneLine(nobody, /^install\.sh: run as root/);
      } else {
        oneLine(await run("sh", [INSTALL], { env: { DIST_DIR: dist } }), /^install\.sh: run as root/);
      }
      // Only where it cannot do anything: as root on a machine without systemd.
      if (Deno.uid() === 0 && !(await exists("/run/systemd/system"))) {
        oneLine(
          await run("sh", [INSTALL], { env: { DIST_DIR: dist } }),
          /^install\.sh: systemd is not running/,
        );
      }
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
