// The model catalog as a client sees it: context windows in GET /models, unknown models refused (HTTP 400,
// WebSocket chat.error) unless their provider's list could not be read, the default reasoning effort reaching
// the provider, and titles from the first message.
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { httpError, startFakeProvider, text } from "./fake_provider.ts";
import { extensionEntries } from "../src/extensions.ts";
import { loadConfig } from "../src/config.ts";
import { readNdjson, startDaemon, startDaemonWithFake } from "./daemon.ts";
import { WsClient, wsUrl } from "./ws_client.ts";

Deno.test("catalog: context windows, unknown models refused, effort default, titles", async (t) => {
  const { fake, daemon } = await startDaemonWithFake("sk-models-test-1", {
    DISPATCH_CONTEXT_WINDOW: "50000",
  });
  fake.models = [{ id: "fake-model", context_length: 64_000 }, { id: "no-figure" }];
  const json = async (method: string, path: string, body?: unknown) => {
    const res = await daemon.fetch(path, {
      method,
      headers: { "content-type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return {
      status: res.status,
      body: res.headers.get("content-type")?.includes("ndjson") ? await readNdjson(res) : await res.json(),
    };
  };
  try {
    await t.step("GET /models: the provider's figure, else DISPATCH_CONTEXT_WINDOW", async () => {
      const { body } = await json("GET", "/models");
      assertEquals(body.models, ["opencode/fake-model", "opencode/no-figure"]);
      assertEquals(body.modelInfo, {
        "opencode/fake-model": { contextWindow: 64_000 },
        "opencode/no-figure": { contextWindow: 50_000 },
      });
      assertEquals(body.unavailable, undefined);
    });

    await t.step("an unknown model is a 400 naming what is listed (chat, PUT model, WebSocket)", async () => {
      const requests = fake.chatRequests.length;
      for (const model of ["opencode/nope", "nope", "opencode/fake-model-2"]) {
        const chat = await json("POST", "/chat", { message: "hi", model });
        assertEquals(chat.status, 400, model);
        assertEquals(chat.body.code, "unknown_model");
        assertMatch(chat.body.error, /opencode\/fake-model, opencode\/no-figure/);
      }
      const put = await json("PUT", "/conversations/m-draft/model", { model: "opencode/nope" });
      assertEquals([put.status, put.body.code], [400, "unknown_model"]);
      const ws = await WsClient.connect(wsUrl(daemon.url));
      try {
        const reply = await ws.request(
          { type: "chat.send", message: "hi", model: "opencode/nope" },
          (f) => f.type === "chat.error",
        );
        assertEquals(reply.code, "unknown_model");
        assertMatch(reply.message, /opencode\/fake-model/);
      } finally {
        await ws.close();
      }
      assertEquals(fake.chatRequests.length, requests, "nothing reached the provider");
      assertEquals((await json("GET", "/health")).body, { ok: true });
    });

    await t.step("the default effort (high) reaches the provider; a chosen one wins", async () => {
      fake.script([text("a")], [text("b")], [text("c")]);
      await json("POST", "/chat", { message: "no effort chosen", conversationId: "effort-1" });
      assertEquals(fake.chatRequests.at(-1)!.body.reasoning_effort, "high");
      await json("POST", "/chat", {
        message: "low please",
        conversationId: "effort-1",
        reasoningEffort: "low",
      });
      assertEquals(fake.chatRequests.at(-1)!.body.reasoning_effort, "low");
      await json("POST", "/chat", { message: "as before", conversationId: "effort-1" });
      assertEquals(fake.chatRequests.at(-1)!.body.reasoning_effort, "low", "the conversation's choice");
    });

    await t.step("titles: from the first message unless one was set", async () => {
      fake.script([text("a")], [text("b")]);
      await json("PUT", "/conversations/title-draft/model", { model: "fake-model" });
      await json("POST", "/chat", {
        conversationId: "title-draft",
        message: "\n  Fix the login bug  \nwith details",
      });
      await json("PUT", "/conversations/title-set/title", { title: "Chosen" });
      await json("POST", "/chat", { conversationId: "title-set", message: "something else" });
      const titles = Object.fromEntries(
        (await json("GET", "/conversations")).body.conversations.map((
          c: { id: string; title: string },
        ) => [c.id, c.title]),
      );
      assertEquals(titles["title-draft"], "Fix the login bug");
      assertEquals(titles["title-set"], "Chosen");
      assertEquals(titles["effort-1"], "no effort chosen");
    });

    await t.step("a provider refusing the effort gets the request again without it, once", async () => {
      fake.script(
        [httpError(400, "Unrecognized request argument supplied: reasoning_effort")],
        [text("fine without")],
        [text("still fine")],
      );
      const before = fake.chatRequests.length;
      const { body } = await json("POST", "/chat", {
        message: "think hard",
        conversationId: "refuses-effort",
      });
      assertEquals(
        body.filter((e: { type: string }) => e.type === "text-delta").map((e: { delta: string }) => e.delta)
          .join(""),
        "fine without",
      );
      assertEquals(body.filter((e: { type: string }) => e.type === "error"), []);
      const [first, second] = fake.chatRequests.slice(before);
      assertEquals(first.body.reasoning_effort, "high");
      assertEquals("reasoning_effort" in second.body, false);
      assertMatch(
        daemon.logs(),
        /the provider refused the reasoning effort; the request goes again without it/,
      );
      // The model is known to refuse it now: one request, without it.
      await json("POST", "/chat", { message: "again", conversationId: "refuses-effort" });
      assertEquals(fake.chatRequests.length, before + 3);
      assertEquals("reasoning_effort" in fake.chatRequests.at(-1)!.body, false);
    });
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("catalog: a provider whose list fails has its models tried as named, and says why", async () => {
  const { fake, daemon } = await startDaemonWithFake("sk-models-test-2");
  fake.onModels = () => new Response("models are down", { status: 500 });
  try {
    fake.script([text("answered")]);
    const res = await daemon.fetch("/chat", {
      method: "POST",
      body: JSON.stringify({ message: "hi", model: "opencode/unlisted-model" }),
    });
    assertEquals(res.status, 200);
    await readNdjson(res);
    assertEquals(fake.chatRequests.at(-1)!.body.model, "unlisted-model");
    const models = await (await daemon.fetch("/models")).json();
    assertEquals(models.models, []);
    assertEquals(models.unavailable.map((u: { credential: string }) => u.credential), ["opencode"]);
    assert(models.unavailable[0].error.length > 0);
    assertMatch(daemon.logs(), /the model list could not be read; the model is tried as named/);
    assertMatch(daemon.logs(), /a provider.s model list could not be read; its models are tried as named/);
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("catalog: a bad DISPATCH_CONTEXT_WINDOW stops the daemon with a message naming it", async () => {
  for (const value of ["lots", "0", "12", "-5", "1e6"]) {
    await assertRejects(
      () => startDaemon({ env: { DISPATCH_CONTEXT_WINDOW: value } }),
      /DISPATCH_CONTEXT_WINDOW must be a whole number of tokens/,
    );
  }
});

Deno.test("two providers listed when both keys are set: opencode and umans (provider-umans)", async () => {
  await using umans = await startFakeProvider({
    apiKey: "sk-umans-key-1234",
    models: [{ id: "umans-coder", context_length: 200_000 }],
  });
  const { fake, daemon } = await startDaemonWithFake("sk-models-test-3", {
    UMANS_API_KEY: "sk-umans-key-1234",
    UMANS_BASE_URL: umans.baseUrl,
  });
  try {
    const models = await (await daemon.fetch("/models")).json();
    assertEquals(models.models, ["opencode/fake-model", "umans/umans-coder"]);
    assertEquals(models.modelInfo["umans/umans-coder"], { contextWindow: 200_000 });
    umans.script([text("from umans")]);
    const res = await daemon.fetch("/chat", {
      method: "POST",
      body: JSON.stringify({ message: "hi", model: "umans/umans-coder" }),
    });
    assertEquals(res.status, 200);
    const events = await readNdjson(res);
    assertEquals(events.filter((e) => e.type === "text-delta").map((e) => e.delta).join(""), "from umans");
    assertEquals(umans.chatRequests.at(-1)!.body.model, "umans-coder");
    assertEquals(fake.chatRequests.length, 0);
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("provider-umans is in the extension list only when UMANS_API_KEY is set", () => {
  const ids = (env: Record<string, string>) =>
    extensionEntries(loadConfig({ HOME: "/tmp", DISPATCH_ENV_FILE: "/dev/null", ...env }, "/tmp"))
      .map((e) => e.manifest.id);
  assert(!ids({}).includes("provider-umans"));
  assert(ids({ UMANS_API_KEY: "sk-umans-key-1234" }).includes("provider-umans"));
  assert(ids({}).includes("provider-openai-compat"));
});
