// The HTTP API end to end, one route at a time: the daemon as a subprocess (one for the whole file), the fake
// provider on loopback. Every error is checked for its status and its `{error, code}` body.
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { delay, stall, startFakeProvider, text, usage } from "./fake_provider.ts";
import { type Daemon, readNdjson, startDaemon } from "./daemon.ts";
import { routes } from "../src/contract/http.ts";
import { fillPath } from "../src/contract/route.ts";

const API_KEY = "sk-http-api-test-0123456789";

interface Reply {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
  headers: Headers;
}

function client(daemon: () => Daemon) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] ??= "application/json";
    }
    const res = await daemon().fetch(path, init);
    const raw = await res.text();
    let parsed: unknown = raw;
    try {
      parsed = raw ? JSON.parse(raw) : undefined;
    } catch { /* not JSON: keep the text */ }
    return { status: res.status, body: parsed, headers: res.headers } as Reply;
  };
}

/** The one error shape: `{error, code}` with a message and a stable code. */
function assertError(reply: Reply, status: number, code?: string | RegExp) {
  const what = JSON.stringify(reply.body);
  assertEquals(reply.status, status, what);
  assert(typeof reply.body?.error === "string" && reply.body.error.length > 0, what);
  assert(typeof reply.body?.code === "string", what);
  if (typeof code === "string") assertEquals(reply.body.code, code, what);
  else if (code) assertMatch(reply.body.code, code);
}

const chat = async (d: Daemon, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
  const res = await d.fetch("/chat", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  assertEquals(res.status, 200);
  return { id: res.headers.get("x-conversation-id")!, events: readNdjson(res) };
};

Deno.test("HTTP API: every route, good and bad requests", async (t) => {
  const fake = await startFakeProvider({
    apiKey: API_KEY,
    models: [{ id: "fake-model" }, { id: "other-model" }],
  });
  const env = { DISPATCH_API_KEY: API_KEY, DISPATCH_BASE_URL: fake.baseUrl, DISPATCH_MODEL: "fake-model" };
  let daemon = await startDaemon({ env });
  const req = client(() => daemon);
  const dirs = {
    work: await Deno.makeTempDir({ prefix: "dispatch-api-work-" }),
    other: await Deno.makeTempDir({ prefix: "dispatch-api-other-" }),
  };
  await Deno.writeTextFile(`${dirs.work}/file.txt`, "not a directory");
  const big = { title: "x".repeat(3 * 1024 * 1024) };

  try {
    // A conversation with one finished turn, for the routes that need one.
    fake.script([text("Hello"), usage({ promptTokens: 12, completionTokens: 3 })]);
    const first = await chat(daemon, { message: "first" });
    const cid = first.id;
    await first.events;

    await t.step("GET/PUT/DELETE /conversations/:id/cwd", async () => {
      assertEquals((await req("GET", `/conversations/${cid}/cwd`)).body, { conversationId: cid, cwd: null });
      const put = await req("PUT", `/conversations/${cid}/cwd`, { cwd: dirs.work });
      assertEquals(put.status, 200);
      assertEquals(put.body, { conversationId: cid, cwd: dirs.work });
      assertEquals((await req("GET", `/conversations/${cid}/cwd`)).body.cwd, dirs.work);

      assertError(await req("PUT", `/conversations/${cid}/cwd`, {}), 400, "invalid_body");
      assertError(await req("PUT", `/conversations/${cid}/cwd`, { cwd: 42 }), 400, "invalid_body");
      assertError(
        await req("PUT", `/conversations/${cid}/cwd`, { cwd: "relative/dir" }),
        400,
        "invalid_body",
      );
      assertError(
        await req("PUT", `/conversations/${cid}/cwd`, { cwd: "/definitely/not/here" }),
        400,
        "bad_cwd",
      );
      assertError(
        await req("PUT", `/conversations/${cid}/cwd`, { cwd: `${dirs.work}/file.txt` }),
        400,
        "bad_cwd",
      );
      assertError(await req("PUT", `/conversations/${cid}/cwd`, { cwd: "/etc" }), 400, "bad_cwd"); // outside roots
      assertError(
        await req("PUT", `/conversations/${cid}/cwd`, { cwd: dirs.work, workspaceId: "Not A Slug" }),
        400,
        "invalid_body",
      );
      assertError(await req("PUT", `/conversations/${cid}/cwd`, { cwd: [dirs.work] }), 400);
      assertError(await req("PUT", `/conversations/${cid}/cwd`, big), 413, "body_too_large");
      assertError(await req("GET", "/conversations/nobody/cwd"), 404, "unknown_conversation");
      assertError(await req("DELETE", "/conversations/nobody/cwd"), 404, "unknown_conversation");
      assertEquals(
        (await req("GET", `/conversations/${cid}/cwd`)).body.cwd,
        dirs.work,
        "a refused PUT changes nothing",
      );

      // PUT on a new id creates the conversation (the web client sets a draft's cwd before its first turn),
      // and a workspaceId moves it there (creating the workspace).
      const draft = await req("PUT", "/conversations/draft-1/cwd", {
        cwd: dirs.other,
        workspaceId: "drafts",
      });
      assertEquals(draft.body, { conversationId: "draft-1", cwd: dirs.other });
      const listed = await req("GET", "/conversations?workspaceId=drafts");
      assertEquals(listed.body.conversations.map((c: { id: string }) => c.id), ["draft-1"]);
      assertEquals((await req("DELETE", "/conversations/draft-1/cwd")).body, {
        conversationId: "draft-1",
        cwd: null,
      });
    });

    await t.step("GET/PUT /conversations/:id/model, and the next turn uses it", async () => {
      // The first turn named no model: the conversation has none of its own (turns use the default).
      assertEquals((await req("GET", `/conversations/${cid}/model`)).body, {
        conversationId: cid,
        model: null,
      });
      assertEquals((await req("PUT", `/conversations/${cid}/model`, { model: "other-model" })).body, {
        conversationId: cid,
        model: "opencode/other-model",
      });
      assertError(
        await req("PUT", `/conversations/${cid}/model`, { model: "nobody/x" }),
        400,
        "unknown_model",
      );
      assertError(await req("PUT", `/conversations/${cid}/model`, { model: 7 }), 400, "invalid_body");
      assertError(await req("PUT", `/conversations/${cid}/model`, {}), 400, "invalid_body");
      assertError(await req("PUT", `/conversations/${cid}/model`, { model: "m".repeat(300) }), 400);
      assertError(await req("GET", "/conversations/nobody/model"), 404, "unknown_conversation");

      fake.script([text("from the other model")]);
      await (await chat(daemon, { conversationId: cid, message: "which model?" })).events;
      assertEquals(fake.chatRequests.at(-1)!.body.model, "other-model");

      assertEquals((await req("PUT", `/conversations/${cid}/model`, { model: null })).body.model, null);
      assertEquals((await req("PUT", `/conversations/${cid}/model`, { model: "" })).body.model, null);
      assertEquals((await req("GET", `/conversations/${cid}/model`)).body.model, null);
    });

    await t.step("GET/PUT /conversations/:id/reasoning-effort, and the next turn sends it", async () => {
      assertEquals((await req("GET", `/conversations/${cid}/reasoning-effort`)).body, {
        conversationId: cid,
        reasoningEffort: null,
      });
      assertEquals(
        (await req("PUT", `/conversations/${cid}/reasoning-effort`, { reasoningEffort: "low" })).body,
        { conversationId: cid, reasoningEffort: "low" },
      );
      assertError(
        await req("PUT", `/conversations/${cid}/reasoning-effort`, { reasoningEffort: "extreme" }),
        400,
        "invalid_body",
      );
      assertError(await req("PUT", `/conversations/${cid}/reasoning-effort`, { effort: "low" }), 400);
      assertError(await req("GET", "/conversations/nobody/reasoning-effort"), 404, "unknown_conversation");

      fake.script([text("thoughtful")]);
      await (await chat(daemon, { conversationId: cid, message: "think" })).events;
      assertEquals(fake.chatRequests.at(-1)!.body.reasoning_effort, "low");

      assertEquals(
        (await req("PUT", `/conversations/${cid}/reasoning-effort`, { reasoningEffort: null })).body
          .reasoningEffort,
        null,
      );
    });

    await t.step("PUT /conversations/:id/title", async () => {
      assertEquals((await req("PUT", `/conversations/${cid}/title`, { title: "  Renamed  " })).body, {
        conversationId: cid,
        title: "Renamed",
      });
      const listed = await req("GET", `/conversations?q=Renamed`);
      assertEquals(listed.body.conversations[0].title, "Renamed");
      assertError(await req("PUT", `/conversations/${cid}/title`, { title: "" }), 400, "invalid_body");
      assertError(await req("PUT", `/conversations/${cid}/title`, { title: "   " }), 400, "invalid_body");
      assertError(await req("PUT", `/conversations/${cid}/title`, { title: 1 }), 400, "invalid_body");
      assertError(await req("PUT", `/conversations/${cid}/title`, { title: "t".repeat(1001) }), 400);
      assertError(await req("PUT", `/conversations/${cid}/title`, big), 413, "body_too_large");
      assertError(await req("PUT", "/conversations/bad%20id/title", { title: "x" }), 400, "invalid_path");
      assertError(await req("GET", `/conversations/${cid}/title`), 405, "method_not_allowed");
    });

    await t.step("GET /conversations/:id/metrics", async () => {
      const metrics = await req("GET", `/conversations/${cid}/metrics`);
      assertEquals(metrics.status, 200);
      const turns = metrics.body.turns;
      assertEquals(turns.length, 3);
      assertEquals(turns[0].usage.inputTokens, 12);
      assertEquals(turns[0].usage.outputTokens, 3);
      assertEquals(turns[0].status, "done");
      assertEquals(turns[0].model, "opencode/fake-model");
      assertEquals(turns[1].model, "opencode/other-model");
      assert(turns[0].steps.length >= 1 && typeof turns[0].steps[0].stepId === "string");
      assert(typeof turns[0].steps[0].genTotalMs === "number", JSON.stringify(turns[0].steps[0]));
      assert(typeof turns[0].durationMs === "number");
      assertError(await req("GET", "/conversations/nobody/metrics"), 404, "unknown_conversation");
    });

    await t.step(
      "POST /conversations/:id/close aborts the running turn and marks it closed; open reopens",
      async () => {
        fake.script([text("working..."), stall()]);
        const seen = fake.requests.length;
        const running = await chat(daemon, { message: "long job" });
        await fake.waitForRequests(seen + 1, 5000);
        assertEquals((await req("GET", `/conversations/${running.id}/status`)).body.isActive, true);
        const closed = await req("POST", `/conversations/${running.id}/close`);
        assertEquals(closed.body, { conversationId: running.id, abortedTurn: true });
        assertEquals((await running.events).find((e) => e.type === "done")?.reason, "aborted");
        assertEquals((await req("GET", `/conversations/${running.id}/status`)).body.status, "closed");
        const open = await req("GET", "/conversations");
        assert(
          !open.body.conversations.some((c: { id: string }) => c.id === running.id),
          "closed ones are hidden",
        );
        const all = await req("GET", "/conversations?status=closed");
        assert(all.body.conversations.some((c: { id: string }) => c.id === running.id));
        // closing again: nothing to abort
        assertEquals((await req("POST", `/conversations/${running.id}/close`)).body.abortedTurn, false);

        assertEquals((await req("POST", `/conversations/${running.id}/open`)).body, {
          conversationId: running.id,
        });
        assertEquals((await req("GET", `/conversations/${running.id}/status`)).body.status, "idle");

        assertError(await req("POST", "/conversations/nobody/close"), 404, "unknown_conversation");
        assertError(await req("POST", "/conversations/nobody/open"), 404, "unknown_conversation");
        assertError(await req("GET", `/conversations/${running.id}/close`), 405, "method_not_allowed");
        assertEquals((await req("GET", `/conversations/${running.id}/close`)).headers.get("allow"), "POST");
      },
    );

    await t.step("workspaces: list, create, read, rename, default cwd, delete", async () => {
      const list = await req("GET", "/workspaces");
      assert(list.body.workspaces.some((w: { id: string }) => w.id === "default"));

      const created = await req("PUT", "/workspaces/proj-a", { title: "Project A", defaultCwd: dirs.work });
      assertEquals(created.status, 200);
      assertEquals(created.body.id, "proj-a");
      assertEquals(created.body.title, "Project A");
      assertEquals(created.body.defaultCwd, dirs.work);
      assertEquals(created.body.conversationCount, 0);
      // PUT again updates only what it names
      assertEquals((await req("PUT", "/workspaces/proj-a", {})).body.title, "Project A");
      assertEquals((await req("PUT", "/workspaces/bare", {})).body.title, "bare");
      assertEquals((await req("PUT", "/workspaces/bare2")).body.title, "bare2");
      assertEquals((await req("GET", "/workspaces/proj-a")).body.title, "Project A");
      assertEquals(
        (await req("PUT", "/workspaces/proj-a/title", { title: "Renamed A" })).body.title,
        "Renamed A",
      );
      assertEquals(
        (await req("PUT", "/workspaces/proj-a/default-cwd", { defaultCwd: dirs.other })).body.defaultCwd,
        dirs.other,
      );
      assertEquals(
        (await req("PUT", "/workspaces/bare/default-cwd", { defaultCwd: null })).body.defaultCwd,
        null,
      );

      assertError(await req("PUT", "/workspaces/Not_A_Slug", {}), 400, "invalid_path");
      assertError(await req("PUT", `/workspaces/${"a".repeat(41)}`, {}), 400, "invalid_path");
      assertError(await req("PUT", "/workspaces/ok", { title: 5 }), 400, "invalid_body");
      assertError(await req("PUT", "/workspaces/ok", { defaultCwd: "relative" }), 400, "invalid_body");
      assertError(await req("PUT", "/workspaces/ok", { defaultCwd: "/nowhere/at/all" }), 400, "bad_cwd");
      assertError(await req("PUT", "/workspaces/ok", big), 413, "body_too_large");
      assertEquals((await req("GET", "/workspaces/ok")).status, 404, "a refused PUT creates nothing");
      assertError(await req("GET", "/workspaces/nobody"), 404, "unknown_workspace");
      assertError(await req("GET", "/workspaces/NOPE"), 404, "invalid_path");
      assertError(await req("PUT", "/workspaces/nobody/title", { title: "x" }), 404, "unknown_workspace");
      assertError(await req("PUT", "/workspaces/proj-a/title", { title: "" }), 400, "invalid_body");
      assertError(await req("PUT", "/workspaces/proj-a/title", {}), 400, "invalid_body");
      assertError(
        await req("PUT", "/workspaces/nobody/default-cwd", { defaultCwd: null }),
        404,
        "unknown_workspace",
      );
      assertError(await req("PUT", "/workspaces/proj-a/default-cwd", {}), 400, "invalid_body");
      assertError(await req("DELETE", "/workspaces/default"), 409, "default_workspace");
      assertError(await req("DELETE", "/workspaces/nobody"), 404, "unknown_workspace");

      // A chat naming a new workspace creates it; deleting the workspace aborts and closes its conversations.
      fake.script([text("busy"), stall()]);
      const seen = fake.requests.length;
      const inWs = await chat(daemon, { message: "in a workspace", workspaceId: "proj-b" });
      // Stopped only once the provider has its request: a turn stopped before its call leaves this script
      // queued, and a later step's turn would get it and stall (this hung the suite under load).
      await fake.waitForRequests(seen + 1, 5000);
      const before = await req("GET", "/workspaces/proj-b");
      assertEquals(before.body.conversationCount, 1);
      const deleted = await req("DELETE", "/workspaces/proj-b");
      assertEquals(deleted.body, { workspaceId: "proj-b", closedCount: 1 });
      assertEquals((await inWs.events).find((e) => e.type === "done")?.reason, "aborted");
      const moved = (await req("GET", `/conversations?status=closed&workspaceId=default`)).body.conversations;
      assert(moved.some((c: { id: string; workspaceId: string }) => c.id === inWs.id), JSON.stringify(moved));
      assertError(await req("GET", "/workspaces/proj-b"), 404, "unknown_workspace");
      const names = (await req("GET", "/workspaces")).body.workspaces.map((w: { id: string }) => w.id);
      assert(names.includes("proj-a") && names.includes("default") && !names.includes("proj-b"), names);
    });

    await t.step("GET /metrics/throughput", async () => {
      const today = new Date();
      const date = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${
        String(today.getDate()).padStart(2, "0")
      }`;
      const day = await req("GET", `/metrics/throughput?period=day&date=${date}`);
      assertEquals(day.status, 200);
      assertEquals(day.body.period, "day");
      assertEquals(day.body.date, date);
      assert(day.body.end - day.body.start >= 23 * 3600_000);
      const fakeModel = day.body.models.find((m: { model: string }) => m.model === "opencode/fake-model");
      assert(fakeModel && fakeModel.turns >= 1 && fakeModel.totalOutputTokens >= 3, JSON.stringify(day.body));
      assert(fakeModel.tokensPerSecond > 0 && fakeModel.totalGenMs >= 0);
      assertEquals((await req("GET", "/metrics/throughput?period=week")).status, 200);
      assertEquals(
        (await req("GET", `/metrics/throughput?period=month&date=${date.slice(0, 7)}`)).body.date,
        date.slice(0, 7),
      );
      assertEquals((await req("GET", "/metrics/throughput?period=day&date=2001-01-01")).body.models, []);
      assertError(await req("GET", "/metrics/throughput"), 400, "invalid_query");
      assertError(await req("GET", "/metrics/throughput?period=year"), 400, "invalid_query");
      assertError(await req("GET", "/metrics/throughput?period=day&date=yesterday"), 400, "invalid_query");
      assertError(await req("GET", "/metrics/throughput?period=day&date=2026-02-30"), 400, "invalid_date");
      assertError(await req("GET", "/metrics/throughput?period=day&date=2026-02"), 400, "invalid_date");
    });

    await t.step("a retried POST /chat (same clientRequestId) attaches to the turn it started", async () => {
      const before = fake.chatRequests.length;
      fake.script([text("part one, "), delay(400), text("part two")]);
      const body = { message: "only once please", clientRequestId: "retry-me-1" };
      const seen = fake.requests.length;
      const original = await chat(daemon, body);
      await fake.waitForRequests(seen + 1, 5000);
      // While it runs: the header spelling, the same turn from its first event.
      const during = await chat(daemon, { message: "only once please" }, {
        "x-client-request-id": "retry-me-1",
      });
      const [a, b] = await Promise.all([original.events, during.events]);
      // After it ended: replayed from the store.
      const after = await chat(daemon, body);
      const c = await after.events;
      assertEquals(during.id, original.id);
      assertEquals(after.id, original.id);
      assertEquals(b, a);
      assertEquals(c, a);
      assertEquals(
        a.filter((e) => e.type === "text-delta").map((e) => e.delta).join(""),
        "part one, part two",
      );
      assertEquals(new Set(a.map((e) => e.turnId)).size, 1);
      assertEquals(fake.chatRequests.length - before, 1, "the provider saw exactly one request");
    });

    await t.step(
      "bad input never gets a 5xx: non-JSON bodies, arrays, null, huge numbers, odd paths",
      async () => {
        const title = `/conversations/${cid}/title`;
        assertError(
          await req("PUT", title, "title=x", { "content-type": "application/x-www-form-urlencoded" }),
          400,
          "invalid_json",
        );
        assertError(
          await req("PUT", title, "--b\r\n\r\nx\r\n--b--", {
            "content-type": "multipart/form-data; boundary=b",
          }),
          400,
          "invalid_json",
        );
        assertError(await req("PUT", title, "[1,2]"), 400, "invalid_body");
        assertError(await req("PUT", title, "null"), 400, "invalid_body");
        assertError(await req("PUT", title, '"just a string"'), 400, "invalid_body");
        assertError(await req("PUT", title, '{"title": 1e400}'), 400, "invalid_body");
        assertError(await req("PUT", title, '{"title": "x"'), 400, "invalid_json");
        assertError(
          await req("PUT", "/workspaces/ok", '{"defaultCwd": 123456789012345678901234567890}'),
          400,
        );
        assertError(
          await req("GET", `/conversations/${cid}?limit=99999999999999999999`),
          400,
          "invalid_query",
        );
        assertError(await req("GET", `/conversations/${cid}?sinceSeq=1.5`), 400, "invalid_query");
        assertError(await req("GET", "/conversations/%E2%9C%93/status"), 404, "invalid_path");
        assertError(await req("GET", "/conversations/%E0%A4%A/status"), 404);
        assertError(await req("GET", `/conversations/${"x".repeat(5000)}/status`), 404);
        const doubled = await fetch(daemon.url.replace(/\/$/, "") + "//conversations");
        assertError(
          { status: doubled.status, body: await doubled.json(), headers: doubled.headers },
          404,
          "no_route",
        );
        assertError(await req("PATCH", `/conversations/${cid}/title`), 405, "method_not_allowed");
        assertError(await req("POST", "/workspaces"), 405, "method_not_allowed");
        assertError(await req("GET", "/nothing/here"), 404, "no_route");
        assertEquals((await req("GET", "/health")).body, { ok: true });
      },
    );

    await t.step("GET /openapi.json documents every route the daemon answers", async () => {
      const doc = (await req("GET", "/openapi.json")).body;
      assertEquals(doc.openapi, "3.1.0");
      assert(doc.components.schemas.Error.properties.code, "the error schema");
      for (const def of Object.values(routes)) {
        const path = def.path.replace(/:(\w+)/g, "{$1}");
        const op = doc.paths[path]?.[def.method.toLowerCase()];
        assert(op, `${def.method} ${def.path} is documented`);
        assertEquals(op.responses["200"] !== undefined, true);
        if (def.body) assert(op.requestBody.content["application/json"].schema.type === "object", def.path);
        if (def.params) assert(op.parameters.some((p: { in: string }) => p.in === "path"), def.path);
      }
      // ...and everything documented is answered (never 404 no_route / 405).
      for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
        for (const method of Object.keys(ops)) {
          if (path === "/chat" || path.endsWith("/last")) continue; // would run or wait for a turn
          const concrete = fillPath(path.replace(/\{(\w+)\}/g, ":$1"), { id: "probe-id", messageId: "m1" });
          const reply = await req(method.toUpperCase(), concrete, method === "get" ? undefined : {});
          assert(
            !["no_route", "method_not_allowed"].includes(reply.body?.code),
            `${method} ${path} → ${JSON.stringify(reply.body)}`,
          );
          assert(reply.status < 500, `${method} ${path} → ${reply.status}`);
        }
      }
    });

    await t.step("the access log has one line per request, with the conversation id", async () => {
      await req("GET", `/conversations/${cid}/cwd`);
      const lines = daemon.logs().split("\n").filter((l) => l.includes('"msg":"request"')).map((l) =>
        JSON.parse(l)
      );
      const line = lines.findLast((l) => l.path === `/conversations/${cid}/cwd` && l.method === "GET");
      assert(line, "logged");
      assertEquals(line.status, 200);
      assertEquals(line.conversationId, cid);
      assert(typeof line.durationMs === "number");
      assert(lines.some((l) => l.status === 413) && lines.some((l) => l.status === 405));
      assert(!daemon.logs().includes(API_KEY), "the API key never reaches the log");
    });

    await t.step("settings and workspaces persist across a restart", async () => {
      await req("PUT", `/conversations/${cid}/model`, { model: "other-model" });
      await req("PUT", `/conversations/${cid}/reasoning-effort`, { reasoningEffort: "max" });
      const dataDir = daemon.dataDir;
      await daemon.stop();
      daemon = await startDaemon({ env, dataDir });
      assertEquals((await req("GET", `/conversations/${cid}/cwd`)).body.cwd, dirs.work);
      assertEquals((await req("GET", `/conversations/${cid}/model`)).body.model, "opencode/other-model");
      assertEquals((await req("GET", `/conversations/${cid}/reasoning-effort`)).body.reasoningEffort, "max");
      const convs = (await req("GET", "/conversations?status=active,idle,closed")).body.conversations;
      assertEquals(convs.find((c: { id: string }) => c.id === cid).title, "Renamed");
      const ws = (await req("GET", "/workspaces/proj-a")).body;
      assertEquals([ws.title, ws.defaultCwd], ["Renamed A", dirs.other]);
      const day = (await req("GET", "/metrics/throughput?period=month")).body;
      assert(day.models.length >= 1, "throughput samples persist");
    });
  } finally {
    await daemon.stop();
    await fake.close();
    for (const dir of Object.values(dirs)) await Deno.remove(dir, { recursive: true });
  }
});
