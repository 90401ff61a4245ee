// One turn end to end: the daemon as a subprocess, the fake provider on loopback, driven over HTTP and the CLI.
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { delay, stall, startFakeProvider, text, toolCall, usage } from "./fake_provider.ts";
import { isolation, readNdjson, runCliProcess, startDaemon, startDaemonWithFake } from "./daemon.ts";

const MODEL = "opencode/fake-model";

const setup = () => startDaemonWithFake("sk-test-key-123456");

const chat = (url: string, body: unknown) =>
  fetch(new URL("/chat", url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

Deno.test("a turn over HTTP streams NDJSON, is stored, and the next turn sends it back", async () => {
  const { fake, daemon } = await setup();
  try {
    fake.script([text("Hello"), text(" there"), usage({ promptTokens: 10, completionTokens: 2 })]);
    const res = await chat(daemon.url, { message: "Say hello" });
    assertEquals(res.status, 200);
    assertMatch(res.headers.get("content-type") ?? "", /ndjson/);
    const id = res.headers.get("x-conversation-id")!;
    assert(id, "X-Conversation-Id header is set");
    const events = await readNdjson(res);
    const types = events.map((e) => e.type);
    assertEquals(types[0], "user-message");
    assertEquals(types[1], "turn-start");
    assertEquals(types.at(-1), "turn-sealed");
    assertEquals(types.at(-2), "done");
    assertEquals(events.filter((e) => e.type === "text-delta").map((e) => e.delta).join(""), "Hello there");
    assert(events.every((e) => e.conversationId === id));

    const history = await (await daemon.fetch(`/conversations/${id}`)).json();
    assertEquals(history.chunks.map((c: { role: string }) => c.role), ["user", "assistant"]);
    assertEquals(history.chunks[1].chunk, { type: "text", text: "Hello there" });
    assertEquals(history.latestSeq, 2);

    fake.script([text("Second answer")]);
    const second = await readNdjson(await chat(daemon.url, { conversationId: id, message: "Again" }));
    assertEquals(second.at(-1)?.type, "turn-sealed");
    const sent = fake.chatRequests.at(-1)!.body.messages as { role: string; content: string }[];
    const roles = sent.map((m) => m.role).filter((r) => r !== "system");
    assertEquals(roles, ["user", "assistant", "user"]);
    assert(JSON.stringify(sent).includes("Hello there"), "the first answer is sent back");

    const status = await (await daemon.fetch(`/conversations/${id}/status`)).json();
    assertEquals(status, { conversationId: id, isActive: false, status: "idle" });
    const last = await (await daemon.fetch(`/conversations/${id}/last`)).json();
    assertEquals(last.content, "Second answer");
    const list = await (await daemon.fetch("/conversations")).json();
    assertEquals(list.conversations[0].id, id);
    const models = await (await daemon.fetch("/models")).json();
    assert(models.models.includes("opencode/fake-model"), JSON.stringify(models));
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("a tool call runs the tool and the model's follow-up streams", async () => {
  const workdir = await Deno.makeTempDir({ prefix: "dispatch-e2e-" });
  await Deno.writeTextFile(`${workdir}/notes.txt`, "the secret word is pelican\n");
  const { fake, daemon } = await setup();
  try {
    fake.script(
      [toolCall("read_file", { path: "notes.txt" }, { id: "call_1" })],
      [text("The word is pelican.")],
    );
    const res = await chat(daemon.url, { message: "What is the word?", cwd: workdir });
    const events = await readNdjson(res);
    const result = events.find((e) => e.type === "tool-result")!;
    assertEquals(result.isError, false, String(result.content));
    assertMatch(String(result.content), /pelican/);
    assertEquals(
      events.filter((e) => e.type === "text-delta").map((e) => e.delta).join(""),
      "The word is pelican.",
    );
    const followUp = fake.chatRequests[1].body.messages as { role: string; content?: string }[];
    const toolMessage = followUp.find((m) => m.role === "tool");
    assert(
      toolMessage && String(toolMessage.content).includes("pelican"),
      "the tool result is sent to the model",
    );
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("the CLI runs a turn, continues it, lists, reads and reports errors in one line", async () => {
  const { fake, daemon } = await setup();
  const server = ["--server", daemon.url];
  try {
    fake.script([text("Hi from CLI")]);
    const one = await runCliProcess([MODEL, "--text", "hello", ...server]);
    assertEquals(one.code, 0, one.stderr);
    assertEquals(one.stdout.trim(), "Hi from CLI");
    const id = one.stderr.match(/conversation: (\S+)/)?.[1];
    assert(id, one.stderr);

    fake.script([text("Bonjour")]);
    const two = await runCliProcess([MODEL, "--text", "in French?", "--conversation", id!, ...server]);
    assertEquals(two.stdout.trim(), "Bonjour");
    assertEquals((fake.chatRequests.at(-1)!.body.messages as unknown[]).length >= 3, true);

    const models = await runCliProcess(["models", ...server]);
    assertMatch(models.stdout, /opencode\/fake-model/);
    const list = await runCliProcess(["list", ...server]);
    assertMatch(list.stdout, new RegExp(id!));
    const read = await runCliProcess(["read", id!, ...server]);
    assertEquals(read.stdout.trim(), "Bonjour");
    const stop = await runCliProcess(["stop", id!, ...server]);
    assertMatch(stop.stdout, /no turn was running/);

    const unknown = await runCliProcess(["read", "nope", ...server]);
    assertEquals(unknown.code, 1);
    assertEquals(unknown.stderr.trim().split("\n").length, 1);
    assertMatch(unknown.stderr, /no conversation nope/);
    const badModel = await runCliProcess(["nobody/model", "--text", "x", ...server]);
    assertEquals(badModel.code, 1);
    assertMatch(badModel.stderr, /nobody/);
    const noText = await runCliProcess([MODEL, ...server]);
    assertEquals(noText.code, 1);
    assertMatch(noText.stderr, /--text/);
    const down = await runCliProcess(["models", "--server", "http://127.0.0.1:1"]);
    assertEquals(down.code, 1);
    assertMatch(down.stderr, /cannot reach the daemon/);
    const badFlag = await runCliProcess(["models", "--bogus"]);
    assertEquals(badFlag.code, 1);
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("stopping a slow turn ends it, and a busy conversation answers 409", async () => {
  const { fake, daemon } = await setup();
  try {
    fake.script([text("thinking..."), stall()]);
    const res = await chat(daemon.url, { message: "take your time" });
    const id = res.headers.get("x-conversation-id")!;
    const shown = Promise.withResolvers<void>();
    const streamed = readNdjson(res, (e) => e.type === "text-delta" && shown.resolve());
    await shown.promise; // the delta is stored and shown before the stop, so the history must keep it

    const busy = await chat(daemon.url, { conversationId: id, message: "me too" });
    assertEquals(busy.status, 409);
    assertEquals((await busy.json()).code, "turn_running");

    const stop = await (await daemon.fetch(`/conversations/${id}/stop`, { method: "POST" })).json();
    const events = await streamed;
    assertEquals(stop, { conversationId: id, abortedTurn: true });
    assertEquals(events.find((e) => e.type === "done")?.reason, "aborted");
    const history = await (await daemon.fetch(`/conversations/${id}`)).json();
    assertEquals(history.chunks[1].chunk, { type: "text", text: "thinking..." });
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("a client that disconnects does not abort the turn", async () => {
  const { fake, daemon } = await setup();
  try {
    fake.script([text("part one, "), delay(300), text("part two")]);
    const controller = new AbortController();
    const res = await fetch(new URL("/chat", daemon.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: "go" }),
      signal: controller.signal,
    });
    const id = res.headers.get("x-conversation-id")!;
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    const last = await (await daemon.fetch(`/conversations/${id}/last`)).json();
    assertEquals(last.content, "part one, part two");
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("SIGKILL mid-turn: history intact, the turn marked interrupted, and the conversation goes on", async () => {
  const { fake, daemon, env } = await setup();
  let second;
  try {
    fake.script([text("first answer")]);
    const res = await chat(daemon.url, { message: "one" });
    const id = res.headers.get("x-conversation-id")!;
    await readNdjson(res);

    fake.script([text("partial "), text("answer"), stall()]);
    const res2 = await chat(daemon.url, { conversationId: id, message: "two" });
    const reader = res2.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("answer")) seen += (await reader.read()).value ?? "";
    await daemon.kill();
    await reader.cancel().catch(() => {});

    second = await startDaemon({ env, dataDir: daemon.dataDir });
    const history = await (await second.fetch(`/conversations/${id}`)).json();
    const chunks = history.chunks.map((
      c: { role: string; chunk: { type: string; text?: string; code?: string } },
    ) => [c.role, c.chunk.type, c.chunk.text ?? c.chunk.code]);
    assertEquals(chunks, [
      ["user", "text", "one"],
      ["assistant", "text", "first answer"],
      ["user", "text", "two"],
      ["assistant", "text", "partial answer"],
      ["assistant", "error", "interrupted"],
    ]);
    const status = await (await second.fetch(`/conversations/${id}/status`)).json();
    assertEquals(status.status, "idle");

    fake.script([text("back again")]);
    const third = await readNdjson(await chat(second.url, { conversationId: id, message: "three" }));
    assertEquals(third.find((e) => e.type === "done")?.reason, "stop");
    const sent = JSON.stringify(fake.chatRequests.at(-1)!.body.messages);
    assert(sent.includes("partial answer") && sent.includes("first answer"), sent);
  } finally {
    await second?.stop();
    await fake.close();
  }
});

Deno.test("bad requests get a 4xx JSON error and the daemon keeps serving", async () => {
  const { fake, daemon } = await setup();
  try {
    const cases: [string, RequestInit, number][] = [
      ["/chat", { method: "POST", body: "{not json", headers: { "content-type": "application/json" } }, 400],
      ["/chat", { method: "POST", body: JSON.stringify({}) }, 400],
      ["/chat", { method: "POST", body: JSON.stringify({ message: 42 }) }, 400],
      ["/chat", { method: "POST", body: JSON.stringify({ message: "x", model: "nobody/x" }) }, 400],
      ["/chat", { method: "POST", body: JSON.stringify({ message: "x", cwd: "/definitely/not/here" }) }, 400],
      ["/chat", { method: "POST", body: JSON.stringify({ message: "x", conversationId: "../etc" }) }, 400],
      ["/chat", { method: "POST", body: "x".repeat(3 * 1024 * 1024) }, 413],
      ["/conversations/nope", {}, 404],
      ["/conversations/nope/status", {}, 404],
      ["/conversations?status=weird", {}, 400],
      ["/conversations/x?limit=-1", {}, 400],
      ["/nothing-here", {}, 404],
    ];
    for (const [path, init, status] of cases) {
      const res = await daemon.fetch(path, init);
      const body = await res.json();
      assertEquals(
        res.status,
        status,
        `${path} ${init.body?.toString().slice(0, 40)} → ${JSON.stringify(body)}`,
      );
      assert(typeof body.error === "string" && typeof body.code === "string", JSON.stringify(body));
    }
    assertEquals(await (await daemon.fetch("/health")).json(), { ok: true });
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("`deno task start` with only the DISPATCH_* variables serves /health and turns", async () => {
  const fake = await startFakeProvider();
  const repo = new URL("..", import.meta.url).pathname;
  // Run from the checkout (deno.json's task), but with its own env file, HOME and data dir: never the
  // checkout's .env or ./.dispatch.
  const own = await isolation();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "start"],
    cwd: repo,
    clearEnv: true,
    env: {
      ...own.env,
      DISPATCH_DATA_DIR: `${own.root}/data`,
      DISPATCH_API_KEY: "sk-anything",
      DISPATCH_BASE_URL: fake.baseUrl,
      DISPATCH_MODEL: "fake-model",
      BACKEND_PORT: "0", // the default port may be taken on a developer's machine
    },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!/listening on (\S+)/.test(out)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`deno task start exited: ${out}`);
      out += value;
    }
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
    const url = out.match(/listening on (\S+)/)![1];
    assertEquals(await (await fetch(new URL("/health", url))).json(), { ok: true });
    const events = await readNdjson(await chat(url, { message: "hello" }));
    assertEquals(events.find((e) => e.type === "done")?.reason, "stop");
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await fake.close();
  }
});

Deno.test("a conversation without a cwd works in its workspace's default cwd", async () => {
  const workdir = await Deno.makeTempDir({ prefix: "dispatch-ws-" });
  await Deno.writeTextFile(`${workdir}/hello.txt`, "from the workspace\n");
  const { fake, daemon } = await setup();
  try {
    const put = await daemon.fetch("/workspaces/proj", {
      method: "PUT",
      body: JSON.stringify({ title: "Project", defaultCwd: workdir }),
    });
    assertEquals(put.status, 200, await put.clone().text());
    fake.script([toolCall("read_file", { path: "hello.txt" }, { id: "c1" })], [text("ok")]);
    const events = await readNdjson(await chat(daemon.url, { message: "read it", workspaceId: "proj" }));
    const result = events.find((e) => e.type === "tool-result")!;
    assertEquals(result.isError, false, String(result.content));
    assertMatch(String(result.content), /from the workspace/);
  } finally {
    await daemon.stop();
    await fake.close();
    await Deno.remove(workdir, { recursive: true });
  }
});

Deno.test("DISPATCH_LOG_LEVEL=warn leaves out the per-request lines that info writes", async () => {
  const quiet = await startDaemonWithFake("sk-test-key-123456", { DISPATCH_LOG_LEVEL: "warn" });
  const chatty = await startDaemonWithFake("sk-test-key-123456", { DISPATCH_LOG_LEVEL: "info" });
  try {
    for (const { daemon } of [quiet, chatty]) await (await daemon.fetch("/health")).body?.cancel();
  } finally {
    for (const { daemon, fake } of [quiet, chatty]) {
      await daemon.stop();
      await fake.close();
    }
  }
  assert(!quiet.daemon.logs().includes('"msg":"request"'), quiet.daemon.logs());
  assert(chatty.daemon.logs().includes('"msg":"request"'), chatty.daemon.logs());
});
