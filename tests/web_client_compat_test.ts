// The reference's web frontend (realtradam/dispatch-web) against the daemon, unchanged: the same cross-origin
// requests (Origin http://localhost:24204, its request bodies), the same socket on the dedicated port at the root
// path, the same message sequence, and the fields it reads from each answer.
import { assert, assertEquals } from "./assert.ts";
import { type Daemon, startDaemonWithFake } from "./daemon.ts";
import { type Frame, surfacePortUrl, WsClient } from "./ws_client.ts";

const KEY = "sk-web-client-compat-1234";
const ORIGIN = "http://localhost:24204";
/**
 * What the frontend handles inside `chat.delta` (anything else breaks its page). Written out, not imported from
 * src/contract/ui.ts: this is the client's list, and the server's must not drift from it.
 */
const LEGACY = "turn-start text-delta reasoning-delta tool-call tool-result error usage done turn-sealed"
  .split(" ");

/** A browser `fetch` from the frontend's origin; JSON bodies carry the content type as the frontend sets it. */
function web(d: Daemon, path: string, method = "GET", body?: unknown): Promise<Response> {
  return d.fetch(path, {
    method,
    headers: { origin: ORIGIN, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** The frontend reads a body only when CORS lets it: every answer, errors included, must allow its origin. */
async function readable(res: Response): Promise<Frame> {
  assertEquals(res.headers.get("access-control-allow-origin"), ORIGIN, `${res.url} ${res.status}`);
  return await res.json();
}

Deno.test("the reference web frontend works against the daemon unchanged", async (t) => {
  const { fake, daemon } = await startDaemonWithFake(KEY, { SURFACE_WS_PORT: "0" });
  const draft = `draft-${crypto.randomUUID()}`;
  let ws: WsClient | undefined;
  try {
    await t.step("CORS preflights for its PUT/POST with a JSON body are answered", async () => {
      for (const [path, method] of [[`/conversations/${draft}/model`, "PUT"], ["/chat/warm", "POST"]]) {
        const res = await daemon.fetch(path, {
          method: "OPTIONS",
          headers: {
            origin: ORIGIN,
            "access-control-request-method": method,
            "access-control-request-headers": "content-type",
          },
        });
        await res.body?.cancel();
        assert(res.status === 204 || res.status === 200, `preflight ${path}: ${res.status}`);
        assertEquals(res.headers.get("access-control-allow-origin"), ORIGIN);
        assert(res.headers.get("access-control-allow-methods")?.includes(method));
        assert(res.headers.get("access-control-allow-headers")?.toLowerCase().includes("content-type"));
      }
    });

    let model = "";
    await t.step("boot: models, open conversations, computers", async () => {
      const models = await readable(await web(daemon, "/models"));
      assert(Array.isArray(models.models) && models.models.length > 0);
      assert(models.models.every((m: unknown) => typeof m === "string"));
      model = models.models[0];
      if (models.modelInfo !== undefined) assertEquals(typeof models.modelInfo, "object");

      const open = await readable(await web(daemon, "/conversations?status=active,idle"));
      assert(Array.isArray(open.conversations));
      const computers = await readable(await web(daemon, "/computers"));
      assertEquals(computers.computers, []);
    });

    await t.step(
      "a draft's reads: history is empty, the settings are unset or not found (res.ok false)",
      async () => {
        const history = await readable(await web(daemon, `/conversations/${draft}?sinceSeq=0&limit=75`));
        assertEquals(history, { chunks: [], latestSeq: 0 });
        for (const part of ["cwd", "computer", "model", "reasoning-effort", "compact-percent", "metrics"]) {
          const res = await web(daemon, `/conversations/${draft}/${part}`);
          const body = await readable(res);
          assertEquals(res.status, 404, part);
          assertEquals(typeof body.error, "string");
        }
      },
    );

    await t.step("a draft's settings are PUT with the frontend's bodies", async () => {
      const effort = await readable(
        await web(daemon, `/conversations/${draft}/reasoning-effort`, "PUT", { reasoningEffort: "low" }),
      );
      assertEquals(effort.reasoningEffort, "low");
      const percent = await readable(
        await web(daemon, `/conversations/${draft}/compact-percent`, "PUT", { threshold: 70 }),
      );
      assertEquals(percent, { conversationId: draft, threshold: 70 });
      assertEquals(
        (await readable(await web(daemon, `/conversations/${draft}/compact-percent`))).threshold,
        70,
      );
      const cwd = await Deno.makeTempDir({ prefix: "dispatch-web-cwd-" });
      const setCwd = await readable(
        await web(daemon, `/conversations/${draft}/cwd`, "PUT", { cwd, workspaceId: "default" }),
      );
      assertEquals(typeof setCwd.cwd, "string");
      const computer = await readable(
        await web(daemon, `/conversations/${draft}/computer`, "PUT", { computerId: null }),
      );
      assertEquals(computer.computerId, null);
      for (const part of ["lsp", "mcp"]) {
        const status = await readable(await web(daemon, `/conversations/${draft}/${part}`));
        assertEquals(status.conversationId, draft);
        // No MCP server is configured; the cwd's language servers are listed with a state the frontend knows.
        if (part === "mcp") assertEquals(status.servers, []);
        for (const server of status.servers) {
          assert(["connected", "starting", "error", "not-started"].includes(server.state), server.state);
        }
      }
    });

    await t.step("the socket on SURFACE_WS_PORT at the root path, from the frontend's origin", async () => {
      const url = surfacePortUrl(daemon.logs());
      assert(url, "the dedicated socket port is logged");
      ws = await WsClient.connect(url, { headers: { origin: ORIGIN } });
      const catalog = ws.frames.find((f) => f.type === "catalog")!;
      assert(Array.isArray(catalog.catalog) && catalog.catalog.length > 0, "the catalog lists surfaces");
      for (const entry of catalog.catalog) {
        assertEquals(typeof entry.id, "string");
        assertEquals(typeof entry.region, "string");
        assertEquals(typeof entry.title, "string");
        // The frontend subscribes global surfaces without an id, the others with the focused conversation's.
        ws.send(
          entry.scope === "global"
            ? { type: "subscribe", surfaceId: entry.id }
            : { type: "subscribe", surfaceId: entry.id, conversationId: draft },
        );
      }
      for (const entry of catalog.catalog) {
        const reply = await ws.waitFor((f) => f.type === "surface" && f.spec.id === entry.id);
        assert(Array.isArray(reply.spec.fields));
        // The frontend drops a reply whose echoed conversation is not the one it subscribed with.
        if (entry.scope === "global") assertEquals(reply.conversationId, undefined);
        else assert(reply.conversationId === undefined || reply.conversationId === draft);
      }
    });

    let turnId = "";
    await t.step("chat.send with the frontend's fields streams only the event types it knows", async () => {
      const from = ws!.frames.length;
      ws!.send({
        type: "chat.send",
        conversationId: draft,
        message: "hello there",
        model,
        workspaceId: "default",
      });
      const sealed = await ws!.waitFor((f) => f.type === "chat.delta" && f.event.type === "turn-sealed", {
        from,
        timeoutMs: 15_000,
      });
      const deltas = ws!.frames.slice(from).filter((f) => f.type === "chat.delta");
      const types = deltas.map((f) => f.event.type);
      assert(types.every((type) => LEGACY.includes(type)), `unknown to the frontend: ${types.join(",")}`);
      assertEquals(types[0], "turn-start");
      assertEquals(types.at(-1), "turn-sealed");
      assert(types.includes("text-delta") && types.includes("done"), types.join(","));
      for (const { event } of deltas) {
        assertEquals(event.conversationId, draft);
        assertEquals(typeof event.turnId, "string");
      }
      for (const { event } of deltas.filter((f) => f.event.type === "text-delta")) {
        assertEquals(typeof event.delta, "string");
      }
      const done = deltas.find((f) => f.event.type === "done")!.event;
      assertEquals(typeof done.reason, "string");
      turnId = sealed.event.turnId;

      // conversation.statusChanged carries what the frontend requires (else it drops the frame).
      const changed = ws!.frames.slice(from).filter((f) => f.type === "conversation.statusChanged");
      assert(changed.length > 0);
      for (const f of changed) {
        assertEquals(f.conversationId, draft);
        assert(["active", "idle", "closed"].includes(f.status));
        assertEquals(f.workspaceId, "default");
      }
    });

    await t.step("after turn-sealed the history and metrics have the turn", async () => {
      const history = await readable(await web(daemon, `/conversations/${draft}?sinceSeq=0`));
      assert(history.chunks.length >= 2);
      history.chunks.forEach((c: Frame, i: number) => {
        assertEquals(c.seq, i + 1);
        assert(["system", "user", "assistant", "tool"].includes(c.role));
        assertEquals(typeof c.chunk.type, "string");
      });
      assertEquals(history.latestSeq, history.chunks.at(-1).seq);
      const user = history.chunks.find((c: Frame) => c.role === "user");
      assertEquals(user.chunk, { type: "text", text: "hello there" });
      assert(history.chunks.some((c: Frame) => c.role === "assistant" && c.chunk.type === "text"));
      // A tail sync past the end: nothing new, the cursor stays.
      const tail = await readable(await web(daemon, `/conversations/${draft}?sinceSeq=${history.latestSeq}`));
      assertEquals(tail, { chunks: [], latestSeq: history.latestSeq });

      const metrics = await readable(await web(daemon, `/conversations/${draft}/metrics`));
      assertEquals(metrics.turns.length, 1);
      const turn = metrics.turns[0];
      assertEquals(turn.turnId, turnId);
      assertEquals(typeof turn.usage.inputTokens, "number");
      assertEquals(typeof turn.usage.outputTokens, "number");
      assert(Array.isArray(turn.steps) && turn.steps.length > 0, "the turn has its steps");
      for (const step of turn.steps) assertEquals(typeof step.stepId, "string");
    });

    await t.step("the list, title, model, reasoning effort and cwd as the frontend reads them", async () => {
      const open = await readable(await web(daemon, "/conversations?status=active,idle"));
      const mine = open.conversations.find((c: Frame) => c.id === draft);
      assert(mine, "the conversation is listed as open");
      assertEquals(typeof mine.title, "string");
      assertEquals(mine.workspaceId, "default");
      assert(["active", "idle"].includes(mine.status));
      assertEquals(typeof mine.createdAt, "number");
      assertEquals(typeof mine.lastActivityAt, "number");

      assertEquals(
        (await readable(await web(daemon, `/conversations/${draft}/title`, "PUT", { title: "Renamed" })))
          .title,
        "Renamed",
      );
      assertEquals(
        (await readable(await web(daemon, `/conversations/${draft}/model`, "PUT", { model }))).model,
        model,
      );
      assertEquals((await readable(await web(daemon, `/conversations/${draft}/model`))).model, model);
      assertEquals(
        (await readable(await web(daemon, `/conversations/${draft}/reasoning-effort`))).reasoningEffort,
        "low",
      );
      assertEquals(typeof (await readable(await web(daemon, `/conversations/${draft}/cwd`))).cwd, "string");
    });

    await t.step("warm now, and the cache-warming surface's fields it parses", async () => {
      const warm = await readable(
        await web(daemon, "/chat/warm", "POST", { conversationId: draft, model }),
      );
      for (const key of ["inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens", "cachePct"]) {
        assertEquals(typeof warm[key], "number", key);
      }
      assertEquals(typeof warm.expectedCacheRate, "number");
      const surface = await ws!.request(
        { type: "subscribe", surfaceId: "cache-warming", conversationId: draft },
        (f) =>
          (f.type === "surface" && f.spec.id === "cache-warming") ||
          (f.type === "update" && f.update.surfaceId === "cache-warming"),
      );
      const spec = surface.type === "surface" ? surface.spec : surface.update.spec;
      // The frontend finds the stats by kind and label; the cache % is the one labelled "Last Cache %".
      const pct = spec.fields.find((f: Frame) => f.kind === "stat" && f.label === "Last Cache %");
      assert(pct && typeof pct.value === "string");
      const timer = spec.fields.find((f: Frame) =>
        f.kind === "custom" && f.rendererId === "cache-warming-timer"
      );
      assert(timer && "nextWarmAt" in timer.payload && "lastWarmAt" in timer.payload);
    });

    await t.step("re-attach after a reload: chat.subscribe, then chat.unsubscribe", async () => {
      const from = ws!.frames.length;
      ws!.send({ type: "chat.subscribe", conversationId: draft });
      ws!.send({ type: "chat.unsubscribe", conversationId: draft });
      // Neither is an error; nothing unknown reaches the chat stream. Frames are answered in order: once a
      // later request is answered, any error for these two would have come before it.
      await ws!.request({ type: "subscribe", surfaceId: "loaded-extensions" }, (f) => f.type === "surface");
      const after = ws!.frames.slice(from).filter((f) => f.type !== "surface");
      assert(!after.some((f) => f.type === "error" || f.type === "chat.error"), JSON.stringify(after));
    });

    await t.step("stop and close are POSTs without a body; close broadcasts the closed status", async () => {
      const stop = await readable(await web(daemon, `/conversations/${draft}/stop`, "POST"));
      assertEquals(stop, { conversationId: draft, abortedTurn: false });
      const from = ws!.frames.length;
      const close = await readable(await web(daemon, `/conversations/${draft}/close`, "POST"));
      assertEquals(close.conversationId, draft);
      const closed = await ws!.waitFor(
        (f) => f.type === "conversation.statusChanged" && f.status === "closed",
        {
          from,
        },
      );
      assertEquals(closed.workspaceId, "default");
      const open = await readable(await web(daemon, "/conversations?status=active,idle"));
      assert(!open.conversations.some((c: Frame) => c.id === draft));
    });

    await t.step("workspaces as its workspace adapter reads them", async () => {
      const ensured = await readable(await web(daemon, "/workspaces/web-proj", "PUT", {}));
      assertEquals(ensured.id, "web-proj");
      assertEquals(ensured.title, "web-proj");
      assertEquals(ensured.defaultComputerId, null);
      const list = await readable(await web(daemon, "/workspaces"));
      for (const w of list.workspaces) {
        assertEquals(typeof w.id, "string");
        assertEquals(typeof w.title, "string");
        assertEquals(typeof w.createdAt, "number");
        assertEquals(typeof w.lastActivityAt, "number");
        assertEquals(typeof w.conversationCount, "number");
        assertEquals(w.defaultComputerId, null);
      }
      const computer = await readable(
        await web(daemon, "/workspaces/web-proj/default-computer", "PUT", { computerId: null }),
      );
      assertEquals(computer.defaultComputerId, null);
      const refused = await web(daemon, "/workspaces/web-proj/default-computer", "PUT", {
        computerId: "box",
      });
      assertEquals(refused.status, 400);
      assertEquals(typeof (await readable(refused)).error, "string");
      const deleted = await readable(await web(daemon, "/workspaces/web-proj", "DELETE"));
      assertEquals(deleted, { workspaceId: "web-proj", closedCount: 0 });
    });

    await t.step(
      "routes the daemon does not serve still answer readably (res.ok false, an error)",
      async () => {
        const res = await web(daemon, "/no-such-route");
        assertEquals(res.status, 404);
        assertEquals(typeof (await readable(res)).error, "string");
      },
    );

    await t.step("the system prompt's template is served as the frontend's editor reads it", async () => {
      assertEquals(typeof (await readable(await web(daemon, "/system-prompt"))).template, "string");
    });
  } finally {
    await ws?.close();
    await daemon.stop();
    await fake.close();
  }
});
