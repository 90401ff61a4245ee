// The message queue end to end: steering a running turn, starting a turn when idle, cancelling, the surface, and
// surviving a restart. The daemon as a subprocess, the fake provider, HTTP and a WebSocket client.
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { delay, stall, startFakeProvider, text, toolCall } from "./fake_provider.ts";
import { type Daemon, readNdjson, startDaemon } from "./daemon.ts";
import { type Frame, WsClient, wsUrl } from "./ws_client.ts";

const KEY = "sk-test-key-123456";

const post = (d: Daemon, path: string, body: unknown) =>
  d.fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const chat = (d: Daemon, body: unknown) => post(d, "/chat", body);
const queue = (d: Daemon, id: string, body: unknown) => post(d, `/conversations/${id}/queue`, body);
/** Waits until the provider has received more than `count` chat requests. */
async function requested(fake: { chatRequests: unknown[] }, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (fake.chatRequests.length <= count) {
    if (Date.now() > deadline) throw new Error(`the provider got no chat request after the first ${count}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
// deno-lint-ignore no-explicit-any
const userTexts = (messages: any[]) => messages.filter((m) => m.role === "user").map((m) => m.content);

Deno.test("the message queue", async (t) => {
  const fake = await startFakeProvider({ apiKey: KEY });
  const env = { DISPATCH_API_KEY: KEY, DISPATCH_BASE_URL: fake.baseUrl, DISPATCH_MODEL: "fake-model" };
  let daemon = await startDaemon({ env });
  let id = "";
  try {
    await t.step("a message queued during a slow turn reaches the model in that same turn", async () => {
      fake.script(
        [text("working on it"), delay(600), toolCall("todo_write", { todos: [] })],
        [text("done, including the extra")],
      );
      const before = fake.chatRequests.length;
      const res = await chat(daemon, { message: "start" });
      id = res.headers.get("x-conversation-id")!;
      const streamed = readNdjson(res);
      await requested(fake, before);

      const queued = await queue(daemon, id, { message: "also mention pelicans" });
      assertEquals(queued.status, 200);
      const body = await queued.json();
      assertEquals(body.conversationId, id);
      assertEquals(body.startedTurn, false);
      assertEquals(body.queue.map((m: Frame) => m.text), ["also mention pelicans"]);
      assert(typeof body.queue[0].id === "string" && typeof body.queue[0].queuedAt === "number");

      const events = await streamed;
      assertEquals(events.filter((e) => e.type === "turn-start").length, 1, "one turn");
      const steering = events.find((e) => e.type === "steering");
      assertEquals(steering?.text, "also mention pelicans");
      const requests = fake.chatRequests.slice(before);
      assertEquals(requests.length, 2);
      assertEquals(userTexts(requests[0].body.messages), ["start"]);
      assertEquals(userTexts(requests[1].body.messages), ["start", "also mention pelicans"]);
      // Delivered, so no longer queued.
      const gone = await daemon.fetch(`/conversations/${id}/queue/${body.queue[0].id}`, { method: "DELETE" });
      assertEquals(await gone.json(), { conversationId: id, cancelled: false, queue: [] });
      // And it is part of the stored history.
      const history = await (await daemon.fetch(`/conversations/${id}`)).json();
      assert(
        history.chunks.some((c: Frame) => c.role === "user" && c.chunk.text === "also mention pelicans"),
      );
    });

    await t.step("a message queued while idle starts a turn", async () => {
      fake.script([text("started by the queue")]);
      const res = await queue(daemon, id, { text: "next please" }); // the reference client's spelling
      const body = await res.json();
      assertEquals(res.status, 200, JSON.stringify(body));
      assertEquals(body.startedTurn, true);
      const last = await (await daemon.fetch(`/conversations/${id}/last`)).json();
      assertEquals(last.content, "started by the queue");
      assertEquals(userTexts(fake.chatRequests.at(-1)!.body.messages).at(-1), "next please");
    });

    await t.step("DELETE drops a queued message; bad requests get clear errors", async () => {
      fake.script([text("holding"), stall()]);
      const n = fake.chatRequests.length;
      const res = await chat(daemon, { conversationId: id, message: "hold on" });
      const streamed = readNdjson(res);
      await requested(fake, n);
      const one = await (await queue(daemon, id, { message: "first" })).json();
      const two = await (await queue(daemon, id, { message: "second" })).json();
      assertEquals(two.queue.map((m: Frame) => m.text), ["first", "second"]);
      const firstId = one.queue[0].id;
      const del = await daemon.fetch(`/conversations/${id}/queue/${firstId}`, { method: "DELETE" });
      const cancelled = await del.json();
      assertEquals(cancelled.cancelled, true);
      assertEquals(cancelled.queue.map((m: Frame) => m.text), ["second"]);
      const again = await (await daemon.fetch(`/conversations/${id}/queue/${firstId}`, { method: "DELETE" }))
        .json();
      assertEquals(again.cancelled, false);

      const bad: [string, RequestInit, number, RegExp][] = [
        [`/conversations/${id}/queue`, { method: "POST", body: "{}" }, 400, /message is required/],
        [
          `/conversations/${id}/queue`,
          { method: "POST", body: JSON.stringify({ message: "   " }) },
          400,
          /message/,
        ],
        [`/conversations/${id}/queue`, { method: "POST", body: JSON.stringify({ text: 42 }) }, 400, /text/],
        [`/conversations/${id}/queue`, { method: "POST", body: "{oops" }, 400, /JSON/],
        [
          `/conversations/nobody-here/queue`,
          { method: "POST", body: JSON.stringify({ message: "x" }) },
          404,
          /no conversation/,
        ],
        [`/conversations/nobody-here/queue/abc`, { method: "DELETE" }, 404, /no conversation/],
      ];
      for (const [path, init, status, pattern] of bad) {
        const r = await daemon.fetch(path, { ...init, headers: { "content-type": "application/json" } });
        const b = await r.json();
        assertEquals(r.status, status, `${path} ${init.body} → ${JSON.stringify(b)}`);
        assertMatch(b.error, pattern);
        assert(typeof b.code === "string");
      }

      // A stopped turn leaves the rest queued (it waits), visible and cancellable.
      await post(daemon, `/conversations/${id}/stop`, {});
      await streamed;
      const left =
        await (await daemon.fetch(`/conversations/${id}/queue/${two.queue[1].id}`, { method: "DELETE" }))
          .json();
      assertEquals(left.cancelled, true);
      assertEquals(left.queue, []);
    });

    await t.step(
      "over the socket: chat.queue, and the message-queue surface with its drop action",
      async () => {
        const ws = await WsClient.connect(wsUrl(daemon.url));
        try {
          const surface = await ws.request(
            { type: "subscribe", surfaceId: "message-queue", conversationId: id },
            (f) => f.type === "surface",
          );
          assertEquals(surface.spec.fields[0].rendererId, "message-queue");
          assertEquals(surface.spec.fields[0].payload.messages, []);

          fake.script([text("busy"), stall()]);
          const n = fake.chatRequests.length;
          const res = await chat(daemon, { conversationId: id, message: "be busy" });
          const streamed = readNdjson(res);
          await requested(fake, n);
          const queued = await ws.request(
            { type: "chat.queue", conversationId: id, text: "from the socket", requestId: "q1" },
            (f) => f.type === "chat.queued",
          );
          assertEquals(queued.requestId, "q1");
          assertEquals(queued.startedTurn, false);
          const shown = await ws.waitFor((f) =>
            f.type === "update" && f.update.spec.fields[0].payload.messages.length === 1
          );
          const message = shown.update.spec.fields[0].payload.messages[0];
          assertEquals(message.text, "from the socket");
          assertEquals(shown.update.conversationId, id);

          const result = await ws.request(
            {
              type: "invoke",
              surfaceId: "message-queue",
              actionId: "message-queue/cancel",
              payload: { messageId: message.id },
              conversationId: id,
            },
            (f) => f.type === "invoke.result",
          );
          assertEquals(result.result.cancelled, true);
          await ws.waitFor((f) =>
            f.type === "update" && f.update.spec.fields[0].payload.messages.length === 0
          );
          const cancel = await ws.request(
            { type: "chat.queue.cancel", conversationId: id, messageId: message.id },
            (f) => f.type === "chat.queue.cancelled",
          );
          assertEquals(cancel.cancelled, false);
          const unknown = await ws.request(
            { type: "chat.queue", conversationId: "nobody-here", text: "x" },
            (f) => f.type === "chat.error",
          );
          assertEquals(unknown.code, "unknown_conversation");
          await post(daemon, `/conversations/${id}/stop`, {});
          await streamed;
        } finally {
          await ws.close();
        }
      },
    );

    await t.step("queued messages survive a restart, wait, and go out with the next turn", async () => {
      fake.script([text("long job"), stall()]);
      const n = fake.chatRequests.length;
      const res = await chat(daemon, { conversationId: id, message: "long job" });
      const reader = res.body!.getReader();
      await requested(fake, n);
      const queued = await (await queue(daemon, id, { message: "survivor" })).json();
      assertEquals(queued.startedTurn, false);
      await daemon.kill();
      await reader.cancel().catch(() => {});

      const requestsBefore = fake.chatRequests.length;
      daemon = await startDaemon({ env, dataDir: daemon.dataDir });
      const ws = await WsClient.connect(wsUrl(daemon.url));
      try {
        const surface = await ws.request(
          { type: "subscribe", surfaceId: "message-queue", conversationId: id },
          (f) => f.type === "surface",
        );
        assertEquals(surface.spec.fields[0].payload.messages.map((m: Frame) => m.text), ["survivor"]);
      } finally {
        await ws.close();
      }
      // It waits: the queue decided at activation (before the daemon listened) not to start a turn at boot.
      assertMatch(daemon.logs(), /queued messages from the previous run wait/);
      assertEquals(fake.chatRequests.length, requestsBefore);

      fake.script([text("both seen")]);
      const next = await (await queue(daemon, id, { message: "and this" })).json();
      assertEquals(next.startedTurn, true);
      const last = await (await daemon.fetch(`/conversations/${id}/last`)).json();
      assertEquals(last.content, "both seen");
      const sent = userTexts(fake.chatRequests.at(-1)!.body.messages);
      assertEquals(sent.slice(-2), ["survivor", "and this"]);
    });
  } finally {
    await daemon.stop();
    await fake.close();
  }
});
