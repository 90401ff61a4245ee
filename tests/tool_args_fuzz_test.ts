// A seeded fuzz of tool arguments as a model sends them: invalid JSON, wrong types, missing and extra fields,
// huge and deeply nested values, unknown tools, through the real daemon and its sandboxed tools. Every call gets
// exactly one result, the turn goes on to the model's answer, the daemon logs no internal failure, nothing is
// written outside the workspace, and the daemon keeps serving. The PRNG is seeded, so a failure replays exactly.
import { assert, assertEquals } from "./assert.ts";
import { prng } from "./prng.ts";
import { text, toolCall } from "./fake_provider.ts";
import { readNdjson, startDaemonWithFake } from "./daemon.ts";

const SEED = 0x7001_2026;
const STEPS = 10;
const CALLS_PER_STEP = 8;

const TOOLS = ["read_file", "write_file", "edit_file", "run_shell", "grep", "glob"];

function generator(random: () => number) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const chance = (p: number) => random() < p;
  const deep = (depth: number): unknown => (depth === 0 ? "x" : { a: [deep(depth - 1)] });
  // Only harmless commands and paths: the point is the shapes, not what a command does.
  const value = (): unknown =>
    pick([
      null,
      true,
      -1,
      0,
      1.5,
      1e308,
      "",
      "a.txt",
      "../outside.txt",
      "/etc/passwd",
      "sub/../a.txt",
      "*.txt",
      "([",
      "echo fuzz",
      "\u0000\u202e",
      "x".repeat(1 + int(300_000)),
      [],
      ["a.txt"],
      {},
      { path: "a.txt" },
      deep(1 + int(300)),
    ]);
  const fields = [
    "path",
    "content",
    "oldString",
    "newString",
    "command",
    "pattern",
    "timeoutMs",
    "glob",
    "replaceAll",
    "offset",
    "limit",
    "cwd",
    "extra",
  ];
  const path = () =>
    pick(["a.txt", "new.txt", "sub/../a.txt", "../outside.txt", "/etc/passwd", "", ".", "x".repeat(5000)]);
  const wellFormed = (name: string): Record<string, unknown> => {
    switch (name) {
      case "read_file":
        return { path: path(), ...(chance(0.3) ? { offset: int(5), limit: int(5) } : {}) };
      case "write_file":
        return { path: path(), content: pick(["fuzz\n", "", "y".repeat(int(100_000))]) };
      case "edit_file":
        return { path: path(), oldString: pick(["alpha", "zzz", ""]), newString: pick(["ALPHA", ""]) };
      case "run_shell":
        return { command: pick(["echo fuzz", "true", "ls -a", "cat a.txt", "exit 7"]), timeoutMs: 5000 };
      case "grep":
        return { pattern: pick(["alpha", "([", ".*", ""]) };
      default:
        return { pattern: pick(["*.txt", "**/*", "../*", "/etc/*"]) };
    }
  };
  return (): { name: string; args: unknown } => {
    const name = chance(0.9) ? pick(TOOLS) : pick(["no_such_tool", "", "read_file ", "READ_FILE"]);
    if (TOOLS.includes(name) && chance(0.5)) {
      // Nearly right, sometimes with one field swapped for junk: the tools themselves run.
      const args = wellFormed(name);
      if (chance(0.3)) args[pick(Object.keys(args))] = value();
      return { name, args };
    }
    const r = random();
    if (r < 0.15) {
      return { name, args: pick(["{", "[]", "null", '{"path":', '{"path": "a.txt"', "42", '"a.txt"', ""]) };
    }
    const args: Record<string, unknown> = {};
    for (let i = int(5); i > 0; i--) args[pick(fields)] = value();
    return { name, args };
  };
}

Deno.test("fuzz: tool arguments from the model: one result per call, a readable error for bad ones, the turn goes on", async () => {
  const root = await Deno.makeTempDir({ prefix: "dispatch-tool-fuzz-" });
  const workspace = `${root}/ws`;
  await Deno.mkdir(workspace);
  await Deno.writeTextFile(`${workspace}/a.txt`, "alpha\nbeta\n");
  // The workspace is the only root: anything written beside it escaped.
  const { fake, daemon } = await startDaemonWithFake("sk-tool-fuzz-0001", {
    DISPATCH_MAX_STEPS: "50",
    DISPATCH_WORKSPACE_ROOTS: workspace,
  });
  try {
    const next = generator(prng(SEED));
    const scripts = Array.from(
      { length: STEPS },
      (_, step) =>
        Array.from({ length: CALLS_PER_STEP }, (_, i) => {
          const { name, args } = next();
          return toolCall(name, args, { id: `call_${step}_${i}` });
        }),
    );
    fake.script(...scripts, [text("all tools tried")]);
    const res = await daemon.fetch("/chat", {
      method: "POST",
      body: JSON.stringify({ message: "try the tools", cwd: workspace }),
    });
    assertEquals(res.status, 200);
    const events = await readNdjson(res);
    const calls = events.filter((e) => e.type === "tool-call");
    const results = events.filter((e) => e.type === "tool-result");
    // A call with an empty tool name never reaches the kernel (the AI SDK drops it while streaming), so the
    // history stays valid without it; every other call does.
    const sent = scripts.flat().filter((s) => s.type === "tool-call");
    assertEquals(
      calls.map((c) => c.toolCallId).sort(),
      sent.filter((s) => s.type === "tool-call" && s.name !== "").map((s) => s.type === "tool-call" && s.id)
        .sort(),
    );
    assertEquals(
      results.map((r) => r.toolCallId).sort(),
      calls.map((c) => c.toolCallId).sort(),
      "one result per call",
    );
    for (const r of results) assertEquals(typeof r.content, "string");
    const errors = results.filter((r) => r.isError);
    assert(errors.length > results.length / 3, `only ${errors.length} of ${results.length} were refused`);
    assert(errors.length < results.length, "no call reached a tool");
    assertEquals(events.find((e) => e.type === "done")?.reason, "stop");
    assertEquals(
      events.filter((e) => e.type === "text-delta").map((e) => e.delta).join(""),
      "all tools tried",
    );
    for (const line of daemon.logs().split("\n").filter((l) => l.startsWith("{"))) {
      assert(JSON.parse(line).level !== "error", `the daemon logged an error: ${line.slice(0, 400)}`);
    }
    // Nothing escaped the workspace.
    const outside = [];
    for await (const e of Deno.readDir(root)) outside.push(e.name);
    assertEquals(outside, ["ws"]);
    assertEquals(await (await daemon.fetch("/health")).json(), { ok: true });
  } finally {
    await daemon.stop();
    await fake.close();
    await Deno.remove(root, { recursive: true });
  }
});
