// Cache warming end to end: POST /chat/warm and the timer send the exact prefix the next turn sends (the fake
// provider's cache simulation shows the hit), with one output token, and never touch the conversation's history.
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { type RecordedRequest, stall, text } from "./fake_provider.ts";
import { type Daemon, readNdjson, startDaemonWithFake } from "./daemon.ts";
import { type Frame, WsClient, wsUrl } from "./ws_client.ts";

const KEY = "sk-test-key-123456";
const TTL_MS = 400; // the timer warms at 90%: 360 ms after the last request

const post = (d: Daemon, path: string, body: unknown) =>
  d.fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const isWarm = (r: RecordedRequest) => (r.body.max_tokens ?? r.body.max_completion_tokens) === 1;

Deno.test("cache warming", async (t) => {
  const { fake, daemon } = await startDaemonWithFake(KEY, {
    DISPATCH_WARM_TTL_MS: String(TTL_MS),
    DISPATCH_WARM_MAX_IDLE: "2",
  });
  let id = "";
  try {
    await t.step(
      "POST /chat/warm sends the next turn's prefix, hits the cache, and leaves history alone",
      async () => {
        fake.script([text("Noted: the number is 42. ".repeat(20))]);
        const first = await post(daemon, "/chat", { message: "Remember the number 42. ".repeat(20) });
        id = first.headers.get("x-conversation-id")!;
        await readNdjson(first);
        const historyBefore = await (await daemon.fetch(`/conversations/${id}`)).json();

        const res = await post(daemon, "/chat/warm", { conversationId: id });
        const warm = await res.json();
        assertEquals(res.status, 200, JSON.stringify(warm));
        assertEquals(Object.keys(warm).sort(), [
          "cachePct",
          "cacheReadTokens",
          "cacheWriteTokens",
          "expectedCacheRate",
          "inputTokens",
          "outputTokens",
        ]);
        assert(warm.inputTokens > 0 && warm.cacheReadTokens > 0, JSON.stringify(warm));
        assert(warm.cachePct > 0 && warm.cachePct <= 100, JSON.stringify(warm));
        assertEquals(warm.cacheWriteTokens, 0);
        const warmRequest = fake.chatRequests.at(-1)!;
        assert(isWarm(warmRequest), "one output token");
        assertEquals(warm.cacheReadTokens, warmRequest.cachedTokens);

        const historyAfter = await (await daemon.fetch(`/conversations/${id}`)).json();
        assertEquals(historyAfter, historyBefore);

        fake.script([text("It was 42.")]);
        const second = await readNdjson(
          await post(daemon, "/chat", { conversationId: id, message: "Which number?" }),
        );
        const turnRequest = fake.chatRequests.at(-1)!;
        const prefix = warmRequest.body.messages.slice(0, -1);
        assertEquals(turnRequest.body.messages.slice(0, prefix.length), prefix, "same messages");
        assertEquals(turnRequest.body.messages.length, prefix.length + 1);
        assertEquals(turnRequest.body.tools, warmRequest.body.tools, "same tools");
        assertEquals(turnRequest.body.model, warmRequest.body.model, "same model");
        // The turn reuses everything the warm cached, more than the warm itself could reuse.
        assert(turnRequest.cachedTokens! > warmRequest.cachedTokens!, `${turnRequest.cachedTokens} cached`);
        const usage = second.find((e) => e.type === "usage") as Frame;
        assertEquals(usage.usage.cacheReadTokens, turnRequest.cachedTokens);
      },
    );

    await t.step("the surface's toggle turns the timer on: it warms while idle, then rests", async () => {
      const ws = await WsClient.connect(wsUrl(daemon.url));
      try {
        const surface = await ws.request(
          { type: "subscribe", surfaceId: "cache-warming", conversationId: id },
          (f) => f.type === "surface",
        );
        const kinds = surface.spec.fields.map((f: Frame) => f.kind);
        assertEquals(kinds, ["toggle", "number", "stat", "stat", "button", "custom"]);
        assertEquals(surface.spec.fields[0].value, false);
        assertEquals(surface.spec.fields[1].value, Math.round((TTL_MS * 0.9) / 1000));

        const before = fake.chatRequests.length;
        const started = Date.now();
        await ws.request(
          {
            type: "invoke",
            surfaceId: "cache-warming",
            actionId: "cache-warming/toggle",
            payload: true,
            conversationId: id,
          },
          (f) => f.type === "invoke.result",
        );
        const armed = await ws.waitFor((f) =>
          f.type === "update" && f.update.spec.fields[5].payload.nextWarmAt !== null
        );
        assertEquals(armed.update.spec.fields[3].value, "waiting");
        const lastWarmAt = surface.spec.fields[5].payload.lastWarmAt; // the manual warm of the step before
        const warmed = await ws.waitFor(
          (f) => f.type === "update" && f.update.spec.fields[5].payload.lastWarmAt > lastWarmAt,
          { timeoutMs: 3000 },
        );
        assert(Date.now() - started >= TTL_MS * 0.9 - 50, "not before the interval");
        assertMatch(warmed.update.spec.fields[2].value, /^\d+%$/);
        assert(parseInt(warmed.update.spec.fields[2].value) > 0, "a cache hit");

        // Two automatic warms without a turn, then it rests.
        await ws.waitFor(
          (f) => f.type === "update" && /stopped after 2 warms/.test(f.update.spec.fields[3].value),
          {
            timeoutMs: 4000,
          },
        );
        await new Promise((r) => setTimeout(r, TTL_MS));
        const warms = fake.chatRequests.slice(before);
        assertEquals(warms.length, 2);
        assert(warms.every(isWarm));
        const history = await (await daemon.fetch(`/conversations/${id}`)).json();
        assertEquals(history.chunks.length, 4, "warming wrote nothing");

        // The button warms now and answers with the numbers.
        const now = await ws.request(
          {
            type: "invoke",
            surfaceId: "cache-warming",
            actionId: "cache-warming/warm-now",
            conversationId: id,
          },
          (f) => f.type === "invoke.result",
        );
        assert(now.result.cachePct > 0, JSON.stringify(now.result));
        // Closed: no warming, even switched on; opened again: it resumes.
        const toggle = (payload: boolean) =>
          ws.request(
            {
              type: "invoke",
              surfaceId: "cache-warming",
              actionId: "cache-warming/toggle",
              payload,
              conversationId: id,
            },
            (f) => f.type === "invoke.result",
          );
        await toggle(false);
        await toggle(true);
        await post(daemon, `/conversations/${id}/close`, {});
        await ws.waitFor((f) => f.type === "update" && f.update.spec.fields[3].value === "closed");
        const whileClosed = fake.chatRequests.length;
        await new Promise((r) => setTimeout(r, TTL_MS * 1.2));
        assertEquals(fake.chatRequests.length, whileClosed, "no warm while closed");
        const opened = Date.now();
        await post(daemon, `/conversations/${id}/open`, {});
        await ws.waitFor((f) => f.type === "update" && f.update.spec.fields[5].payload.lastWarmAt >= opened, {
          timeoutMs: 3000,
        });
        assert(fake.chatRequests.length > whileClosed, "warming resumed once open");

        // Off again: no timer.
        await ws.request(
          {
            type: "invoke",
            surfaceId: "cache-warming",
            actionId: "cache-warming/toggle",
            payload: false,
            conversationId: id,
          },
          (f) => f.type === "invoke.result",
        );
        const count = fake.chatRequests.length;
        await new Promise((r) => setTimeout(r, TTL_MS * 1.2));
        assertEquals(fake.chatRequests.length, count);
      } finally {
        await ws.close();
      }
    });

    await t.step("warming answers clearly when it cannot run", async () => {
      const cases: [unknown, number, string][] = [
        [{}, 400, "invalid_body"],
        [{ conversationId: "../x" }, 400, "invalid_body"],
        [{ conversationId: "nobody-here" }, 404, "unknown_conversation"],
        [{ conversationId: id, model: "nobody/x" }, 400, "unknown_model"],
        [{ conversationId: id, cwd: "/definitely/not/here" }, 400, "bad_cwd"],
      ];
      for (const [body, status, code] of cases) {
        const res = await post(daemon, "/chat/warm", body);
        const b = await res.json();
        assertEquals([res.status, b.code], [status, code], JSON.stringify(b));
        assert(typeof b.error === "string");
      }
      fake.script([text("busy"), stall()]);
      const res = await post(daemon, "/chat", { conversationId: id, message: "be busy" });
      const streamed = readNdjson(res);
      const busy = await post(daemon, "/chat/warm", { conversationId: id });
      assertEquals(busy.status, 409);
      assertEquals((await busy.json()).code, "turn_running");
      await post(daemon, `/conversations/${id}/stop`, {});
      await streamed;
    });
  } finally {
    await daemon.stop();
    await fake.close();
  }
});
