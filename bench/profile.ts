// A CPU profile of the daemon under the bench's load: `deno run --allow-all bench/profile.ts [dir] [--only
// long|many|short]` starts the daemon with --cpu-prof, sends a 20,000-delta reply, 20 conversations × 2,000
// deltas at once and 300 one-line turns (or only one of them), stops it (the profile is written on exit, into
// dir, default a temp dir) and prints the functions and files with the most samples.
import { fileURLToPath } from "node:url";
import { startFakeProvider, text } from "../tests/fake_provider.ts";
import { startDaemon } from "../tests/daemon.ts";

import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { only: { type: "string" } },
});
const dir = positionals[0] ?? await Deno.makeTempDir({ prefix: "dispatch-profile-" });
const run = (what: string) => !values.only || values.only === what;
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const fake = await startFakeProvider();
const daemon = await startDaemon({
  env: { DISPATCH_API_KEY: "sk-bench", DISPATCH_BASE_URL: fake.baseUrl, DISPATCH_MODEL: "fake-model" },
  program: [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--unstable-worker-options",
    "--cpu-prof",
    `--cpu-prof-dir=${dir}`,
    main,
  ],
});
const deltas = (n: number) => Array.from({ length: n }, (_, i) => text(`w${i} `));
async function turn(n: number): Promise<number> {
  fake.reset();
  fake.script(deltas(n));
  const t = performance.now();
  const res = await fetch(new URL("/chat", daemon.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message: "hi" }),
  });
  await res.text();
  return performance.now() - t;
}
for (let i = 0; i < 30; i++) await turn(5);
if (run("long")) console.log(`20,000 deltas: ${(await turn(20_000)).toFixed(0)} ms`);
if (run("many")) {
  const t = performance.now();
  await Promise.all(Array.from({ length: 20 }, () => turn(2_000)));
  console.log(`20 × 2,000: ${(performance.now() - t).toFixed(0)} ms`);
}
if (run("short")) {
  const short: number[] = [];
  for (let i = 0; i < 300; i++) short.push(await turn(1));
  console.log(`one-line turn, median: ${short.sort((a, b) => a - b)[150].toFixed(2)} ms`);
}
await daemon.stop();
await fake.close();

// Self time by function and by file.
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
for await (const entry of Deno.readDir(dir)) {
  if (!entry.name.endsWith(".cpuprofile")) continue;
  const profile = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)) as {
    nodes: Node[];
    samples: number[];
  };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const id of profile.samples) {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    const file = url.split("/").slice(-2).join("/") || "(native)";
    const fn = `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + 1);
    byFile.set(file, (byFile.get(file) ?? 0) + 1);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) =>
      `${(v * 100 / profile.samples.length).toFixed(1).padStart(5)}% ${k}`
    ).join("\n");
  console.log(
    `\n${dir}/${entry.name}\n-- by function\n${top(byFunction, 30)}\n-- by file\n${top(byFile, 20)}`,
  );
}
