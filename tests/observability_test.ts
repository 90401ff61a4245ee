// Observability end to end and in parts: the journal (rotation, masking, an unwritable directory), the
// collector (exactly once across crashes and rotations), the trace store's retention, the daemon's journal,
// supervised collector and `dispatch trace` for a real turn with a tool call, and the journal's protection.
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { startFakeProvider, text, toolCall, usage } from "./fake_provider.ts";
import { isolation, readNdjson, runCliProcess, startDaemon } from "./daemon.ts";
import { Journal, journalFiles } from "../extensions/journal-sink/mod.ts";
import { collectOnce } from "../extensions/observability-collector/mod.ts";
import { openTraceStore } from "../extensions/trace-store/mod.ts";
import { loadConfig } from "../src/config.ts";
import { waitGone } from "./process.ts";

const SECRET = "sk-observability-secret-0001";

async function tempDir(): Promise<string> {
  return await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-obs-" }));
}

const logRecord = (i: number, extra = "") => ({
  type: "log",
  time: Date.now(),
  level: "info",
  msg: `m${i}${extra}`,
});

Deno.test("the journal rotates by size, keeps a bounded number of files and masks secrets", async () => {
  const dir = await tempDir();
  const journal = new Journal(`${dir}/j`, { maxFileBytes: 4096, maxFiles: 3, secrets: [SECRET] });
  for (let i = 0; i < 200; i++) journal.write(logRecord(i, ` key=${SECRET} ${"x".repeat(40)}`));
  journal.close();
  const files = journalFiles(`${dir}/j`);
  assertEquals(files.length, 3, "older files removed");
  let last = "";
  for (const f of files) {
    const content = await Deno.readTextFile(`${dir}/j/${f.name}`);
    assert(new TextEncoder().encode(content).length <= 4096, "each file within its limit");
    assert(!content.includes(SECRET), "secret masked");
    assertMatch(content, /\[redacted\]/);
    last = content;
  }
  assertMatch(last, /"msg":"m199 /);
  assertEquals(journal.dropped, 0);
});

Deno.test("a journal directory that cannot be written drops records and counts them, never throws", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/file`, "not a directory");
  const journal = new Journal(`${dir}/file/journal`);
  for (let i = 0; i < 5; i++) assertEquals(journal.write(logRecord(i)), undefined);
  assert(journal.dropped >= 1);
  journal.close();
});

Deno.test("the collector inserts every record exactly once across rotations, crashes and re-reads", async () => {
  const dir = await tempDir();
  const journal = new Journal(`${dir}/j`, { maxFileBytes: 8192, maxFiles: 100 });
  const ids = new Set<string>();
  let store = openTraceStore(`${dir}/data`);
  // Crashes at seeded points: the store is closed mid-way and its position is rolled back to an older one
  // (what a collector killed after reading but before committing would see), then reopened.
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 12; round++) {
    const n = 20 + Math.floor(rand() * 60);
    for (let i = 0; i < n; i++) {
      const id = journal.nextId();
      ids.add(id);
      journal.write({ id, ...logRecord(i, "y".repeat(Math.floor(rand() * 200))) });
    }
    await collectOnce(store, `${dir}/j`);
    if (rand() < 0.5) {
      store.db.prepare("UPDATE positions SET offset = 0").run(); // re-read the whole current file
      store.db.close();
      store = openTraceStore(`${dir}/data`);
    }
  }
  await collectOnce(store, `${dir}/j`);
  journal.close();
  assert(journalFiles(`${dir}/j`).length > 3, "the journal rotated");
  assertEquals(store.counts().logs, ids.size);
  const stored = store.db.prepare("SELECT id FROM logs").all().map((r) => String(r.id));
  assertEquals(new Set(stored), ids);
  store.db.close();
});

Deno.test("retention deletes whole traces by age, then the oldest by size, and unreferenced bodies", async () => {
  const dir = await tempDir();
  const store = openTraceStore(dir);
  const now = Date.now();
  const span = (turn: string, start: number) => ({
    id: turn,
    type: "span" as const,
    kind: "turn" as const,
    name: "turn",
    traceId: turn,
    start,
    end: start + 10,
    durationMs: 10,
    status: "stop",
  });
  const provider = (turn: string, start: number, body: string) => ({
    ...span(`${turn}/p`, start),
    kind: "provider" as const,
    traceId: turn,
    parentId: turn,
    request: { body },
    response: { body: "same-response" },
  });
  const old = now - 3 * 86_400_000;
  await store.ingest([
    span("old", old),
    provider("old", old, "old-request"),
    span("a", now - 3000),
    provider("a", now - 3000, "a".repeat(50_000)),
    span("b", now - 2000),
    provider("b", now - 2000, "b".repeat(50_000)),
  ], { fileSeq: 1, offset: 1 });
  assertEquals(store.counts().bodies, 4, "the shared response is stored once");
  store.prune({ maxAgeMs: 86_400_000, maxBytes: 10_000_000 }, now);
  assertEquals(store.turns().map((t) => t.turnId), ["b", "a"]);
  assertEquals(store.counts().bodies, 3);
  store.prune({ maxAgeMs: 86_400_000, maxBytes: 60_000 }, now);
  assertEquals(store.turns().map((t) => t.turnId), ["b"]);
  assertEquals(store.counts().bodies, 2);
  store.db.close();
});

Deno.test("the journal dir is a protected path wherever protected paths are handed out", () => {
  const config = loadConfig({ DISPATCH_ENV_FILE: "", DISPATCH_JOURNAL_DIR: "/var/log/dispatch" }, "/srv");
  assertEquals(config.journalDir, "/var/log/dispatch");
  assert(JSON.parse(config.public.DISPATCH_PROTECTED_PATHS).includes("/var/log/dispatch"));
  const dev = loadConfig({ DISPATCH_ENV_FILE: "", DISPATCH_DATA_DIR: "/srv/data" }, "/srv");
  assertEquals(dev.journalDir, "/srv/data/journal");
});

/** The pid of the collector the daemon says it started last. */
function collectorPid(logs: string): number {
  const started = logs.split("\n").filter((l) => l.includes('"collector started"')).map((l) => JSON.parse(l))
    .filter((r) => r.ext === "observability-collector" && typeof r.pid === "number");
  return started.at(-1)?.pid ?? 0;
}

/** Polls `dispatch trace --json` until it lists `count` turns (the collector runs at its own pace). */
async function tracedTurns(env: Record<string, string>, cwd: string, count: number) {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const r = await runCliProcess(["trace", "--json"], env, cwd);
    if (r.code === 0) {
      const turns = JSON.parse(r.stdout) as { turnId: string }[];
      if (turns.length >= count) return turns;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the collector never stored the turn");
}

Deno.test("a real turn with a tool call: journaled, collected by the supervised collector, shown by dispatch trace", async () => {
  const dir = await tempDir();
  const journalDir = `${dir}/journal`; // outside the data dir: protected on its own account
  await using fake = await startFakeProvider({ apiKey: SECRET });
  const env = {
    DISPATCH_API_KEY: SECRET,
    DISPATCH_BASE_URL: fake.baseUrl,
    DISPATCH_MODEL: "fake-model",
    DISPATCH_JOURNAL_DIR: journalDir,
    DISPATCH_WORKSPACE_ROOTS: dir,
  };
  const daemon = await startDaemon({ env, dataDir: `${dir}/data`, cwd: dir });
  try {
    fake.script(
      [
        toolCall("run_shell", { command: `cat ${journalDir}/*; ls ${journalDir}; echo listed` }, {
          id: "t1",
        }),
        usage({ promptTokens: 11, completionTokens: 3 }),
      ],
      [text("all done"), usage({ promptTokens: 20, completionTokens: 2 })],
    );
    const res = await daemon.fetch("/chat", {
      method: "POST",
      body: JSON.stringify({ message: "look at the journal", cwd: dir }),
    });
    const events = await readNdjson(res);
    const result = events.find((e) => e.type === "tool-result")!;
    assertMatch(String(result.content), /listed/);
    assert(!String(result.content).includes("journal-0"), `the shell saw the journal: ${result.content}`);
    assert(!String(result.content).includes('"type":"span"'), "the shell read the journal");

    const cliEnv = { DISPATCH_DATA_DIR: `${dir}/data`, DISPATCH_JOURNAL_DIR: journalDir };
    const [turn] = await tracedTurns(cliEnv, dir, 1);
    const shown = await runCliProcess(["trace", turn.turnId.slice(0, 12)], cliEnv, dir);
    assertEquals(shown.code, 0, shown.stderr);
    const lines = shown.stdout.trim().split("\n");
    assertMatch(lines[0], /^turn turn +[\d.]+m?s .* stop +fake-model +31 in \/ 5 out/);
    assertEquals(lines.filter((l) => /^ {2}step step \d/.test(l)).length, 2, shown.stdout);
    assertEquals(lines.filter((l) => /^ {4}provider fake-model +[\d.]+m?s/.test(l)).length, 2, shown.stdout);
    assertMatch(shown.stdout, /^ {4}tool run_shell +[\d.]+m?s .* ok/m);
    const exchangeId = shown.stdout.match(/\[exchange (\S+)\]/)![1];
    const exchange = await runCliProcess(["trace", "exchange", exchangeId], cliEnv, dir);
    assertEquals(exchange.code, 0, exchange.stderr);
    const body = JSON.parse(exchange.stdout);
    assertEquals(body.request.model, "fake-model");
    assert(body.request.messages.some((m: { content?: string }) => m.content === "look at the journal"));
    assertEquals(body.response.toolCalls[0].toolName, "run_shell");

    // HTTP requests are spans too, and no secret is in the journal.
    let journal = "";
    for (const f of journalFiles(journalDir)) journal += await Deno.readTextFile(`${journalDir}/${f.name}`);
    assertMatch(journal, /"kind":"http","name":"POST \/chat"/);
    assert(!journal.includes(SECRET), "the API key reached the journal");

    // The collector killed: the daemon keeps serving and starts another, which goes on without duplicates.
    const pid = collectorPid(daemon.logs());
    Deno.kill(pid, "SIGKILL");
    assertEquals((await daemon.fetch("/health")).status, 200);
    fake.script([text("second"), usage({ promptTokens: 5, completionTokens: 1 })]);
    await readNdjson(
      await daemon.fetch("/chat", { method: "POST", body: JSON.stringify({ message: "again" }) }),
    );
    const turns = await tracedTurns(cliEnv, dir, 2);
    assertEquals(turns.length, 2);
    assertMatch(daemon.logs(), /collector exited; restarting/);
  } finally {
    const status = await daemon.stop();
    assertEquals(status.code, 0, daemon.logs().slice(-2000));
  }
  const store = openTraceStore(`${dir}/data`);
  const dupes = store.db.prepare("SELECT count(*) AS n FROM spans").get()!.n;
  const distinct = store.db.prepare("SELECT count(DISTINCT id) AS n FROM spans").get()!.n;
  assertEquals(dupes, distinct);
  store.db.close();
});

Deno.test("the daemon serves turns with a journal directory it cannot write (and its collector failing)", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/file`, "");
  await using fake = await startFakeProvider({ apiKey: SECRET });
  const daemon = await startDaemon({
    env: {
      DISPATCH_API_KEY: SECRET,
      DISPATCH_BASE_URL: fake.baseUrl,
      DISPATCH_MODEL: "fake-model",
      DISPATCH_JOURNAL_DIR: `${dir}/file/journal`,
    },
  });
  try {
    fake.script([text("fine")]);
    const events = await readNdjson(
      await daemon.fetch("/chat", { method: "POST", body: JSON.stringify({ message: "hi" }) }),
    );
    assertEquals(events.find((e) => e.type === "done")?.reason, "stop");
    assertMatch(daemon.logs(), /journal not writable; records dropped/);
    assertEquals((await daemon.fetch("/health")).status, 200);
  } finally {
    assertEquals((await daemon.stop()).code, 0);
  }
});

Deno.test("dispatch collector exports the journal's spans over OTLP/HTTP to a configured endpoint", async () => {
  const dir = await tempDir();
  const received = Promise.withResolvers<Record<string, unknown>>();
  await using receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (new URL(req.url).pathname === "/v1/traces") received.resolve(await req.json());
    return Response.json({});
  });
  const journal = new Journal(`${dir}/journal`);
  const base = { type: "span", traceId: "turn-1", status: "stop", conversationId: "c1", turnId: "turn-1" };
  journal.write({
    ...base,
    id: "turn-1/tool-x",
    kind: "tool",
    name: "run_shell",
    parentId: "turn-1",
    start: 1000,
    end: 1010,
    durationMs: 10,
  });
  journal.write({
    ...base,
    id: "turn-1",
    kind: "turn",
    name: "turn",
    start: 990,
    end: 1020,
    durationMs: 30,
    model: "m",
  });
  journal.close();
  await Deno.writeTextFile(`${dir}/env`, "");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../src/main.ts", import.meta.url).pathname, "collector"],
    env: {
      DISPATCH_ENV_FILE: `${dir}/env`,
      DISPATCH_DATA_DIR: `${dir}/data`,
      DISPATCH_JOURNAL_DIR: `${dir}/journal`,
      DISPATCH_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.addr.port}/v1/traces`,
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const body = JSON.stringify(await received.promise);
  child.kill("SIGTERM");
  assertEquals((await child.status).code, 0, "the collector drains and exits cleanly");
  assertMatch(body, /"name":"tool run_shell"/);
  assertMatch(body, /"name":"turn turn"/);
  assertMatch(body, /"service.name"/);
  const spans = (JSON.parse(body).resourceSpans[0].scopeSpans[0].spans) as {
    spanId: string;
    parentSpanId?: string;
    name: string;
  }[];
  const turn = spans.find((s) => s.name === "turn turn")!;
  assertEquals(spans.find((s) => s.name === "tool run_shell")!.parentSpanId, turn.spanId);
});

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;

/** `dispatch collector` as a subprocess over `dir`'s data and journal, in a scrubbed environment. */
async function spawnCollector(dir: string) {
  const { env } = await isolation();
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "collector"],
    env: { ...env, DISPATCH_DATA_DIR: `${dir}/data`, DISPATCH_JOURNAL_DIR: `${dir}/journal` },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

const deadline = (ms: number) => {
  const until = Date.now() + ms;
  return () => {
    if (Date.now() > until) throw new Error(`not done within ${ms} ms`);
  };
};

Deno.test("dispatch collector killed (SIGKILL) at seeded points and restarted stores every record exactly once", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/env`, "");
  const journal = new Journal(`${dir}/journal`, { maxFileBytes: 64 * 1024, maxFiles: 1000 });
  const ids: string[] = [];
  for (let i = 0; i < 6000; i++) {
    const id = journal.nextId();
    ids.push(id);
    journal.write({ id, ...logRecord(i, "z".repeat(i % 1000)) });
  }
  journal.close();
  const final = journalFiles(`${dir}/journal`).at(-1)!;
  const end = final.seq * 1e9 + (await Deno.stat(`${dir}/journal/${final.name}`)).size;
  const position = () => {
    try {
      const store = openTraceStore(`${dir}/data`);
      try {
        const p = store.position();
        return p.fileSeq * 1e9 + p.offset;
      } finally {
        store.db.close();
      }
    } catch {
      return 0; // not created yet, or busy
    }
  };
  let seed = 11;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let kills = 0;
  for (let round = 0; round < 6; round++) {
    const before = position();
    const child = await spawnCollector(dir);
    const bounded = deadline(20_000);
    // Killed once it has committed something past where it started (or has exited), after a seeded few
    // more milliseconds, so kills land at different points of its reading and writing.
    while (position() === before && before < end) {
      bounded();
      if (
        !(await Promise.race([
          child.status.then(() => false),
          new Promise((r) => setTimeout(() => r(true), 5)),
        ]))
      ) break;
    }
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 40)));
    try {
      child.kill("SIGKILL");
      kills++;
    } catch { /* it had finished */ }
    await child.status;
    await child.stderr.cancel();
  }
  assert(kills >= 3, `only ${kills} kills landed`);
  const last = await spawnCollector(dir);
  const bounded = deadline(30_000);
  while (position() < end) {
    bounded();
    await new Promise((r) => setTimeout(r, 20));
  }
  // Its drain on SIGTERM, once it listens for it (it says so when it starts).
  const reader = last.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("collector started")) {
    const { done, value } = await reader.read();
    if (done) break;
    said += value;
  }
  last.kill("SIGTERM");
  while (!(await reader.read()).done) { /* the rest of its log */ }
  assertEquals((await last.status).code, 0, said);
  const store = openTraceStore(`${dir}/data`);
  const stored = store.db.prepare("SELECT id FROM logs").all().map((r) => String(r.id));
  store.db.close();
  assertEquals(stored.length, ids.length);
  assertEquals(new Set(stored), new Set(ids));
});

Deno.test("a daemon killed outright leaves no collector behind", async () => {
  const daemon = await startDaemon();
  const pid = collectorPid(daemon.logs());
  assert(pid > 0, daemon.logs());
  await daemon.kill();
  assert(await waitGone(pid, 5000), "the collector outlived its daemon");
});

Deno.test("bad journal, OTLP and trace settings are one-line errors", async () => {
  const serve = async (env: Record<string, string>) => {
    const r = await runCliProcess(["serve"], { BACKEND_PORT: "0", ...env });
    assertEquals(r.code, 1, r.stderr);
    return r.stderr.trim();
  };
  assertMatch(
    await serve({ DISPATCH_JOURNAL_MAX_BYTES: "lots" }),
    /^dispatch: DISPATCH_JOURNAL_MAX_BYTES must be a whole number/,
  );
  assertMatch(
    await serve({ DISPATCH_JOURNAL_MAX_FILES: "1" }),
    /^dispatch: DISPATCH_JOURNAL_MAX_FILES must be .* at least 2/,
  );
  assertMatch(
    await serve({ DISPATCH_OTLP_ENDPOINT: "ftp://collector" }),
    /^dispatch: DISPATCH_OTLP_ENDPOINT must be an http\(s\) URL/,
  );

  const dir = await tempDir();
  const env = { DISPATCH_DATA_DIR: `${dir}/data` };
  const trace = async (...args: string[]) => {
    const r = await runCliProcess(["trace", ...args], env);
    return { code: r.code, err: r.stderr.trim(), out: r.stdout };
  };
  assertEquals(await trace(), {
    code: 1,
    err: `dispatch: no trace store in ${dir}/data (the collector has not run yet)`,
    out: "",
  });
  const store = openTraceStore(`${dir}/data`);
  store.db.close();
  assertEquals((await trace()).out, "no turns traced yet\n");
  assertMatch(
    (await trace("--limit", "0")).err,
    /^dispatch: --limit must be a whole number from 1 to 10000, got "0"$/,
  );
  assertMatch((await trace("--nope")).err, /^dispatch: Unknown option '--nope'/);
  assertMatch((await trace("a", "b")).err, /^dispatch: unexpected argument "b"/);
  assertMatch((await trace("no-such-turn")).err, /^dispatch: no turn "no-such-turn" in the trace store$/);
  assertMatch((await trace("exchange", "x")).err, /^dispatch: no provider call "x"/);
  assertMatch((await trace("--help")).out, /dispatch trace exchange SPAN-ID/);
});
