// The conversation log end to end (issue 10): history is immutable while a turn streams, every way of reading
// a turn's events gives the same events, a request id cannot be reused for another message, and the next
// turn's request is the same whether its history comes from memory or from the store after a restart.
import { assert, assertEquals } from "./assert.ts";
import { reasoning, text, toolCall, usage } from "./fake_provider.ts";
import { readNdjson, startDaemon, startDaemonWithFake } from "./daemon.ts";
import { WsClient } from "./ws_client.ts";

const chat = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(new URL("/chat", url), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

type Line = Record<string, unknown>;

Deno.test("history polled while a reply streams never changes a seq it served; after turn-sealed it is all there", async () => {
  const { fake, daemon } = await startDaemonWithFake("sk-log-test-1");
  try {
    const words = Array.from({ length: 12 }, (_, i) => `tok${i} `);
    fake.script({
      steps: [
        reasoning("think "),
        reasoning("more "),
        ...words.slice(0, 6).map(text),
        toolCall("todo_write", { todos: [{ content: "a", status: "pending" }] }, { id: "call-1" }),
      ],
      chunkDelayMs: 15,
    }, { steps: words.slice(6).map(text), chunkDelayMs: 15 });
    const res = await chat(daemon.url, { conversationId: "poll-1", message: "stream slowly" });
    assertEquals(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const seen = new Map<number, string>();
    let buffered = "";
    let sealed = false;
    let polls = 0;
    const poll = async () => {
      const history = await (await daemon.fetch("/conversations/poll-1?sinceSeq=0")).json();
      polls++;
      for (const c of history.chunks ?? []) {
        const json = JSON.stringify(c);
        const before = seen.get(c.seq);
        if (before !== undefined) assertEquals(json, before, `seq ${c.seq} changed after it was served`);
        seen.set(c.seq, json);
      }
    };
    // One poll per batch of events read: the history is read at every point of the stream.
    while (!sealed) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      sealed = buffered.includes('"turn-sealed"');
      await poll();
    }
    assert(sealed, "the stream ended with turn-sealed");
    assert(polls > 5, `polled ${polls} times`);
    await poll();
    const history = await (await daemon.fetch("/conversations/poll-1")).json();
    const texts = history.chunks.filter((c: Line) => (c.chunk as Line).type === "text").map((c: Line) =>
      (c.chunk as Line).text
    );
    assertEquals(texts.slice(1).join(""), words.join(""), "the whole reply is in the history");
    assertEquals(
      history.chunks.map((c: Line) => c.seq),
      history.chunks.map((_: unknown, i: number) => i + 1),
    );
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("the re-attach route and the WebSocket replay carry exactly the events the POST /chat stream did", async () => {
  const { fake, daemon } = await startDaemonWithFake("sk-log-test-2", { SURFACE_WS_PORT: "0" });
  try {
    fake.script([text("one "), text("two "), toolCall("todo_write", { todos: [] }, { id: "call-r" })], [
      reasoning("hmm"),
      text("three"),
      usage({ promptTokens: 9, completionTokens: 3 }),
    ]);
    const streamed = await readNdjson(await chat(daemon.url, { conversationId: "attach-1", message: "go" }));
    assertEquals(streamed.at(-1)!.type, "turn-sealed");
    const seqs = streamed.map((e) => e.eventSeq as number);
    assertEquals(seqs, seqs.map((_, i) => i + 1), "every line has its eventSeq, gap-free");

    // From the start, and from the middle.
    const all = await readNdjson(await daemon.fetch("/conversations/attach-1/events?sinceEventSeq=0"));
    assertEquals(all, streamed);
    const mid = Math.floor(streamed.length / 2);
    const rest = await readNdjson(await daemon.fetch(`/conversations/attach-1/events?sinceEventSeq=${mid}`));
    assertEquals(rest, streamed.slice(mid));

    const ws = await WsClient.connect(daemon.url.replace(/^http/, "ws") + "/surface");
    try {
      ws.send({ type: "chat.subscribe", conversationId: "attach-1", sinceEventSeq: 0, allEvents: true });
      await ws.waitFor((f) => f.type === "chat.delta" && f.event.type === "turn-sealed");
      const frames = ws.deltas("attach-1");
      assertEquals(frames.map((f) => f.event), streamed);
      assertEquals(frames.map((f) => f.eventSeq), seqs);
    } finally {
      await ws.close();
    }

    // Bad cursors and unknown conversations are 4xx JSON errors.
    const bad = await daemon.fetch("/conversations/attach-1/events?sinceEventSeq=-1");
    assertEquals([bad.status, (await bad.json()).code], [400, "invalid_query"]);
    const unknown = await daemon.fetch("/conversations/nope/events");
    assertEquals(unknown.status, 404);
    await unknown.body?.cancel();
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("a re-attach during a turn replays it, then follows it live to turn-sealed", async () => {
  const { fake, daemon } = await startDaemonWithFake("sk-log-test-3");
  try {
    fake.script({ steps: Array.from({ length: 30 }, (_, i) => text(`w${i} `)), chunkDelayMs: 20 });
    const res = await chat(daemon.url, { conversationId: "live-1", message: "count" });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let head = "";
    while (head.split("\n").length < 6) head += (await reader.read()).value ?? "";
    const attached = await readNdjson(await daemon.fetch("/conversations/live-1/events?sinceEventSeq=0"));
    let tail = head;
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      tail += value;
    }
    const streamed = tail.split("\n").filter((l) => l).map((l) => JSON.parse(l));
    assertEquals(attached, streamed);
    assertEquals(attached.at(-1)!.type, "turn-sealed");
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("a clientRequestId attaches a retry of the same message, and is a 409 for a different one", async () => {
  const { fake, daemon } = await startDaemonWithFake("sk-log-test-4");
  try {
    fake.script([text("only once")]);
    const first = await readNdjson(await chat(daemon.url, { message: "hello", clientRequestId: "req-1" }));
    const retry = await readNdjson(await chat(daemon.url, { message: "hello", clientRequestId: "req-1" }));
    assertEquals(retry, first);
    assertEquals(fake.chatRequests.length, 1, "the retry did not run the turn again");
    const other = await chat(daemon.url, { message: "something else" }, { "x-client-request-id": "req-1" });
    const body = await other.json();
    assertEquals([other.status, body.code], [409, "request_id_reused"]);
    assert(/different message/.test(body.error), body.error);
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("the next turn's request is byte-identical whether its history comes from memory or from the store", async () => {
  const { fake, daemon, env } = await startDaemonWithFake("sk-log-test-5");
  const script = () => [
    [
      reasoning("Plan: "),
      reasoning("list."),
      text("Let me note it."),
      toolCall("todo_write", { todos: [{ content: "x", status: "pending" }] }, { id: "call-same" }),
    ],
    [text("Noted "), text("it.")],
  ];
  let second;
  try {
    for (const id of ["from-memory", "from-store"]) {
      fake.script(...script());
      const events = await readNdjson(await chat(daemon.url, { conversationId: id, message: "first" }));
      assertEquals(events.at(-1)!.type, "turn-sealed");
    }
    fake.script([text("again")]);
    await readNdjson(await chat(daemon.url, { conversationId: "from-memory", message: "second" }));
    const fromMemory = JSON.stringify(fake.chatRequests.at(-1)!.body);
    await daemon.stop();

    second = await startDaemon({ env, dataDir: daemon.dataDir });
    fake.script([text("again")]);
    await readNdjson(await chat(second.url, { conversationId: "from-store", message: "second" }));
    const fromStore = JSON.stringify(fake.chatRequests.at(-1)!.body);
    assertEquals(fromStore, fromMemory);
    assert(fromStore.includes("Noted it.") && fromStore.includes("call-same"), fromStore);
  } finally {
    await (second ?? daemon).stop();
    await fake.close();
  }
});
