// What the sandbox costs: the daemon's start-up and idle memory counted over its whole process tree (sandbox
// host processes included; PSS splits the pages they share), a declared tool's first call (which starts its
// host) against later ones, and the daemon's worst event-loop gap while a sandbox floods the bridge.
// `deno run -A bench/sandbox.ts [--runs N]`.
import { parseArgs } from "node:util";
import { startDaemon } from "../tests/daemon.ts";
import { ExtensionHost, type ToolContext } from "../src/kernel/mod.ts";
import { sandboxedEntry } from "../src/sandbox/mod.ts";
import { manifest as readFileManifest } from "../extensions/tool-read-file/manifest.ts";

const { values } = parseArgs({ args: Deno.args, options: { runs: { type: "string", default: "3" } } });

async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${e.name}/stat`).catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(e.name)]);
  }
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...(parents.get(all[i]) ?? []));
  return all;
}

async function memoryMb(pid: number): Promise<{ rss: number; pss: number }> {
  const kb = (text: string, key: string) => Number(text.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? 0);
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const rollup = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`).catch(() => "");
  return { rss: kb(status, "VmRSS") / 1024, pss: kb(rollup, "Pss") / 1024 };
}

const rows: string[][] = [];
for (let run = 0; run < Number(values.runs); run++) {
  const t0 = performance.now();
  const daemon = await startDaemon({
    env: { DISPATCH_API_KEY: "sk-bench", DISPATCH_BASE_URL: "http://127.0.0.1:9", DISPATCH_MODEL: "m" },
  });
  const startup = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 3000));
  const pids = await descendants(daemon.child.pid);
  const own = await memoryMb(daemon.child.pid);
  let rss = 0, pss = 0;
  for (const pid of pids) {
    const m = await memoryMb(pid);
    rss += m.rss;
    pss += m.pss;
  }
  rows.push([
    `run ${run + 1}`,
    `start-up ${startup.toFixed(0)} ms`,
    `daemon RSS ${own.rss.toFixed(1)} MB`,
    `${pids.length} processes: RSS ${rss.toFixed(1)} MB, PSS ${pss.toFixed(1)} MB`,
  ]);
  await daemon.stop();
}

// A declared tool: nothing runs until its first call.
const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "bench-sandbox-" }));
await Deno.writeTextFile(`${root}/a.txt`, "hello\n");
const host = new ExtensionHost({ sink: { write() {} }, config: { DISPATCH_PROTECTED_PATHS: "[]" } });
await host.boot([
  sandboxedEntry(readFileManifest, new URL("../extensions/tool-read-file/mod.ts", import.meta.url), {
    expand: (p) => p === "$WORKSPACE_ROOTS" ? [root] : [],
  }),
  sandboxedEntry(
    { id: "hostile", version: "0", description: "bench flood", permissions: {} },
    new URL("../tests/fixtures/sandbox/hostile/mod.ts", import.meta.url),
    { emitEvents: ["test.flood"] },
  ),
]);
const ctx: ToolContext = {
  signal: new AbortController().signal,
  conversationId: "c",
  turnId: "t",
  toolCallId: "x",
  cwd: root,
  emitOutput() {},
};
const tool = (name: string) => host.tools.list().find((t) => t.spec.name === name)!;
const calls: number[] = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  await tool("read_file").execute({ path: "a.txt" }, ctx);
  calls.push(performance.now() - t);
}
rows.push([
  "read_file",
  `first call (starts its host) ${calls[0].toFixed(0)} ms`,
  `later calls ${Math.max(...calls.slice(1)).toFixed(1)} ms at most`,
]);

async function worstGap(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now(), worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  await work();
  await new Promise((r) => setTimeout(r, 300));
  clearInterval(timer);
  return worst;
}
const idle = await worstGap(() => new Promise((r) => setTimeout(r, 1000)));
const logs = await worstGap(() => tool("attack").execute({ action: "flood-logs" }, ctx));
const events = await worstGap(() => tool("attack").execute({ action: "flood-events" }, ctx));
rows.push([
  "event-loop gap",
  `idle ${idle.toFixed(0)} ms`,
  `200k logs ${logs.toFixed(0)} ms`,
  `200k events ${events.toFixed(0)} ms`,
]);
await host.shutdown();
await Deno.remove(root, { recursive: true });

for (const row of rows) console.log(row.join(" | "));
