// The bundled build end to end: `deno task bundle`'s output, staged by `install.sh --no-build` into a DESTDIR,
// runs as the installed `dispatch` from another directory with the checkout hidden (bubblewrap covers /work and
// the repository with empty folders): a turn against the fake provider, the CLI talking to it, and every
// sandboxed tool answering an escape exactly as the daemon run from the source tree does.
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { startFakeProvider, text, toolCall } from "./fake_provider.ts";
import { type Daemon, readNdjson, startDaemon } from "./daemon.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const DENO = Deno.execPath();
const decoder = new TextDecoder();

async function run(command: string, args: string[], opts: Deno.CommandOptions = {}) {
  const out = await new Deno.Command(command, { args, stdin: "null", ...opts }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * The staged program with the checkout (and /work, where checkouts live here) covered by empty folders, in a
 * mount namespace of its own. `unshare` execs (no fork), so the daemon is this process and gets the SIGTERM.
 */
function hidingSource(program: string): string[] {
  const hidden = ROOT.startsWith("/work/") ? ["/work"] : [ROOT];
  const mounts = hidden.map((p) => `mount -t tmpfs none '${p}'`).join(" && ");
  const asRoot = Deno.uid() === 0 ? [] : ["--map-root-user"];
  return [
    "unshare",
    ...asRoot,
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    `${mounts} && exec "$0" "$@"`,
    program,
  ];
}

/**
 * dispatch.service's confinement, emulated without systemd (which is not PID 1 on every test machine): a mount
 * namespace where / is read-only except `writable` (ProtectSystem=strict + ReadWritePaths), /home and /root
 * empty (ProtectHome), and the program runs as an unprivileged user with no_new_privs and no capabilities in
 * any set (User=, NoNewPrivileges=, CapabilityBoundingSet=).
 */
function underUnitHardening(program: string, uid: number, writable: string[]): string[] {
  const binds = writable.map((p) => `mount --bind '${p}' '${p}'`).join(" && ");
  const script = `${binds} && mount -o remount,bind,ro / && ` +
    `for d in /home /root; do [ -d "$d" ] && mount -t tmpfs -o ro,mode=0755 none "$d"; done; ` +
    `exec setpriv --reuid=${uid} --regid=${uid} --clear-groups --no-new-privs --bounding-set=-all ` +
    `--inh-caps=-all "$0" "$@"`;
  return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, program];
}

Deno.test("the bundle, installed, serves a turn and its CLI from outside the source tree, sandbox as strict", async (t) => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-bundle-" }));
  const fake = await startFakeProvider();
  const daemons: Daemon[] = [];
  let sourceStarting: Promise<Daemon> | undefined;
  try {
    const workspace = `${tmp}/workspace`;
    await Deno.mkdir(workspace);
    await Deno.writeTextFile(`${workspace}/notes.txt`, "inside the workspace\n");
    const env = {
      DISPATCH_API_KEY: "sk-bundle-test-0000",
      DISPATCH_BASE_URL: fake.baseUrl,
      DISPATCH_MODEL: "fake-model",
      DISPATCH_WORKSPACE_ROOTS: workspace,
    };
    const elsewhere = `${tmp}/elsewhere`;
    await Deno.mkdir(elsewhere);
    // The source tree's daemon, to compare with, starts while the bundle is built (once for the whole file).
    sourceStarting = startDaemon({ env, cwd: elsewhere }).then((d) => (daemons.push(d), d));
    const built = await run(DENO, ["run", "--allow-all", "build/bundle.ts", "--outdir", `${tmp}/dist`], {
      cwd: ROOT,
    });
    assertEquals(built.code, 0, built.stderr);
    const staged = await run("sh", [`${ROOT}/install.sh`, "--no-build"], {
      env: { DESTDIR: `${tmp}/root`, DIST_DIR: `${tmp}/dist`, DENO },
    });
    assertEquals(staged.code, 0, staged.stderr);
    const dispatch = `${tmp}/root/usr/bin/dispatch`;
    const program = hidingSource(dispatch);
    const bundled = await startDaemon({ program, env, cwd: elsewhere });
    daemons.push(bundled);
    const cli = (args: string[]) =>
      run(program[0], [...program.slice(1), ...args, "--server", bundled.url], {
        cwd: elsewhere,
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: tmp, NO_COLOR: "1" },
        clearEnv: true,
      });

    await t.step("it says it is the bundle", async () => {
      const out = await run(program[0], [...program.slice(1), "--version"]);
      assertEquals(out.code, 0, out.stderr);
      assertMatch(out.stdout, /^dispatch \d+\.\d+\.\d+ \(bundle\)\ndeno \d+\.\d+\.\d+ /);
      assert(out.stdout.includes(Deno.version.deno), out.stdout);
    });

    await t.step("a turn over HTTP against the fake provider", async () => {
      fake.script([text("Hello from the bundle.")]);
      const res = await bundled.fetch("/chat", {
        method: "POST",
        body: JSON.stringify({ message: "hi", cwd: workspace }),
      });
      assertEquals(res.status, 200);
      const events = await readNdjson(res);
      const reply = events.filter((e) => e.type === "text-delta").map((e) => e.delta).join("");
      assertEquals(reply, "Hello from the bundle.", JSON.stringify(events));
      assert(events.some((e) => e.type === "done"), JSON.stringify(events));
      assert(!/extension not loaded/.test(bundled.logs()), bundled.logs());
    });

    await t.step("the installed CLI talks to it", async () => {
      const models = await cli(["models"]);
      assertEquals(models.code, 0, models.stderr);
      const model = models.stdout.split("\n").find((l) => l.endsWith("/fake-model"));
      assert(model, models.stdout);
      fake.script([text("One-shot reply.")]);
      const turn = await cli([model, "--text", "hello", "--cwd", workspace]);
      assertEquals(turn.code, 0, turn.stderr);
      assertMatch(turn.stdout, /One-shot reply\./);
      const list = await cli(["list"]);
      assertEquals(list.code, 0, list.stderr);
      assertEquals(list.stdout.trim().split("\n").length, 2, list.stdout);
      const bad = await cli(["read", "no-such-conversation"]);
      assertEquals(bad.code, 1);
      assertEquals(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    });

    await t.step("every sandboxed tool refuses an escape as the source tree's daemon does", async () => {
      const callsFor = ({ envFile, dataDir }: Daemon): [string, string, unknown][] => [
        ["r1", "read_file", { path: "notes.txt" }],
        ["r2", "read_file", { path: "/etc/passwd" }],
        ["r3", "read_file", { path: "../../../../etc/passwd" }],
        ["r4", "read_file", { path: envFile }],
        ["w1", "write_file", { path: `${tmp}/escaped.txt`, content: "x" }],
        ["e1", "edit_file", { path: "/etc/hostname", oldString: "a", newString: "b" }],
        ["g1", "grep", { pattern: "root", path: "/etc" }],
        ["gl1", "glob", { pattern: "*", path: "/etc" }],
        ["s1", "run_shell", { command: `cat ${envFile} ${dataDir}/* 2>&1; echo exit` }],
      ];
      const results = async (daemon: Daemon) => {
        const calls = callsFor(daemon);
        fake.script(calls.map(([id, name, args]) => toolCall(name, args, { id })), [text("done")]);
        const res = await daemon.fetch("/chat", {
          method: "POST",
          body: JSON.stringify({ message: "escape", cwd: workspace }),
        });
        const events = await readNdjson(res);
        return calls.map(([id]) => {
          const r = events.find((e) => e.type === "tool-result" && e.toolCallId === id);
          assert(r, `${id}: no result in ${JSON.stringify(events)}`);
          // The daemons differ only in their own env file and data dir.
          const content = String(r.content).replaceAll(daemon.envFile, "ENV").replaceAll(
            daemon.dataDir,
            "DATA",
          );
          return [id, r.isError, content];
        });
      };
      await Deno.writeTextFile(bundled.envFile, "DISPATCH_SECRET_MARKER=bundle-secret-value\n");
      const fromBundle = await results(bundled);
      const source = await sourceStarting!;
      await Deno.writeTextFile(source.envFile, "DISPATCH_SECRET_MARKER=bundle-secret-value\n");
      const fromSource = await results(source);
      assertEquals(fromBundle, fromSource);
      const byId = new Map(
        fromBundle.map(([id, isError, content]) => [id, { isError, content: String(content) }]),
      );
      assertEquals(byId.get("r1")?.isError, false);
      for (const id of ["r2", "r3", "r4", "w1", "e1", "g1", "gl1"]) {
        assertEquals(byId.get(id)?.isError, true, `${id}: ${byId.get(id)?.content}`);
      }
      assert(!byId.get("s1")!.content.includes("bundle-secret-value"), byId.get("s1")!.content);
      assert(!(await Deno.stat(`${tmp}/escaped.txt`).then(() => true, () => false)), "write_file escaped");
    });

    await t.step("under the unit's hardening (emulated), bubblewrap still confines the tools", async (s) => {
      if (Deno.uid() !== 0) {
        console.log("skipped: emulating User= and a read-only / needs root");
        return;
      }
      const uid = 65534;
      const hardened = `${tmp}/hardened`;
      // The cache as the unit's CacheDirectory= (root's is hidden with the homes): Deno compiles the bundle once.
      const [data, home, ws, cwd, cache] = ["data", "home", "workspace", "cwd", "cache"].map((d) =>
        `${hardened}/${d}`
      );
      for (const dir of [data, home, ws, cwd, cache]) {
        await Deno.mkdir(dir, { recursive: true });
        await Deno.chown(dir, uid, uid);
      }
      await Deno.chmod(tmp, 0o755); // the staged program must be readable by the daemon's user
      await Deno.chmod(hardened, 0o755);
      const envFile = `${hardened}/env`;
      await Deno.writeTextFile(envFile, "");
      await Deno.chown(envFile, uid, uid);
      await Deno.writeTextFile(`${ws}/notes.txt`, "hardened workspace\n");
      await Deno.chown(`${ws}/notes.txt`, uid, uid);
      const daemon = await startDaemon({
        program: underUnitHardening(dispatch, uid, [data, home, ws, cwd, cache]),
        env: {
          ...env,
          DISPATCH_WORKSPACE_ROOTS: ws,
          DISPATCH_ENV_FILE: envFile,
          HOME: home,
          DENO_DIR: cache,
        },
        dataDir: data,
        cwd,
      });
      daemons.push(daemon);
      fake.script(
        [
          toolCall("read_file", { path: "notes.txt" }, { id: "r1" }),
          toolCall("run_shell", { command: "echo written > new.txt; touch /usr/escape 2>&1; echo done" }, {
            id: "s1",
          }),
          toolCall("read_file", { path: "/etc/passwd" }, { id: "r2" }),
        ],
        [text("done")],
      );
      const res = await daemon.fetch("/chat", {
        method: "POST",
        body: JSON.stringify({ message: "tools", cwd: ws }),
      });
      const events = await readNdjson(res);
      const result = (id: string) => events.find((e) => e.type === "tool-result" && e.toolCallId === id)!;
      await s.step("tools run", () => {
        assertEquals(result("r1")?.isError, false, JSON.stringify(result("r1")));
        assertMatch(String(result("r1").content), /hardened workspace/);
        assertMatch(
          String(result("s1")?.content),
          /Read-only file system[\s\S]*done/,
          JSON.stringify(result("s1")),
        );
        assertEquals(result("r2")?.isError, true);
      });
      assertEquals(await Deno.readTextFile(`${ws}/new.txt`), "written\n");
      assert(!/extension not loaded/.test(daemon.logs()), daemon.logs());
    });
  } finally {
    await sourceStarting?.catch(() => {}); // pushed into daemons when it started
    await Promise.all(daemons.map((d) => d.stop()));
    await fake.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
