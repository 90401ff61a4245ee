// Benchmarks: what the daemon adds on top of the provider. Every figure is a ratio or a difference against the
// fake provider answered directly, in the same run on this machine, so the numbers travel. The targets are
// issue 10's. `deno task bench [--quick]` (quick: smaller counts, for a smoke run; the figures are not the
// targets' then).
import { parseArgs } from "node:util";
import { startFakeProvider, text } from "../tests/fake_provider.ts";
import { startDaemon } from "../tests/daemon.ts";
import { createOpenAICompatProvider } from "../extensions/provider-openai-compat/openai_stream.ts";
import { openSqlite } from "../extensions/storage-sqlite/database.ts";
import { openConversationStore } from "../extensions/conversation-store/store.ts";
import { setImmediate } from "node:timers";

const { values } = parseArgs({ args: Deno.args, options: { quick: { type: "boolean", default: false } } });
const Q = values.quick;
const SHORT_TURNS = Q ? 20 : 60;
const LONG_DELTAS = Q ? 2_000 : 20_000;
const CONVERSATIONS = Q ? 10 : 100;
const CONV_DELTAS = 2_000;
const HISTORY_TURNS = Q ? 100 : 1_000;
const PAGE = 100;

const fake = await startFakeProvider();
const deltas = (n: number) => Array.from({ length: n }, (_, i) => text(`w${i} `));
const joined = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `).join("");

/** One streamed completion straight from the fake provider, read to the end. */
async function direct(
  steps: ReturnType<typeof text>[],
  messages: { role: string; content: string }[] = [{ role: "user", content: "hi" }],
): Promise<number> {
  fake.reset(); // its cache simulation compares each prompt with every earlier one: not what is measured
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

interface TurnRead {
  ms: number;
  text: string;
  lines: number;
  /** Every NDJSON line's eventSeq was above the one before (true when lines carry none: older builds). */
  ordered: boolean;
}

/** One turn through the daemon's `POST /chat`, read to the end; checked after the clock stops. */
async function turn(
  url: string,
  steps: ReturnType<typeof text>[],
  conversationId?: string,
): Promise<TurnRead> {
  fake.reset();
  fake.script(steps);
  const t0 = performance.now();
  const res = await fetch(new URL("/chat", url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message: "hi", conversationId }),
  });
  const body = await res.text();
  const ms = performance.now() - t0;
  let out = "";
  let last = 0;
  let ordered = true;
  const lines = body.split("\n").filter((l) => l);
  for (const line of lines) {
    const e = JSON.parse(line);
    if (e.type === "text-delta") out += e.delta;
    if (typeof e.eventSeq === "number") {
      if (e.eventSeq <= last) ordered = false;
      last = e.eventSeq;
    }
  }
  return { ms, text: out, lines: lines.length, ordered };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rssMb = async (pid: number) => {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
};
const f = (x: number, d = 1) => x.toFixed(d);

const t0 = performance.now();
const daemon = await startDaemon({
  env: {
    DISPATCH_API_KEY: "sk-bench",
    DISPATCH_BASE_URL: fake.baseUrl,
    DISPATCH_MODEL: "fake-model",
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

type Row = [string, string, string, string, string, string];
const rows: Row[] = [];
const verdict = (ok: boolean) => (ok ? "met" : "**missed**");

// ---- one-line turn: request → done, median
const directShort: number[] = [];
const daemonShort: number[] = [];
for (let i = 0; i < SHORT_TURNS; i++) {
  directShort.push(await direct([text("ok")]));
  daemonShort.push((await turn(daemon.url, [text("ok")])).ms);
}
const shortOver = median(daemonShort) - median(directShort);
rows.push([
  `one-line turn, median of ${SHORT_TURNS}`,
  `${f(median(directShort), 2)} ms`,
  `${f(median(daemonShort), 2)} ms`,
  `+${f(shortOver, 2)} ms`,
  "≤ +1.5 ms",
  verdict(shortOver <= 1.5),
]);

// ---- the journal's cost: the same one-line turn on a daemon with the journal (and its collector) off
const noJournal = await startDaemon({
  env: {
    DISPATCH_API_KEY: "sk-bench",
    DISPATCH_BASE_URL: fake.baseUrl,
    DISPATCH_MODEL: "fake-model",
    DISPATCH_LOG_LEVEL: "warn",
    DISPATCH_JOURNAL: "0",
  },
});
for (let i = 0; i < 30; i++) await turn(noJournal.url, deltas(5));
const offShort: number[] = [];
for (let i = 0; i < SHORT_TURNS; i++) offShort.push((await turn(noJournal.url, [text("ok")])).ms);
await noJournal.stop();
const journalOver = median(daemonShort) - median(offShort);
rows.push([
  `one-line turn, journal off (direct column) vs on, median of ${SHORT_TURNS}`,
  `${f(median(offShort), 2)} ms`,
  `${f(median(daemonShort), 2)} ms`,
  `${journalOver < 0 ? "" : "+"}${f(journalOver, 2)} ms`,
  "≤ +0.5 ms",
  verdict(journalOver <= 0.5),
]);

// ---- one long reply: deltas per second to the client
const directLong = await direct(deltas(LONG_DELTAS));
const longRead = await turn(daemon.url, deltas(LONG_DELTAS));
const longOk = longRead.text === joined(LONG_DELTAS) && longRead.ordered;
const longRatio = directLong / longRead.ms;
rows.push([
  `one ${LONG_DELTAS}-delta reply, deltas/s${longOk ? "" : " (TEXT WRONG)"}`,
  `${Math.round(LONG_DELTAS / (directLong / 1000))}`,
  `${Math.round(LONG_DELTAS / (longRead.ms / 1000))}`,
  `${f(longRatio * 100, 0)}% of direct`,
  "≥ 50%",
  verdict(longRatio >= 0.5 && longOk),
]);

// ---- many conversations at once: every event in order, wall time
let t = performance.now();
await Promise.all(Array.from({ length: CONVERSATIONS }, () => direct(deltas(CONV_DELTAS))));
const directConcurrent = performance.now() - t;
t = performance.now();
const reads = await Promise.all(
  Array.from({ length: CONVERSATIONS }, () => turn(daemon.url, deltas(CONV_DELTAS))),
);
const daemonConcurrent = performance.now() - t;
const allInOrder = reads.every((r) => r.text === joined(CONV_DELTAS) && r.ordered);
const concRatio = daemonConcurrent / directConcurrent;
rows.push([
  `${CONVERSATIONS} conversations × ${CONV_DELTAS} deltas at once, wall${allInOrder ? "" : " (EVENTS LOST)"}`,
  `${f(directConcurrent, 0)} ms`,
  `${f(daemonConcurrent, 0)} ms`,
  `${f(concRatio, 2)}×, ${allInOrder ? "all in order" : "NOT all in order"}`,
  "≤ 3×",
  verdict(concRatio <= 3 && allInOrder),
]);
const loadedRss = await rssMb(daemon.child.pid);
rows.push([
  `RSS after the ${CONVERSATIONS}-conversation run`,
  "–",
  `${f(loadedRss)} MB (idle ${f(idleRss)})`,
  `+${f(loadedRss - idleRss)} MB`,
  "≤ +100 MB",
  verdict(loadedRss - idleRss <= 100),
]);

// ---- one conversation of many turns: the late turn against the early one, and the history route on it
const longId = "bench-many-turns";
const early: number[] = [];
const late: number[] = [];
for (let i = 1; i <= HISTORY_TURNS; i++) {
  const { ms } = await turn(daemon.url, deltas(5), longId);
  if (i <= 10) early.push(ms);
  if (i > HISTORY_TURNS - 10) late.push(ms);
}
// The same prompts sent directly: what the provider itself adds as the history grows.
const reply5 = joined(5);
const promptOf = (turns: number) =>
  Array.from({ length: turns - 1 }, () => [
    { role: "user", content: "hi" },
    { role: "assistant", content: reply5 },
  ]).flat().concat({ role: "user", content: "hi" });
const directEarly: number[] = [];
const directLate: number[] = [];
for (let i = 0; i < 10; i++) {
  directEarly.push(await direct(deltas(5), promptOf(1 + i)));
  directLate.push(await direct(deltas(5), promptOf(HISTORY_TURNS - 9 + i)));
}
const lateRatio = median(late) / median(early);
rows.push([
  `turn ${HISTORY_TURNS} against turn 1 of one conversation (medians of 10)`,
  `${f(median(directEarly), 2)} → ${f(median(directLate), 2)} ms (${
    f(median(directLate) / median(directEarly), 2)
  }×)`,
  `${f(median(early), 2)} → ${f(median(late), 2)} ms`,
  `${f(lateRatio, 2)}×`,
  "≤ 1.2×",
  verdict(lateRatio <= 1.2),
]);
const pageTimes: number[] = [];
let pageChunks = 0;
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  const res = await daemon.fetch(`/conversations/${longId}?limit=${PAGE}`);
  const body = await res.json();
  pageTimes.push(performance.now() - t);
  pageChunks = body.chunks.length;
}
rows.push([
  `GET /conversations/:id of ${HISTORY_TURNS} turns, newest page (limit ${PAGE}: ${pageChunks} chunks)`,
  "–",
  `${f(median(pageTimes), 2)} ms`,
  "–",
  "< 50 ms",
  verdict(median(pageTimes) < 50),
]);
const fullTimes: number[] = [];
let fullChunks = 0;
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  const body = await (await daemon.fetch(`/conversations/${longId}`)).json();
  fullTimes.push(performance.now() - t);
  fullChunks = body.chunks.length;
}

await daemon.stop();

// The floor under the one-line turn and the long reply: the provider extension's own handling (openai-stream),
// measured in-process (the fake provider runs on the same thread, so the ratio is below what the daemon sees).
const provider = createOpenAICompatProvider({ id: "bench", baseUrl: fake.baseUrl, apiKey: "sk-bench" });
const drain = async (steps: ReturnType<typeof text>[]) => {
  fake.reset();
  fake.script(steps);
  const t = performance.now();
  for await (
    const _ of provider.stream(
      { model: "m", messages: [{ role: "user", content: "hi" }], tools: [] },
      new AbortController().signal,
    )
  ) {
    // drain
  }
  return performance.now() - t;
};
const sdkShort: number[] = [];
for (let i = 0; i < SHORT_TURNS + 20; i++) {
  const ms = await drain([text("ok")]);
  if (i >= 20) sdkShort.push(ms);
}
const sdkLong = await drain(deltas(LONG_DELTAS));
await fake.close();

// The log alone, in-process: the store's group commit and the feed, with the turn loop's events arriving in
// bursts (one burst per turn of the event loop, as network reads deliver them) and every conversation read
// through its feed as NDJSON lines. What the daemon would do with a provider that cost nothing.
async function logAlone(conversations: number, perConversation: number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-bench-log-" });
  const db = openSqlite(`${dir}/conversations.sqlite`);
  const { store } = openConversationStore(db);
  if (!("follow" in store)) return NaN; // a build before the feed (the before column of bench/README.md)
  const readers: Promise<number>[] = [];
  for (let c = 0; c < conversations; c++) {
    const id = `c${c}`;
    store.create({ id });
    const after = store.beginTurn(id, "t", "m");
    const cursor = store.follow(id, after, { until: (e) => e.event.type === "turn-sealed" });
    readers.push((async () => {
      let bytes = 0;
      for (let batch = await cursor.next(); batch; batch = await cursor.next()) {
        let text = "";
        for (const e of batch) text += e.line + "\n";
        bytes += text.length;
      }
      return bytes;
    })());
  }
  const t = performance.now();
  const ids = (c: number) => ({ conversationId: `c${c}`, turnId: "t" });
  for (let c = 0; c < conversations; c++) store.append({ type: "turn-start", ...ids(c) });
  const BURST = 5; // deltas per conversation per network read
  for (let i = 0; i < perConversation; i += BURST) {
    for (let c = 0; c < conversations; c++) {
      for (let k = i; k < Math.min(i + BURST, perConversation); k++) {
        store.append({ type: "text-delta", ...ids(c), delta: `w${k} ` });
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  for (let c = 0; c < conversations; c++) {
    store.append({ type: "done", ...ids(c), reason: "stop" });
    store.append({ type: "turn-sealed", ...ids(c) });
  }
  await Promise.all(readers);
  const ms = performance.now() - t;
  db.close();
  await Deno.remove(dir, { recursive: true });
  return ms;
}
const logLong = await logAlone(1, LONG_DELTAS);
const logMany = await logAlone(CONVERSATIONS, CONV_DELTAS);

const table = (head: string[], body: string[][]) => {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  return [line(head), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...body.map(line)].join(
    "\n",
  );
};
console.log(table(["case", "provider direct", "via daemon", "daemon vs direct", "target", ""], rows));
console.log();
console.log(table(["measure", "value"], [
  ["start-up to listening (subprocess)", `${f(startupMs, 0)} ms`],
  ["idle RSS after start", `${f(idleRss)} MB`],
  [`GET /conversations/:id, all ${fullChunks} chunks (median of 5)`, `${f(median(fullTimes), 1)} ms`],
  ["provider alone, one-line call (in-process, median)", `${f(median(sdkShort), 2)} ms`],
  [
    `provider alone, ${LONG_DELTAS}-delta reply (in-process)`,
    `${Math.round(LONG_DELTAS / (sdkLong / 1000))} deltas/s (${
      f((directLong / sdkLong) * 100, 0)
    }% of direct)`,
  ],
  [
    `log alone (store + feed, in-process), one ${LONG_DELTAS}-delta reply`,
    `${Math.round(LONG_DELTAS / (logLong / 1000))} deltas/s (${
      f((directLong / logLong) * 100, 0)
    }% of direct)`,
  ],
  [
    `log alone, ${CONVERSATIONS} conversations × ${CONV_DELTAS} deltas`,
    `${f(logMany, 0)} ms (${f(logMany / directConcurrent, 2)}× direct)`,
  ],
]));
