// Benchmarks: what the daemon adds on top of the provider. Every figure is a ratio or a difference against the
// fake provider answered directly, on this machine, so the numbers travel. `deno task bench [--turns N]`.
import { parseArgs } from "node:util";
import { startFakeProvider, text } from "../tests/fake_provider.ts";
import { startDaemon } from "../tests/daemon.ts";
import { createOpenAICompatProvider } from "../extensions/provider-openai-compat/openai_stream.ts";
import { openSqlite } from "../extensions/storage-sqlite/mod.ts";
import { openConversationStore } from "../extensions/conversation-store/store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { turns: { type: "string", default: "40" }, concurrent: { type: "string", default: "20" } },
});
const TURNS = Number(values.turns);
const CONCURRENT = Number(values.concurrent);

const fake = await startFakeProvider();
const deltas = (n: number) => Array.from({ length: n }, (_, i) => text(`w${i} `));

/** One streamed completion straight from the fake provider, read to the end. */
async function direct(
  steps: ReturnType<typeof text>[],
  messages: { role: string; content: string }[] = [{ role: "user", content: "hi" }],
): Promise<number> {
  fake.script(steps);
  const t0 = performance.now();
  const res = await fetch(`${fake.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", stream: true, messages }),
  });
  await res.text();
  return performance.now() - t0;
}

async function turn(url: string, steps: ReturnType<typeof text>[], conversationId?: string): Promise<number> {
  fake.script(steps);
  const t0 = performance.now();
  const res = await fetch(new URL("/chat", url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message: "hi", conversationId }),
  });
  await res.text();
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)];
const rssMb = async (pid: number) => {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
};

const t0 = performance.now();
const daemon = await startDaemon({
  env: {
    DISPATCH_API_KEY: "sk-bench",
    DISPATCH_BASE_URL: fake.baseUrl,
    DISPATCH_MODEL: "m",
    DISPATCH_LOG_LEVEL: "warn",
  },
});
const startupMs = performance.now() - t0;
await new Promise((r) => setTimeout(r, 500));
const idleRss = await rssMb(daemon.child.pid);

// Warm both paths (JIT, connection pools) before measuring.
for (let i = 0; i < 30; i++) {
  await direct(deltas(5));
  await turn(daemon.url, deltas(5));
}

const rows: string[][] = [];
const directShort: number[] = [];
const daemonShort: number[] = [];
for (let i = 0; i < TURNS; i++) {
  directShort.push(await direct(deltas(5)));
  daemonShort.push(await turn(daemon.url, deltas(5)));
}
rows.push([
  `short turn (5 deltas) x${TURNS}`,
  median(directShort).toFixed(2),
  median(daemonShort).toFixed(2),
  `+${(median(daemonShort) - median(directShort)).toFixed(2)} ms`,
  (median(daemonShort) / median(directShort)).toFixed(2),
]);

// A long history: 50 turns in one conversation, then the 51st is measured against a direct request carrying
// a prompt of the same shape (50 user/assistant pairs plus the new message).
const longId = "bench-long-history";
for (let i = 0; i < 50; i++) await turn(daemon.url, deltas(20), longId);
const reply20 = deltas(20).map((d) => (d as { text: string }).text).join("");
const longPrompt = Array.from({ length: 50 }, () => [
  { role: "user", content: "hi" },
  { role: "assistant", content: reply20 },
]).flat().concat({ role: "user", content: "hi" });
const longTimes: number[] = [];
const directLong: number[] = [];
for (let i = 0; i < 10; i++) {
  directLong.push(await direct(deltas(5), longPrompt));
  longTimes.push(await turn(daemon.url, deltas(5), longId));
}
rows.push([
  "turn on a 50-turn history x10",
  median(directLong).toFixed(2),
  median(longTimes).toFixed(2),
  `+${(median(longTimes) - median(directLong)).toFixed(2)} ms`,
  (median(longTimes) / median(directLong)).toFixed(2),
]);

// Streaming rate: one reply of 2000 deltas.
const directStream = await direct(deltas(2000));
const daemonStream = await turn(daemon.url, deltas(2000));
rows.push([
  "stream 2000 deltas",
  directStream.toFixed(1),
  daemonStream.toFixed(1),
  `${Math.round(2000 / (daemonStream / 1000))} deltas/s`,
  (daemonStream / directStream).toFixed(2),
]);

// Many conversations at once.
let t = performance.now();
await Promise.all(Array.from({ length: CONCURRENT }, () => direct(deltas(50))));
const directConcurrent = performance.now() - t;
t = performance.now();
await Promise.all(Array.from({ length: CONCURRENT }, () => turn(daemon.url, deltas(50))));
const daemonConcurrent = performance.now() - t;
rows.push([
  `${CONCURRENT} concurrent turns (50 deltas)`,
  directConcurrent.toFixed(1),
  daemonConcurrent.toFixed(1),
  `+${(daemonConcurrent - directConcurrent).toFixed(1)} ms`,
  (daemonConcurrent / directConcurrent).toFixed(2),
]);
const loadedRss = await rssMb(daemon.child.pid);

await daemon.stop();

// Two parts of the overhead, measured in-process: the AI SDK's handling of one short streamed call, and one
// stored event (a SQLite transaction that logs it and folds it into history).
const provider = createOpenAICompatProvider({ id: "bench", baseUrl: fake.baseUrl, apiKey: "sk-bench" });
const sdkTimes: number[] = [];
for (let i = 0; i < TURNS + 20; i++) {
  fake.script(deltas(5));
  const t = performance.now();
  for await (
    const _ of provider.stream(
      { model: "m", messages: [{ role: "user", content: "hi" }], tools: [] },
      new AbortController().signal,
    )
  ) {
    // drain
  }
  if (i >= 20) sdkTimes.push(performance.now() - t);
}
const dbDir = await Deno.makeTempDir({ prefix: "dispatch-bench-" });
const { store } = openConversationStore(openSqlite(`${dbDir}/conversations.sqlite`));
const conversation = store.create({});
store.beginTurn(conversation.id, "t1", "m");
const EVENTS = 2000;
const storeStart = performance.now();
for (let i = 0; i < EVENTS; i++) {
  store.appendEvent({ type: "text-delta", conversationId: conversation.id, turnId: "t1", delta: `w${i} ` });
}
const perEventUs = ((performance.now() - storeStart) / EVENTS) * 1000;
await Deno.remove(dbDir, { recursive: true });
await fake.close();

const table = (head: string[], body: string[][]) => {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  return [line(head), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...body.map(line)].join(
    "\n",
  );
};
console.log(table(["case", "provider direct ms", "via daemon ms", "overhead", "ratio"], rows));
console.log();
console.log(table(["measure", "value"], [
  ["start-up to listening (subprocess)", `${startupMs.toFixed(0)} ms`],
  ["idle RSS after start", `${idleRss.toFixed(1)} MB`],
  ["RSS after the runs above", `${loadedRss.toFixed(1)} MB`],
  ["p95 short turn via daemon", `${p95(daemonShort).toFixed(2)} ms`],
  ["AI SDK, one short streamed call (in-process, median)", `${median(sdkTimes).toFixed(2)} ms`],
  ["one stored event (in-process, mean of 2000 deltas)", `${perEventUs.toFixed(0)} µs`],
]));
