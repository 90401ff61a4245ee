// A seeded fuzz of the CLI's flags and arguments, run in-process against a real daemon: the CLI never throws,
// exits 0, 1 or 2, and a failure that streamed no turn is exactly one line `dispatch: ...`. The daemon keeps
// serving. The PRNG is seeded, so a failure replays exactly. (setup and sync-env write files: not fuzzed here.)
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { prng } from "./prng.ts";
import { startDaemonWithFake } from "./daemon.ts";
import { runCli } from "../src/cli/main.ts";

const SEED = 0xc11_2026;
const COUNT = 200;
const PARALLEL = 4;

function generator(random: () => number, knownId: string) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const chance = (p: number) => random() < p;
  const commands = [
    "models",
    "list",
    "read",
    "stop",
    "compact",
    "open",
    "send",
    "opencode/fake-model",
    "nobody/model",
    "/",
    "serve-not",
    "",
    "-",
    "--",
    "MODELS",
  ];
  const flags = [
    "--text",
    "--file",
    "--cwd",
    "--conversation",
    "--effort",
    "--workspace",
    "--status",
    "--all",
    "--json",
    "--queue",
    "--open",
    "--show-reasoning",
    "-h",
    "--help",
    "--bogus",
    "-x",
    "--text=",
    "--effort=max",
    "--status=active,idle",
    "--all=yes",
  ];
  const values = () =>
    pick([
      "",
      " ",
      "hello",
      knownId,
      knownId.slice(0, 4),
      "nope",
      "low",
      "max",
      "ultra",
      "active",
      "closed,idle",
      "bogus",
      "/",
      "/tmp",
      "/definitely/not/here",
      "relative/dir",
      "no-such-file",
      "default",
      "Not A Slug",
      "a".repeat(1 + int(5000)),
      "\u0000\u202e\ud83d\ude00",
      "-1",
      "--text",
      JSON.stringify({ a: [1, 2] }),
    ]);
  return (): string[] => {
    const args: string[] = [];
    if (chance(0.9)) args.push(pick(commands));
    const n = int(6);
    for (let i = 0; i < n; i++) {
      if (chance(0.6)) args.push(pick(flags));
      if (chance(0.7)) args.push(values());
    }
    return args;
  };
}

Deno.test("fuzz: CLI flags and arguments: no throw, exit 0/1/2, one-line errors, the daemon keeps serving", async () => {
  const { fake, daemon } = await startDaemonWithFake("sk-cli-fuzz-0001");
  const cwd = await Deno.makeTempDir({ prefix: "dispatch-cli-fuzz-" });
  const envFile = `${cwd}/env`;
  await Deno.writeTextFile(envFile, "");
  try {
    // One known conversation, so ids and prefixes sometimes match.
    const seeded = await daemon.fetch("/chat", { method: "POST", body: JSON.stringify({ message: "seed" }) });
    const knownId = seeded.headers.get("x-conversation-id")!;
    await seeded.body?.cancel();
    const next = generator(prng(SEED), knownId);
    const cases = Array.from({ length: COUNT }, next);
    const failures: string[] = [];
    const codes = { 0: 0, 1: 0, 2: 0 } as Record<number, number>;
    const runOne = async (args: string[]) => {
      let out = "";
      let err = "";
      let code: number;
      try {
        code = await runCli([...args, "--server", daemon.url], {
          out: (t) => void (out += t),
          err: (t) => void (err += t),
          env: { DISPATCH_ENV_FILE: envFile },
          cwd,
        });
      } catch (error) {
        failures.push(`${JSON.stringify(args)} threw ${error}`);
        return;
      }
      codes[code] = (codes[code] ?? 0) + 1;
      if (![0, 1, 2].includes(code)) failures.push(`${JSON.stringify(args)} exited ${code}`);
      const streamedTurn = /^conversation: /m.test(err);
      if (code === 1 && !streamedTurn) {
        const lines = err.trimEnd().split("\n");
        if (lines.length !== 1 || !lines[0].startsWith("dispatch: ")) {
          failures.push(`${JSON.stringify(args)} → ${JSON.stringify(err.slice(0, 300))}`);
        }
      }
    };
    for (let i = 0; i < cases.length; i += PARALLEL) {
      await Promise.all(cases.slice(i, i + PARALLEL).map(runOne));
    }
    assertEquals(failures, []);
    // The generator reaches every outcome, so the properties above were tested on each.
    assert(codes[0] > 0 && codes[1] > 0 && codes[2] >= 0, JSON.stringify(codes));
    assertEquals(await (await daemon.fetch("/health")).json(), { ok: true });
    let listed = "";
    const code = await runCli(["list", "--all", "--server", daemon.url], {
      out: (t) => void (listed += t),
      err: () => {},
      env: { DISPATCH_ENV_FILE: envFile },
      cwd,
    });
    assertEquals(code, 0);
    assertMatch(listed, new RegExp(knownId));
  } finally {
    await daemon.stop();
    await fake.close();
    await Deno.remove(cwd, { recursive: true });
  }
});
