// The SSE reader of openai_stream.ts against a real loopback server that sends exact bytes in chosen pieces:
// events split anywhere (inside a UTF-8 character too), CRLF, multi-line data, comments, streams without
// [DONE] or without a finish reason, error events, content arrays, interleaved tool calls.
import { assertEquals, assertMatch, assertRejects } from "../../tests/assert.ts";
import { type ModelStreamPart, ProviderError } from "../../src/kernel/mod.ts";
import { chatRequestBody, createOpenAICompatProvider, toUsage } from "./openai_stream.ts";

/** A server answering every chat request with `pieces`, each written (and flushed) on its own. */
function serveRaw(pieces: (string | Uint8Array)[][]) {
  let call = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    await req.body?.cancel();
    const mine = pieces[Math.min(call++, pieces.length - 1)];
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        for (const p of mine) {
          controller.enqueue(typeof p === "string" ? encoder.encode(p) : p);
          await new Promise((r) => setTimeout(r, 1)); // separate writes, so separate reads
        }
        controller.close();
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  });
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}/v1`,
    get calls() {
      return call;
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

const chunk = (delta: Record<string, unknown>, finish: string | null = null, extra = {}) =>
  JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }], ...extra });

async function ask(
  baseUrl: string,
  retry = { maxRetries: 0 },
  fetch?: typeof globalThis.fetch,
): Promise<ModelStreamPart[]> {
  const provider = createOpenAICompatProvider({
    fetch,
    id: "t",
    baseUrl,
    apiKey: "",
    retry: { baseDelayMs: 1, ...retry },
  });
  const parts: ModelStreamPart[] = [];
  for await (
    const p of provider.stream(
      { model: "m", messages: [{ role: "user", content: "x" }], tools: [] },
      new AbortController().signal,
    )
  ) parts.push(p);
  return parts;
}

const text = (parts: ModelStreamPart[]) =>
  parts.map((p) => (p.type === "text-delta" ? p.delta : p.type === "reasoning-delta" ? `<${p.delta}>` : ""))
    .join(
      "",
    );

Deno.test("openai-stream: events split every three bytes, CRLF, multi-line data, comments and other fields", async () => {
  const body = [
    ": a comment\r\n",
    "event: message\r\nid: 1\r\n",
    `data: ${chunk({ role: "assistant", content: "héllo 🐦" })}\r\n\r\n`,
    // one event's JSON over two data lines (joined with a newline, which JSON allows between tokens)
    `data: {"choices":[{"index":0,\ndata: "delta":{"content":" world"},"finish_reason":"stop"}]}\n\n`,
    "data: [DONE]\n\n",
  ].join("");
  const bytes = new TextEncoder().encode(body);
  // three bytes a write: the 4-byte emoji (and every line end) is split across reads
  const pieces = Array.from({ length: Math.ceil(bytes.length / 3) }, (_, i) => bytes.slice(i * 3, i * 3 + 3));
  await using server = serveRaw([pieces]);
  const parts = await ask(server.baseUrl);
  assertEquals(text(parts), "héllo 🐦 world");
  assertEquals(parts.at(-1), { type: "finish", reason: "stop" });
});

Deno.test("openai-stream: many events in one read; reasoning, content arrays, refusal; nothing after [DONE]", async () => {
  const events = [
    chunk({ reasoning: "think" }),
    chunk({ reasoning_content: "ing" }),
    chunk({
      content: [{ type: "text", text: "a" }, { type: "thinking", text: "t" }, { type: "text", text: "" }],
    }),
    chunk({ content: "" }),
    chunk({ refusal: "no" }),
    chunk({}, "length"),
    "[DONE]",
    chunk({ content: "after done" }),
  ];
  await using server = serveRaw([[events.map((e) => `data: ${e}\n\n`).join("")]]);
  const parts = await ask(server.baseUrl);
  assertEquals(text(parts), "<think><ing>a<t>no");
  assertEquals(parts.at(-1), { type: "finish", reason: "length" });
});

Deno.test("openai-stream: interleaved tool calls are accumulated by index and come out in index order; a nameless one is dropped", async () => {
  const call = (index: number, fn: Record<string, unknown>, id?: string) =>
    chunk({ tool_calls: [{ index, ...(id ? { id, type: "function" } : {}), function: fn }] });
  const events = [
    call(1, { name: "b", arguments: "" }, "id_b"),
    call(0, { name: "a", arguments: '{"x"' }, "id_a"),
    call(1, { arguments: '{"y":2}' }),
    call(0, { arguments: ":1}" }),
    call(2, { name: "c" }, "id_c"), // no arguments at all: {}
    call(3, { name: "", arguments: "{}" }, "id_nameless"), // dropped: it cannot be answered
    chunk({}, "tool_calls", { usage: { prompt_tokens: 9, completion_tokens: 3 } }),
    "[DONE]",
  ];
  await using server = serveRaw([events.map((e) => `data: ${e}\n\n`)]);
  const parts = await ask(server.baseUrl);
  assertEquals(parts, [
    { type: "tool-call", toolCallId: "id_a", toolName: "a", input: { x: 1 } },
    { type: "tool-call", toolCallId: "id_b", toolName: "b", input: { y: 2 } },
    { type: "tool-call", toolCallId: "id_c", toolName: "c", input: {} },
    { type: "usage", usage: { inputTokens: 9, outputTokens: 3, cacheReadTokens: 0 } },
    { type: "finish", reason: "tool-calls" },
  ]);
});

Deno.test("openai-stream: a stream that ends without [DONE] after its finish reason is complete", async () => {
  await using server = serveRaw([[`data: ${chunk({ content: "ok" }, "stop")}`]]); // no blank line either
  const parts = await ask(server.baseUrl);
  assertEquals(parts, [{ type: "text-delta", delta: "ok" }, { type: "finish", reason: "stop" }]);
});

Deno.test("openai-stream: cut short, not JSON, [DONE] without a finish reason, an error event", async () => {
  const expectError = async (pieces: string[], code: string, pattern: RegExp) => {
    await using server = serveRaw([pieces]);
    const error = await assertRejects(() => ask(server.baseUrl));
    if (!(error instanceof ProviderError)) throw error;
    assertEquals(error.code, code, error.message);
    assertMatch(error.message, pattern);
  };
  await expectError([`data: ${chunk({ content: "a" })}\n\n`], "provider_unreachable", /broke mid-response/);
  await expectError(["data: {nope\n\n"], "invalid_response", /not JSON: \{nope/);
  await expectError(
    [`data: ${chunk({ content: "a" })}\n\ndata: [DONE]\n\n`],
    "invalid_response",
    /finish reason/,
  );
  await expectError(
    [`data: ${JSON.stringify({ error: { message: "quota", code: "429" } })}\n\n`],
    "rate_limited",
    /HTTP 429: quota/,
  );
  await expectError(
    [`data: ${JSON.stringify({ error: { message: "model crashed" } })}\n\n`],
    "provider_error",
    /mid-response: model crashed/,
  );
  await expectError(["data: 42\n\n"], "invalid_response", /not an object/);
});

Deno.test("openai-stream: a stream cut short before any output is retried", async () => {
  await using server = serveRaw([
    [`data: ${chunk({ role: "assistant" })}\n\n`],
    [`data: ${chunk({ content: "second" }, "stop")}\n\ndata: [DONE]\n\n`],
  ]);
  const parts = await ask(server.baseUrl, { maxRetries: 1 });
  assertEquals(parts.map((p) => p.type), ["retry", "text-delta", "finish"]);
  assertEquals(server.calls, 2);
});

Deno.test("openai-stream: the request body; usage with cache reads and writes", () => {
  assertEquals(
    JSON.stringify(chatRequestBody({
      model: "m",
      messages: [
        {
          role: "assistant",
          parts: [{ type: "tool-call", toolCallId: "c", toolName: "t", input: "{not json" }],
        },
      ],
      tools: [],
      maxOutputTokens: 10,
    })),
    JSON.stringify({
      model: "m",
      max_tokens: 10,
      messages: [{
        role: "assistant",
        content: null,
        tool_calls: [{ id: "c", type: "function", function: { name: "t", arguments: '"{not json"' } }],
      }],
      stream: true,
      stream_options: { include_usage: true },
    }),
  );
  assertEquals(
    toUsage({
      prompt_tokens: 100,
      completion_tokens: 7,
      prompt_tokens_details: { cached_tokens: 60, cache_write_tokens: 40 },
      completion_tokens_details: { reasoning_tokens: 0 },
    }),
    { inputTokens: 100, outputTokens: 7, cacheReadTokens: 60, cacheWriteTokens: 40 },
  );
});

Deno.test("openai-stream: a custom fetch whose body is not a byte stream is read as well", async () => {
  await using server = serveRaw([[
    `data: ${chunk({ content: "a" })}\n\n`,
    `data: ${chunk({ content: "b" }, "stop")}\n\n`,
  ]]);
  const plain: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    return new Response(response.body!.pipeThrough(new TransformStream()), { headers: response.headers });
  };
  assertEquals(text(await ask(server.baseUrl, { maxRetries: 0 }, plain)), "ab");
});
