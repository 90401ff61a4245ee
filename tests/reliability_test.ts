// Reliability against the real daemon: provider faults retried (or ended with a clear error) with their
// provider-retry events on the stream, and SIGTERM during a turn (the grace period, then abort; exit 0; nothing
// lost or left active after a restart).
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { httpError, stall, text } from "./fake_provider.ts";
import { readNdjson, runCliProcess, startDaemon, startDaemonWithFake } from "./daemon.ts";
import { surfacePortUrl, WsClient, wsUrl } from "./ws_client.ts";

const KEY = "sk-reliability-0001";
// Retries after a millisecond or so; a stall is noticed after 300 ms.
const FAST = {
  DISPATCH_PROVIDER_RETRY_BASE_MS: "1",
  DISPATCH_PROVIDER_RETRY_MAX_MS: "50",
  DISPATCH_PROVIDER_MAX_RETRIES: "3",
  DISPATCH_STALL_TIMEOUT_MS: "300",
};

type Event = Record<string, unknown>;

/** The daemon's first log record with this message. */
function logged(logs: string, msg: string): Event | undefined {
  return logs.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).find((r) =>
    r.msg === msg
  );
}
const ofType = (events: Event[], type: string) => events.filter((e) => e.type === type);

async function chat(url: string, body: Record<string, unknown>): Promise<Response> {
  const res = await fetch(new URL("/chat", url), { method: "POST", body: JSON.stringify(body) });
  assertEquals(res.status, 200, res.status === 200 ? "" : await res.clone().text());
  return res;
}

/** Reads NDJSON lines as they come, resolving `seen(pred)` once one matches. */
function streamEvents(res: Response) {
  const events: Event[] = [];
  const waiters: { pred: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];
  const done = (async () => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    while (true) {
      const { done, value } = await reader.read();
      buffer += value ?? "";
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const event = JSON.parse(line);
        events.push(event);
        for (const w of [...waiters]) {
          if (w.pred(event)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(event));
        }
      }
      if (done) return events;
    }
  })();
  return {
    events,
    done,
    seen: (pred: (e: Event) => boolean) =>
      events.find(pred) ?? new Promise<Event>((resolve) => waiters.push({ pred, resolve })),
  };
}

Deno.test("reliability: provider faults over the daemon: retried with provider-retry events, or a clear error", async (t) => {
  const { fake, daemon } = await startDaemonWithFake(KEY, FAST);
  try {
    await t.step("503, 429 with Retry-After and a stall, then the answer", async () => {
      fake.script(
        [httpError(503, "overloaded")],
        [httpError(429, "slow down", { "retry-after": "0.05" })],
        [stall()],
        [text("recovered")],
      );
      const events = await readNdjson(await chat(daemon.url, { message: "hello" }));
      const retries = ofType(events, "provider-retry");
      assertEquals(retries.map((r) => [r.attempt, r.code]), [
        [0, "provider_unavailable"],
        [1, "rate_limited"],
        [2, "provider_stalled"],
      ]);
      assert(Number(retries[1].delayMs) >= 50, `Retry-After not honoured: ${retries[1].delayMs}`);
      for (const r of retries) assertMatch(String(r.message), /^opencode: /);
      assertEquals(ofType(events, "text-delta").map((e) => e.delta).join(""), "recovered");
      assertEquals(ofType(events, "error"), []);
      assertEquals(events.find((e) => e.type === "done")?.reason, "stop");
      assertEquals(fake.chatRequests.length, 4);
      // The history holds the answer once, and no trace of the failed attempts.
      const id = String(events[0].conversationId);
      const history = await (await daemon.fetch(`/conversations/${id}`)).json();
      assertEquals(history.chunks.map((c: { chunk: { type: string } }) => c.chunk.type), ["text", "text"]);
    });

    await t.step("the CLI shows each retry on stderr and the answer on stdout", async () => {
      fake.reset();
      fake.script([httpError(503, "overloaded")], [text("through the CLI")]);
      const r = await runCliProcess(["opencode/fake-model", "--text", "hi", "--server", daemon.url]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, "through the CLI\n");
      assertMatch(
        r.stderr,
        /^\[retry 1 in \d+ ms\] opencode: the provider failed or is unavailable \(HTTP 503: overloaded\)/,
      );
    });

    await t.step(
      "500s past the limit end the turn with an error naming the provider and the status",
      async () => {
        fake.reset();
        fake.script(...Array.from({ length: 4 }, () => [httpError(500, "internal")]));
        const events = await readNdjson(await chat(daemon.url, { message: "again" }));
        assertEquals(ofType(events, "provider-retry").map((r) => r.attempt), [0, 1, 2]);
        const [error] = ofType(events, "error");
        assertEquals(error.code, "provider_unavailable");
        assertMatch(String(error.message), /^opencode: .*HTTP 500: internal.*gave up after 4 attempts/);
        assertEquals(events.find((e) => e.type === "done")?.reason, "error");
        assertEquals(fake.chatRequests.length, 4);
      },
    );

    await t.step("a 400 is not retried", async () => {
      fake.reset();
      fake.script([httpError(400, "context length exceeded")]);
      const events = await readNdjson(await chat(daemon.url, { message: "too long" }));
      assertEquals(ofType(events, "provider-retry"), []);
      assertEquals(ofType(events, "error")[0].code, "bad_request");
      assertEquals(fake.chatRequests.length, 1);
    });

    await t.step("output shown, then the connection breaks: the turn ends with the part kept", async () => {
      fake.reset();
      fake.script([text("the first half"), stall()]);
      const events = await readNdjson(await chat(daemon.url, { message: "tell me" }));
      assertEquals(ofType(events, "provider-retry"), []);
      assertEquals(ofType(events, "text-delta").map((e) => e.delta), ["the first half"]);
      assertMatch(
        String(ofType(events, "error")[0].message),
        /not retried, as part of the answer was already shown/,
      );
      assertEquals(fake.chatRequests.length, 1);
      const id = String(events[0].conversationId);
      const last = await (await daemon.fetch(`/conversations/${id}/last`)).json();
      assertEquals(last.content, "the first half");
    });
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("reliability: SIGTERM lets a running turn finish within the grace period, exits 0, and loses nothing", async () => {
  const { fake, daemon, env } = await startDaemonWithFake(KEY, { DISPATCH_SHUTDOWN_GRACE_MS: "10000" });
  let again;
  try {
    fake.script({ steps: ["one ", "two ", "three ", "four"].map(text), chunkDelayMs: 150 });
    const turn = streamEvents(await chat(daemon.url, { message: "count" }));
    await turn.seen((e) => e.type === "text-delta");
    const status = await daemon.stop(); // SIGTERM mid-turn
    assertEquals(status.code, 0, daemon.logs());
    const events = await turn.done;
    assertEquals(ofType(events, "text-delta").map((e) => e.delta).join(""), "one two three four");
    assertEquals(events.at(-2)?.reason, "stop");
    assertEquals(events.at(-1)?.type, "turn-sealed");
    assertEquals(logged(daemon.logs(), "running turns finished")?.why, "finished");

    again = await startDaemon({ env, dataDir: daemon.dataDir });
    const id = String(events[0].conversationId);
    const conversation = await (await again.fetch(`/conversations/${id}/status`)).json();
    assertEquals([conversation.isActive, conversation.status], [false, "idle"]);
    const last = await (await again.fetch(`/conversations/${id}/last`)).json();
    assertEquals(last.content, "one two three four");
    const metrics = await (await again.fetch(`/conversations/${id}/metrics`)).json();
    assertEquals(metrics.turns.map((t: { status: string }) => t.status), ["done"]);
  } finally {
    await again?.stop();
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("reliability: SIGTERM past the grace period interrupts the turn, refuses new ones (503), keeps what it streamed, the queue and cache warming, closes sockets with 1001 on both ports", async () => {
  const { fake, daemon, env } = await startDaemonWithFake(KEY, {
    DISPATCH_SHUTDOWN_GRACE_MS: "1500",
    SURFACE_WS_PORT: "0",
  });
  let again;
  try {
    const sockets = [
      await WsClient.connect(surfacePortUrl(daemon.logs())!),
      await WsClient.connect(wsUrl(daemon.url)),
    ];
    // An idle conversation with a queued message (it must survive the shutdown).
    fake.script([text("first answer")]);
    const idle = String((await readNdjson(await chat(daemon.url, { message: "hello" })))[0].conversationId);
    const warming = await sockets[1].request(
      {
        type: "invoke",
        surfaceId: "cache-warming",
        actionId: "cache-warming/toggle",
        payload: true,
        conversationId: idle,
      },
      (f) => f.type === "invoke.result",
    );
    assertEquals(warming.result.enabled, true);
    fake.script([text("started, then"), stall()]);
    const turn = streamEvents(await chat(daemon.url, { message: "hang" }));
    await turn.seen((e) => e.type === "text-delta");
    const queued = await fetch(new URL(`/conversations/${turn.events[0].conversationId}/queue`, daemon.url), {
      method: "POST",
      body: JSON.stringify({ message: "for later" }),
    });
    assertEquals(queued.status, 200);
    assertEquals((await queued.json()).startedTurn, false);

    daemon.child.kill("SIGTERM");
    await waitForLog(daemon, "shutting down");
    // During the grace period: no new turn, in words and a code a client can act on; the queue keeps messages.
    const refused = await fetch(new URL("/chat", daemon.url), {
      method: "POST",
      body: JSON.stringify({ message: "one more?" }),
    });
    assertEquals(refused.status, 503);
    assertEquals((await refused.json()).code, "shutting_down");
    const later = await fetch(new URL(`/conversations/${idle}/queue`, daemon.url), {
      method: "POST",
      body: JSON.stringify({ message: "when you are back" }),
    });
    assertEquals(later.status, 200);
    assertEquals((await later.json()).startedTurn, false);
    const chatError = await sockets[1].request(
      { type: "chat.send", message: "and over the socket?" },
      (f) => f.type === "chat.error",
    );
    assertMatch(chatError.message, /shutting down/);

    const status = await daemon.child.status;
    assertEquals(status.code, 0, daemon.logs());
    const events = await turn.done;
    assertEquals(events.at(-3)?.code, "interrupted");
    assertEquals(events.at(-2)?.type, "done");
    assertEquals(events.at(-1)?.type, "turn-sealed");
    assertEquals(logged(daemon.logs(), "running turns interrupted")?.why, "grace period over");
    for (const ws of sockets) await ws.waitFor(() => false, { timeoutMs: 2000 }).catch(() => {});
    assertEquals(sockets.map((ws) => ws.closeCode), [1001, 1001]);

    again = await startDaemon({ env, dataDir: daemon.dataDir });
    const id = String(events[0].conversationId);
    const conversation = await (await again.fetch(`/conversations/${id}/status`)).json();
    assertEquals([conversation.isActive, conversation.status], [false, "idle"]);
    const metrics = await (await again.fetch(`/conversations/${id}/metrics`)).json();
    assertEquals(metrics.turns.map((t: { status: string }) => t.status), ["interrupted"]);
    const history = await (await again.fetch(`/conversations/${id}`)).json();
    assert(
      history.chunks.some((c: { chunk: { text?: string } }) => c.chunk.text === "started, then"),
      JSON.stringify(history),
    );
    const ws = await WsClient.connect(wsUrl(again.url));
    const queues = [];
    for (const conversationId of [id, idle]) {
      const reply = await ws.request(
        { type: "subscribe", surfaceId: "message-queue", conversationId },
        (f) => f.type === "surface" && f.conversationId === conversationId,
      );
      const custom = reply.spec.fields.find((f: { kind: string }) => f.kind === "custom");
      queues.push(custom.payload.messages.map((m: { text: string }) => m.text));
    }
    // Cache warming stays on for the idle conversation (its timer is armed again at boot from this setting).
    const warm = await ws.request(
      { type: "subscribe", surfaceId: "cache-warming", conversationId: idle },
      (f) => f.type === "surface" && f.spec.id === "cache-warming",
    );
    assertEquals(warm.spec.fields.find((f: { kind: string }) => f.kind === "toggle").value, true);
    await ws.close();
    assertEquals(queues, [["for later"], ["when you are back"]]);
    // and the conversation goes on
    fake.script([text("back")]);
    const next = await readNdjson(await chat(again.url, { conversationId: id, message: "still there?" }));
    assertEquals(next.find((e) => e.type === "done")?.reason, "stop");
  } finally {
    await again?.stop();
    await daemon.stop();
    await fake.close();
  }
});

/** Waits until the daemon has logged a record with this message (its log is read as it comes). */
async function waitForLog(daemon: { logs(): string }, msg: string, timeoutMs = 5000): Promise<Event> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const record = logged(daemon.logs(), msg);
    if (record) return record;
    if (Date.now() > deadline) throw new Error(`no "${msg}" in the log:\n${daemon.logs()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("reliability: bad DISPATCH_SHUTDOWN_GRACE_MS or DISPATCH_STALL_TIMEOUT_MS stop the start in one line", async () => {
  const runs = await Promise.all([
    runCliProcess(["serve"], { BACKEND_PORT: "0", DISPATCH_SHUTDOWN_GRACE_MS: "soon" }),
    runCliProcess(["serve"], { BACKEND_PORT: "0", DISPATCH_STALL_TIMEOUT_MS: "-5" }),
  ]);
  for (
    const [r, name] of [[runs[0], "DISPATCH_SHUTDOWN_GRACE_MS"], [
      runs[1],
      "DISPATCH_STALL_TIMEOUT_MS",
    ]] as const
  ) {
    assertEquals(r.code, 1, r.stderr);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assertMatch(r.stderr, new RegExp(`^dispatch: .*${name} must be`));
  }
});
