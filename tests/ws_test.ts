// The surface/chat WebSocket end to end: the daemon as a subprocess, the fake provider, real WebSocket clients
// (and a raw TCP one that never reads). One daemon per test; scenarios are steps sharing it.
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { reasoning, text, toolCall } from "./fake_provider.ts";
import { startDaemonWithFake } from "./daemon.ts";
import { LEGACY_EVENT_TYPES } from "../src/contract/ui.ts";
import { encodeTextFrame, type Frame, rawUpgrade, surfacePortUrl, WsClient, wsUrl } from "./ws_client.ts";

const KEY = "sk-test-key-123456";

function setup(env: Record<string, string> = {}) {
  return startDaemonWithFake(KEY, {
    SURFACE_WS_PORT: "0",
    DISPATCH_WS_HEARTBEAT_MS: "150",
    DISPATCH_WS_MAX_BUFFER_BYTES: String(256 * 1024),
    DISPATCH_WS_SLOW_CLIENT_MS: "1000",
    ...env,
  });
}

const sealed = (cid: string) => (f: Frame) =>
  f.type === "chat.delta" && f.event.type === "turn-sealed" && f.event.conversationId === cid;

/** Waits until the daemon's log (read as it comes) matches. */
async function waitForLog(daemon: { logs(): string }, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(daemon.logs())) {
    if (Date.now() > deadline) {
      throw new Error(`the log never matched ${pattern}:\n${daemon.logs().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function withClients<T>(clients: WsClient[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

Deno.test("surfaces and chat over the WebSocket", async (t) => {
  const { fake, daemon } = await setup();
  const url = wsUrl(daemon.url);
  try {
    await t.step("catalog on connect, the loaded-extensions surface, heartbeats", async () => {
      const ws = await WsClient.connect(url);
      await withClients([ws], async () => {
        const catalog = ws.frames[0].catalog as Frame[];
        const byId = Object.fromEntries(catalog.map((e) => [e.id, e.scope]));
        assertEquals(byId["loaded-extensions"], "global");
        assertEquals(byId["todo"], "conversation");
        assertEquals(byId["message-queue"], "conversation");
        assertEquals(byId["cache-warming"], "conversation");

        const surface = await ws.request(
          { type: "subscribe", surfaceId: "loaded-extensions" },
          (f) => f.type === "surface",
        );
        const stats = Object.fromEntries(
          (surface.spec.fields as Frame[]).filter((f) => f.kind === "stat").map((f) => [f.label, f.value]),
        );
        assertMatch(stats["transport-ws"], /^active · core/);
        assertMatch(stats["todo"], /^active · .*permissions: none/);
        assertMatch(stats["todo"], /sandboxed/);
        assert(
          stats["cache-warming"] && stats["message-queue"] && stats["surface-registry"],
          JSON.stringify(stats),
        );
        await ws.waitFor((f) => f.type === "heartbeat", { timeoutMs: 2000 });
      });
    });

    await t.step("bad frames get error frames and the socket keeps serving", async () => {
      const ws = await WsClient.connect(url);
      await withClients([ws], async () => {
        const cases: [Frame | string | Uint8Array, string, string][] = [
          ["nonsense", "error", "bad_json"],
          ["[1,2]", "error", "bad_frame"],
          [{ no: "type" }, "error", "bad_frame"],
          [{ type: "launch-missiles" }, "error", "unknown_type"],
          [{ type: "subscribe" }, "error", "invalid_message"],
          [{ type: "subscribe", surfaceId: "Not A Surface!" }, "error", "invalid_message"],
          [{ type: "subscribe", surfaceId: "nope" }, "error", "unknown_surface"],
          [{ type: "invoke", surfaceId: "loaded-extensions", actionId: "x" }, "error", "no_actions"],
          [
            { type: "invoke", surfaceId: "cache-warming", actionId: "cache-warming/toggle" },
            "error",
            "conversation_required",
          ],
          [{ type: "chat.send" }, "chat.error", "invalid_message"],
          [{ type: "chat.send", message: "x", reasoningEffort: "extreme" }, "chat.error", "invalid_message"],
          [{ type: "chat.queue", conversationId: "c", text: "   " }, "chat.error", "invalid_message"],
          [{ type: "chat.subscribe", conversationId: "../etc" }, "chat.error", "invalid_message"],
          [{ type: "chat.send", message: "x", model: "nobody/x" }, "chat.error", "unknown_model"],
          [new Uint8Array([1, 2, 3]), "error", "bad_frame"],
        ];
        for (const [frame, type, code] of cases) {
          const from = ws.frames.length;
          if (frame instanceof Uint8Array) ws.socket.send(frame);
          else ws.send(frame as Frame);
          const reply = await ws.waitFor((f) => f.type === type, { from });
          assertEquals(reply.code, code, `${JSON.stringify(frame)} → ${JSON.stringify(reply)}`);
          assert(typeof reply.message === "string" && reply.message.length > 0);
        }
        const unknown = ws.frames.find((f) => f.code === "unknown_surface")!;
        assertEquals(unknown.surfaceId, "nope");
        const still = await ws.request(
          { type: "subscribe", surfaceId: "loaded-extensions" },
          (f) => f.type === "surface",
        );
        assertEquals(still.spec.id, "loaded-extensions");
        assert(!ws.closed);
      });
    });

    await t.step(
      "the model's todo_write updates the todo surface live; a second client follows the turn",
      async () => {
        const cid = "ws-todo-1";
        const a = await WsClient.connect(url);
        const b = await WsClient.connect(url);
        await withClients([a, b], async () => {
          const initial = await a.request(
            { type: "subscribe", surfaceId: "todo", conversationId: cid },
            (f) => f.type === "surface",
          );
          assertEquals(initial.conversationId, cid);
          assertEquals(initial.spec.fields[0].payload, { todos: [] });
          const subscribed = await b.request(
            { type: "chat.subscribe", conversationId: cid, allEvents: true },
            (f) => f.type === "chat.subscribed",
          );
          assertEquals(subscribed.latestEventSeq, 0);

          const todos = [
            { content: "Write the tests", status: "in_progress" },
            { content: "Ship it", status: "pending" },
          ];
          fake.script([text("Planning. "), toolCall("todo_write", { todos })], [text("All planned.")]);
          a.send({ type: "chat.send", conversationId: cid, message: "plan it" });

          const update = await a.waitFor((f) => f.type === "update" && f.update.surfaceId === "todo");
          assertEquals(update.update.conversationId, cid);
          assertEquals(update.update.spec.fields[0], {
            kind: "custom",
            rendererId: "todo",
            payload: { todos },
          });
          await a.waitFor(sealed(cid));
          await b.waitFor(sealed(cid));

          // The sender, a reference-style client, never sees the newer event types; the follower asked for them.
          const aTypes = a.deltas(cid).map((f) => f.event.type);
          const bTypes = b.deltas(cid).map((f) => f.event.type);
          assert(aTypes.every((type) => LEGACY_EVENT_TYPES.has(type)), aTypes.join(","));
          assertEquals(bTypes[0], "user-message");
          assert(bTypes.includes("step-complete"), bTypes.join(","));
          // Every frame has its seq: the follower's are 1..N without a gap, the sender's a subset in order.
          const bSeqs = b.deltas(cid).map((f) => f.eventSeq);
          assertEquals(bSeqs, bSeqs.map((_, i) => i + 1));
          const aSeqs = a.deltas(cid).map((f) => f.eventSeq);
          assert(aSeqs.every((s, i) => i === 0 || s > aSeqs[i - 1]) && aSeqs.every((s) => bSeqs.includes(s)));
          const said = b.deltas(cid).filter((f) => f.event.type === "text-delta").map((f) => f.event.delta)
            .join("");
          assertEquals(said, "Planning. All planned.");
          // Status changes reach every client.
          await b.waitFor((f) =>
            f.type === "conversation.statusChanged" && f.conversationId === cid && f.status === "idle"
          );
          // POST .../open asks every frontend to show the conversation.
          assertEquals((await daemon.fetch(`/conversations/${cid}/open`, { method: "POST" })).status, 200);
          for (const ws of [a, b]) {
            const open = await ws.waitFor((f) => f.type === "conversation.open");
            assertEquals(open, { type: "conversation.open", conversationId: cid, workspaceId: "default" });
          }
          // turn-sealed means the history route has it all.
          const history = await (await daemon.fetch(`/conversations/${cid}`)).json();
          assert(
            history.chunks.some((c: Frame) =>
              c.chunk.type === "tool-call" && c.chunk.toolName === "todo_write"
            ),
          );

          // A fresh subscriber gets the stored list.
          const c = await WsClient.connect(url);
          await withClients([c], async () => {
            const again = await c.request(
              { type: "subscribe", surfaceId: "todo", conversationId: cid },
              (f) => f.type === "surface",
            );
            assertEquals(again.spec.fields[0].payload, { todos });
          });
        });
      },
    );

    await t.step("invoking an action answers with its result and updates every subscriber", async () => {
      const cid = "ws-todo-1";
      const a = await WsClient.connect(url);
      const b = await WsClient.connect(url);
      await withClients([a, b], async () => {
        for (const ws of [a, b]) {
          const s = await ws.request(
            { type: "subscribe", surfaceId: "cache-warming", conversationId: cid },
            (f) => f.type === "surface",
          );
          assertEquals(s.spec.fields.find((f: Frame) => f.kind === "toggle").value, false);
        }
        const result = await a.request(
          {
            type: "invoke",
            surfaceId: "cache-warming",
            actionId: "cache-warming/toggle",
            payload: true,
            conversationId: cid,
            requestId: "r1",
          },
          (f) => f.type === "invoke.result",
        );
        assertEquals(result.requestId, "r1");
        assertEquals(result.result.enabled, true);
        const update = await b.waitFor((f) =>
          f.type === "update" && f.update.surfaceId === "cache-warming" &&
          f.update.spec.fields.find((x: Frame) => x.kind === "toggle").value === true
        );
        assertEquals(update.update.conversationId, cid);
        const bad = await a.request(
          {
            type: "invoke",
            surfaceId: "cache-warming",
            actionId: "cache-warming/toggle",
            payload: "yes",
            conversationId: cid,
          },
          (f) => f.type === "error",
        );
        assertEquals(bad.code, "invalid_payload");
        await a.request(
          {
            type: "invoke",
            surfaceId: "cache-warming",
            actionId: "cache-warming/toggle",
            payload: false,
            conversationId: cid,
          },
          (f) => f.type === "invoke.result",
        );
        // Unsubscribed clients hear no more.
        b.send({ type: "unsubscribe", surfaceId: "cache-warming", conversationId: cid });
        const mark = b.frames.length;
        await a.request(
          {
            type: "invoke",
            surfaceId: "cache-warming",
            actionId: "cache-warming/set-interval",
            payload: 60,
            conversationId: cid,
          },
          (f) => f.type === "update",
        );
        await b.request({ type: "subscribe", surfaceId: "loaded-extensions" }, (f) => f.type === "surface");
        assert(
          !b.frames.slice(mark).some((f) => f.type === "update" && f.update.surfaceId === "cache-warming"),
        );
      });
    });

    await t.step(
      "focus: subscribe and invoke without a conversationId (as the reference frontend sends them) address the conversation the socket last sent to or subscribed to",
      async () => {
        const ws = await WsClient.connect(url);
        await withClients([ws], async () => {
          // Before any focus: invoke names no conversation, so it cannot know which one.
          const refused = await ws.request(
            { type: "invoke", surfaceId: "cache-warming", actionId: "cache-warming/toggle", payload: true },
            (f) => f.type === "error",
          );
          assertEquals(refused.code, "conversation_required");
          for (const surfaceId of ["message-queue", "cache-warming", "todo"]) {
            await ws.request(
              { type: "subscribe", surfaceId },
              (f) => f.type === "surface" && f.spec.id === surfaceId,
            );
          }
          // chat.send focuses the socket on its conversation: the surfaces held by focus show it.
          fake.script([text("focused")]);
          const mark = ws.frames.length;
          ws.send({ type: "chat.send", message: "focus here" });
          const first = await ws.waitFor((f) => f.type === "chat.delta", { from: mark });
          const cid = first.event.conversationId as string;
          await ws.waitFor(sealed(cid), { from: mark });
          for (const surfaceId of ["message-queue", "cache-warming", "todo"]) {
            await ws.waitFor(
              (f) => f.type === "surface" && f.spec.id === surfaceId && f.conversationId === cid,
              {
                from: mark,
              },
            );
          }
          const toggled = await ws.request(
            { type: "invoke", surfaceId: "cache-warming", actionId: "cache-warming/toggle", payload: true },
            (f) => f.type === "invoke.result",
          );
          assertEquals([toggled.conversationId, toggled.result.enabled], [cid, true]);
          await ws.waitFor((f) =>
            f.type === "update" && f.update.surfaceId === "cache-warming" &&
            f.update.conversationId === cid &&
            f.update.spec.fields.find((x: Frame) => x.kind === "toggle").value === true
          );
          await ws.request(
            { type: "invoke", surfaceId: "cache-warming", actionId: "cache-warming/toggle", payload: false },
            (f) => f.type === "invoke.result",
          );

          // chat.subscribe moves the focus: another conversation's queue shows, and invoke acts on it.
          fake.script([text("other")]);
          const other = await ws.request(
            { type: "chat.send", message: "another one" },
            (f) => f.type === "chat.delta",
          );
          const cid2 = other.event.conversationId as string;
          await ws.waitFor(sealed(cid2));
          const back = ws.frames.length;
          ws.send({ type: "chat.subscribe", conversationId: cid });
          await ws.waitFor(
            (f) => f.type === "surface" && f.spec.id === "message-queue" && f.conversationId === cid,
            {
              from: back,
            },
          );
          const warmed = await ws.request(
            {
              type: "invoke",
              surfaceId: "cache-warming",
              actionId: "cache-warming/set-interval",
              payload: 120,
            },
            (f) => f.type === "invoke.result",
          );
          assertEquals(warmed.conversationId, cid);
          // unsubscribe without an id drops the focused subscription: no more updates for it.
          ws.send({ type: "unsubscribe", surfaceId: "cache-warming" });
          const quiet = ws.frames.length;
          await ws.request(
            {
              type: "invoke",
              surfaceId: "cache-warming",
              actionId: "cache-warming/set-interval",
              payload: 90,
            },
            (f) => f.type === "invoke.result",
          );
          await ws.request(
            { type: "subscribe", surfaceId: "loaded-extensions" },
            (f) => f.type === "surface",
          );
          assert(
            !ws.frames.slice(quiet).some((f) =>
              f.type === "update" && f.update.surfaceId === "cache-warming"
            ),
          );
        });
      },
    );

    await t.step(
      "reconnecting with the last seq replays exactly the missed events, then continues live",
      async () => {
        const cid = "ws-replay-1";
        const watcher = await WsClient.connect(url);
        const first = await WsClient.connect(url);
        let second: WsClient | undefined;
        await withClients([watcher, first], async () => {
          await watcher.request(
            { type: "chat.subscribe", conversationId: cid, allEvents: true },
            (f) => f.type === "chat.subscribed",
          );
          fake.script({
            steps: Array.from({ length: 40 }, (_, i) => text(`w${i} `)),
            chunkDelayMs: 25,
          });
          first.send({ type: "chat.send", conversationId: cid, message: "count", allEvents: true });
          await first.waitFor(() => first.deltas(cid).length >= 8);
          await first.close();
          const lastSeq = first.deltas(cid).at(-1)!.eventSeq as number;
          // Let the turn move on while nobody is connected.
          await watcher.waitFor((f) => f.type === "chat.delta" && f.eventSeq >= lastSeq + 4);

          second = await WsClient.connect(url);
          const subscribed = await second.request(
            { type: "chat.subscribe", conversationId: cid, sinceEventSeq: lastSeq, allEvents: true },
            (f) => f.type === "chat.subscribed",
          );
          await second.waitFor(sealed(cid));
          await watcher.waitFor(sealed(cid));

          const all = watcher.deltas(cid);
          const replayed = second.deltas(cid);
          assertEquals(
            replayed.map((f) => f.eventSeq),
            all.filter((f) => f.eventSeq > lastSeq).map((f) => f.eventSeq),
          );
          assertEquals(
            replayed.map((f) => f.event),
            all.filter((f) => f.eventSeq > lastSeq).map((f) => f.event),
          );
          assert(subscribed.latestEventSeq > lastSeq, "some events were missed and replayed from the store");
          assert(subscribed.latestEventSeq < all.at(-1)!.eventSeq, "and some arrived live after the replay");
          // Before + after the gap = everything, once.
          assertEquals(
            [...first.deltas(cid), ...replayed].map((f) => f.eventSeq),
            all.map((f) => f.eventSeq),
          );
        }).finally(() => second?.close());
      },
    );

    await t.step("a client that stops reading does not hold back other clients or the turn", async () => {
      const cid = "ws-slow-1";
      const good = await WsClient.connect(url);
      const raw = await rawUpgrade(url);
      assertEquals(raw.status, 101);
      await withClients([good], async () => {
        // The raw client follows the conversation, then never reads another byte.
        await raw.conn.write(
          encodeTextFrame(JSON.stringify({ type: "chat.subscribe", conversationId: cid })),
        );
        await good.request(
          { type: "chat.subscribe", conversationId: cid },
          (f) => f.type === "chat.subscribed",
        );
        const chunk = "x".repeat(8 * 1024);
        const steps = Array.from({ length: 1000 }, (_, i) => (i % 2 ? reasoning(chunk) : text(chunk)));
        fake.script(steps);
        const started = performance.now();
        const sender = await WsClient.connect(url);
        await withClients([sender], async () => {
          sender.send({ type: "chat.send", conversationId: cid, message: "flood" });
          await good.waitFor(sealed(cid), { timeoutMs: 60_000 });
          await sender.waitFor(sealed(cid), { timeoutMs: 60_000 });
        });
        const elapsed = performance.now() - started;
        const deltas = good.deltas(cid).filter((f) =>
          f.event.type === "text-delta" || f.event.type === "reasoning-delta"
        );
        assertEquals(deltas.length, 1000);
        assert(elapsed < 30_000, `turn took ${elapsed} ms`);
        // The reader that never reads is cut off once its buffer stayed full for DISPATCH_WS_SLOW_CLIENT_MS.
        await waitForLog(daemon, /socket client too slow; disconnected/);
      }).finally(() => {
        try {
          raw.conn.close();
        } catch { /* closed by the server */ }
      });
    });

    await t.step(
      "frame size: a frame announcing more than Deno's fixed 64 MiB is refused from its header (never buffered); an oversized one below that gets frame_too_large",
      async () => {
        const raw = await rawUpgrade(url);
        assertEquals(raw.status, 101);
        // Header of a 65 MiB unmasked text frame, then 1 MiB of it: Deno drops the connection on the header.
        const head = new Uint8Array(14);
        head[0] = 0x81;
        head[1] = 0x80 | 127;
        new DataView(head.buffer).setBigUint64(2, BigInt(65 << 20));
        let refused = false;
        try {
          await raw.conn.write(head);
          const filler = new Uint8Array(1 << 20);
          for (let i = 0; i < 65; i++) await raw.conn.write(filler);
        } catch {
          refused = true; // reset by the daemon long before 65 MiB were sent
        }
        if (!refused) {
          // The reset may come as the end of the stream instead of a failed write.
          const n = await raw.conn.read(new Uint8Array(1024)).catch(() => null);
          refused = n === null || n < 1024;
        }
        assert(refused, "the daemon took a 65 MiB frame");
        try {
          raw.conn.close();
        } catch { /* closed by the daemon */ }

        // Below Deno's limit, the hub's own limit (maxFrameChars, 2 Mi characters) answers in words.
        const ws = await WsClient.connect(url);
        await withClients([ws], async () => {
          const big = await ws.request(
            JSON.stringify({ type: "subscribe", surfaceId: "x".repeat(3 * 1024 * 1024) }),
            (f) => f.type === "error",
          );
          assertEquals(big.code, "frame_too_large");
          await ws.request(
            { type: "subscribe", surfaceId: "loaded-extensions" },
            (f) => f.type === "surface",
          );
        });
      },
    );

    await t.step("SURFACE_WS_PORT serves the same socket at any path; plain requests get 426", async () => {
      const portUrl = surfacePortUrl(daemon.logs());
      assert(portUrl, "the daemon logs the socket port");
      const ws = await WsClient.connect(`${portUrl}some/deep/path?x=1`);
      await withClients([ws], async () => {
        const s = await ws.request(
          { type: "subscribe", surfaceId: "loaded-extensions" },
          (f) => f.type === "surface",
        );
        assertEquals(s.spec.id, "loaded-extensions");
      });
      for (const plain of [portUrl.replace(/^ws/, "http"), `${daemon.url}/surface`]) {
        const res = await fetch(plain);
        assertEquals(res.status, 426, plain);
        assertEquals((await res.json()).code, "upgrade_required");
      }
    });

    await t.step("the Origin allow-list guards both ports; clients without Origin are let in", async () => {
      const portUrl = surfacePortUrl(daemon.logs())!;
      for (const base of [url, portUrl]) {
        const evil = await rawUpgrade(base, { Origin: "https://evil.example" });
        evil.conn.close();
        assertEquals(evil.status, 403, base);
        assertMatch(evil.head, /origin_not_allowed/);
        const nullOrigin = await rawUpgrade(base, { Origin: "null" });
        nullOrigin.conn.close();
        assertEquals(nullOrigin.status, 403);
        const local = await rawUpgrade(base, { Origin: "http://localhost:24204" });
        local.conn.close();
        assertEquals(local.status, 101);
      }
      const browser = await WsClient.connect(url, { headers: { origin: "http://127.0.0.1:24204" } });
      await browser.close();
      const otherPort = await rawUpgrade(url, { Origin: "http://127.0.0.1:5173" });
      otherPort.conn.close();
      assertEquals(otherPort.status, 403, "another loopback port is not a default origin");
    });
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("with DISPATCH_TOKEN the socket wants the token: ?token= or a bearer.<token> protocol", async () => {
  const token = "tok-0123456789abcdef";
  const { fake, daemon } = await setup({ DISPATCH_TOKEN: token });
  try {
    const url = wsUrl(daemon.url);
    const portUrl = surfacePortUrl(daemon.logs())!;
    for (const base of [url, portUrl]) {
      for (const attempt of [base, `${base}?token=wrong-token-0000000`]) {
        const res = await rawUpgrade(attempt);
        res.conn.close();
        assertEquals(res.status, 401, attempt);
        assertMatch(res.head, /unauthorized/);
      }
      const byQuery = await WsClient.connect(`${base}?token=${token}`);
      await byQuery.close();
      const byProtocol = await WsClient.connect(base, { protocols: [`bearer.${token}`] });
      assertEquals(byProtocol.socket.protocol, `bearer.${token}`);
      await byProtocol.close();
      const withOwn = await WsClient.connect(base, { protocols: ["dispatch.v1", `bearer.${token}`] });
      assertEquals(withOwn.socket.protocol, "dispatch.v1");
      await withOwn.close();
      const byHeader = await rawUpgrade(base, { Authorization: `Bearer ${token}` });
      byHeader.conn.close();
      assertEquals(byHeader.status, 101);
    }
    // The rest of the HTTP API still wants the header.
    assertEquals((await daemon.fetch("/models")).status, 401);
  } finally {
    await daemon.stop();
    await fake.close();
  }
});
