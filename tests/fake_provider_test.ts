// The fake provider itself, spoken to with plain fetch: what it sends must look like OpenAI's wire format.
import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  DEFAULT_REPLY,
  finish,
  httpError,
  raw,
  reasoning,
  stall,
  startFakeProvider,
  text,
  toolCall,
  usage,
} from "./fake_provider.ts";

// deno-lint-ignore no-explicit-any
type Chunk = any;

async function chat(baseUrl: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(`${baseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "fake-model", stream: true, ...body }),
  });
  return res;
}

/** The SSE `data:` payloads of a response, parsed (except `[DONE]`). */
async function sse(res: Response): Promise<{ chunks: Chunk[]; done: boolean }> {
  const text = await res.text();
  const datas = text.split("\n\n").filter((b) => b.startsWith("data: ")).map((b) => b.slice(6));
  return {
    chunks: datas.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d)),
    done: datas.at(-1) === "[DONE]",
  };
}

const user = (content: string) => ({ messages: [{ role: "user", content }] });

Deno.test("fake provider: lists models under /v1/models and /models", async () => {
  await using fake = await startFakeProvider({ models: [{ id: "a", context_length: 1000 }, { id: "b" }] });
  for (const url of [`${fake.baseUrl}/models`, `${fake.url}/models`]) {
    const body = await (await fetch(url)).json();
    assertEquals(body, {
      object: "list",
      data: [{ object: "model", id: "a", context_length: 1000 }, { object: "model", id: "b" }],
    });
  }
  fake.onModels = () => new Response("nope", { status: 503 });
  assertEquals(
    (await fetch(`${fake.baseUrl}/models`).then(async (r) => (await r.body?.cancel(), r))).status,
    503,
  );
});

Deno.test("fake provider: default reply when no script is queued", async () => {
  await using fake = await startFakeProvider();
  const { chunks, done } = await sse(await chat(fake.baseUrl, user("hi")));
  assert(done);
  assertEquals(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), DEFAULT_REPLY);
  assertEquals(chunks.at(-1).choices[0].finish_reason, "stop");
  assertEquals(chunks[0].object, "chat.completion.chunk");
  assertEquals(chunks[0].choices[0].delta.role, "assistant");
});

Deno.test("fake provider: text, reasoning, tool call split over chunks, usage when asked", async () => {
  await using fake = await startFakeProvider();
  fake.script([
    reasoning("hmm"),
    text("Hi"),
    toolCall("read", { path: "/etc/hosts" }, { id: "call_1", chunks: 3 }),
    toolCall("ls", "{}", { id: "call_2" }),
  ]);
  const { chunks, done } = await sse(
    await chat(fake.baseUrl, {
      ...user("go"),
      stream_options: { include_usage: true },
    }),
  );
  assert(done);
  const deltas = chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta);
  assertEquals(deltas[0].reasoning_content, "hmm");
  assertEquals(deltas[1].content, "Hi");
  // first chunk of a call: index, id, name, empty arguments; then index + argument pieces
  assertEquals(deltas[2].tool_calls, [{
    index: 0,
    id: "call_1",
    type: "function",
    function: { name: "read", arguments: "" },
  }]);
  const pieces = deltas.slice(3, 6).map((d) => d.tool_calls[0]);
  assert(pieces.every((p) => p.index === 0 && p.id === undefined));
  assertEquals(pieces.map((p) => p.function.arguments).join(""), JSON.stringify({ path: "/etc/hosts" }));
  assertEquals(deltas[6].tool_calls[0].index, 1);
  const fin = chunks.find((c) => c.choices[0]?.finish_reason);
  assertEquals(fin.choices[0].finish_reason, "tool_calls");
  const last = chunks.at(-1);
  assertEquals(last.choices, []);
  assert(last.usage.prompt_tokens > 0 && last.usage.completion_tokens > 0);
  assertEquals(last.usage.prompt_tokens_details, { cached_tokens: 0 });

  // without include_usage, no usage chunk
  const plain = await sse(await chat(fake.baseUrl, user("go")));
  assert(plain.chunks.every((c) => c.usage === undefined));
});

Deno.test("fake provider: explicit usage, finish and raw steps", async () => {
  await using fake = await startFakeProvider();
  fake.script([
    text("x"),
    finish("length"),
    usage({ promptTokens: 10, completionTokens: 2, cachedTokens: 4, reasoningTokens: 1 }),
    raw({ custom: true }),
  ]);
  const { chunks } = await sse(await chat(fake.baseUrl, user("go")));
  assertEquals(chunks[1].choices[0].finish_reason, "length");
  assertEquals(chunks[2].usage, {
    prompt_tokens: 10,
    completion_tokens: 2,
    total_tokens: 12,
    prompt_tokens_details: { cached_tokens: 4 },
    completion_tokens_details: { reasoning_tokens: 1 },
  });
  assertEquals(chunks[3], { custom: true });
  assertEquals(chunks.length, 4); // no second finish
});

Deno.test("fake provider: records requests; dynamic scripts see them", async () => {
  await using fake = await startFakeProvider();
  fake.script((req) => [text(`echo: ${req.body.messages.at(-1).content}`)]);
  const { chunks } = await sse(await chat(fake.baseUrl, user("ping"), { "x-test": "1" }));
  assertEquals(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), "echo: ping");
  assertEquals(fake.requests.length, 1);
  assertEquals(fake.chatRequests[0].path, "/v1/chat/completions");
  assertEquals(fake.chatRequests[0].body.messages, [{ role: "user", content: "ping" }]);
  assertEquals(fake.chatRequests[0].headers["x-test"], "1");
  assertEquals(fake.pending, 0);
  fake.script([text("a")], [text("b")]);
  assertEquals(fake.pending, 2);
});

Deno.test("fake provider: HTTP errors, auth check", async () => {
  await using fake = await startFakeProvider({ apiKey: "sk-test" });
  const noKey = await chat(fake.baseUrl, user("x"));
  assertEquals(noKey.status, 401);
  assertEquals((await noKey.json()).error.code, "invalid_api_key");
  const models = await fetch(`${fake.baseUrl}/models`);
  assertEquals(models.status, 401);
  await models.body?.cancel();

  fake.script([httpError(429, "slow down", { "retry-after": "3" })]);
  const limited = await chat(fake.baseUrl, user("x"), { authorization: "Bearer sk-test" });
  assertEquals(limited.status, 429);
  assertEquals(limited.headers.get("retry-after"), "3");
  assertEquals((await limited.json()).error.message, "slow down");

  // an error after data: an SSE error chunk, then the end
  fake.script([text("partial"), httpError(500, "mid-stream")]);
  const mid = await sse(await chat(fake.baseUrl, user("x"), { authorization: "Bearer sk-test" }));
  assertEquals(mid.chunks.at(-1).error.message, "mid-stream");
  assertEquals(mid.done, false);
});

Deno.test("fake provider: cache simulation reports the shared message prefix", async () => {
  await using fake = await startFakeProvider();
  const history = [{ role: "system", content: "s".repeat(400) }, {
    role: "user",
    content: "first question",
  }];
  const first = await sse(
    await chat(fake.baseUrl, { messages: history, stream_options: { include_usage: true } }),
  );
  assertEquals(first.chunks.at(-1).usage.prompt_tokens_details.cached_tokens, 0);

  const next = [...history, { role: "assistant", content: "answer" }, { role: "user", content: "second" }];
  const second = await sse(
    await chat(fake.baseUrl, { messages: next, stream_options: { include_usage: true } }),
  );
  const u = second.chunks.at(-1).usage;
  const prefixChars = history.reduce((n, m) => n + JSON.stringify(m).length, 0);
  assertEquals(u.prompt_tokens_details.cached_tokens, Math.ceil(prefixChars / 4));
  assert(u.prompt_tokens > u.prompt_tokens_details.cached_tokens);
  assertEquals(fake.chatRequests[1].cachedTokens, Math.ceil(prefixChars / 4));

  // another model shares no cache
  const other = await sse(
    await chat(fake.baseUrl, { model: "other", messages: next, stream_options: { include_usage: true } }),
  );
  assertEquals(other.chunks.at(-1).usage.prompt_tokens_details.cached_tokens, 0);
});

Deno.test("fake provider: non-streaming requests get one chat.completion", async () => {
  await using fake = await startFakeProvider();
  fake.script([reasoning("r"), text("hello"), toolCall("t", { a: 1 }, { id: "c1" })]);
  const body = await (await chat(fake.baseUrl, { ...user("x"), stream: false })).json();
  assertEquals(body.object, "chat.completion");
  assertEquals(body.choices[0].message.content, "hello");
  assertEquals(body.choices[0].message.reasoning_content, "r");
  assertEquals(body.choices[0].message.tool_calls, [{
    id: "c1",
    type: "function",
    function: { name: "t", arguments: '{"a":1}' },
  }]);
  assertEquals(body.choices[0].finish_reason, "tool_calls");
});

Deno.test("fake provider: stalls end when the client goes away or the server closes", async () => {
  const fake = await startFakeProvider();
  // mid-stream stall: the client cancels the body
  fake.script([text("a"), stall()]);
  const res = await chat(fake.baseUrl, user("x"));
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert(!first.done);
  await reader.cancel();
  // stall before any response: close() must not hang on it
  fake.script([stall()]);
  const pending = chat(fake.baseUrl, user("x")).then(
    async (r) => (await r.body?.cancel(), r.status),
    () => 0,
  );
  await fake.waitForRequests(2);
  const started = performance.now();
  await fake.close();
  assert(performance.now() - started < 1000);
  const status = await pending;
  assert(status !== 200, `a stalled request must not succeed (got ${status})`);
});

Deno.test("fake provider: stall for N ms mid-stream, chunk delays", async () => {
  await using fake = await startFakeProvider();
  fake.script({ steps: [text("a"), stall(150), text("b")], chunkDelayMs: 10 });
  const started = performance.now();
  const { chunks } = await sse(await chat(fake.baseUrl, user("x")));
  assert(performance.now() - started >= 150);
  assertEquals(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), "ab");
});

Deno.test("fake provider: waitForRequests times out with a clear error", async () => {
  await using fake = await startFakeProvider();
  await assertRejects(() => fake.waitForRequests(1, 20), /0 of 1 requests/);
});

Deno.test("fake provider: runs standalone and prints its base URL", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./fake_provider.ts", import.meta.url).pathname,
      "--port",
      "0",
      "--api-key",
      "k",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    const baseUrl = out.trim();
    assert(/^http:\/\/127\.0\.0\.1:\d+\/v1$/.test(baseUrl), baseUrl);
    const res = await fetch(`${baseUrl}/models`, { headers: { authorization: "Bearer k" } });
    assertEquals((await res.json()).data[0].id, "fake-model");
    reader.releaseLock();
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
});
