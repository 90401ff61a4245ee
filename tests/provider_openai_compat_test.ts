// The OpenAI-compatible provider against the real fake server: streaming, history, tools, usage, errors, abort.
import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "./assert.ts";
import {
  drop,
  httpError,
  raw,
  reasoning,
  stall,
  startFakeProvider,
  startFlakyProxy,
  text,
  toolCall,
  usage,
} from "./fake_provider.ts";
import {
  ExtensionHost,
  type LogRecord,
  type ModelMessage,
  type ModelRequest,
  type ModelStreamPart,
  type Provider,
  ProviderError,
  runTurn,
  toolHandle,
} from "../src/kernel/mod.ts";
import { z } from "zod";
import {
  createOpenAICompatProvider,
  listOpenAIModels,
  toOpenAIMessages,
} from "../extensions/provider-openai-compat/openai_stream.ts";
import {
  DEFAULT_RETRY_POLICY,
  retryableStatus,
  retryAfterMs,
  retryDelayMs,
  type RetryPolicy,
  retryPolicyFromEnv,
} from "../extensions/provider-openai-compat/retry.ts";
import * as providerExt from "../extensions/provider-openai-compat/mod.ts";
import * as storeExt from "../extensions/credential-store/mod.ts";
import { createAuthApiKey, manifest as authManifest } from "../extensions/auth-apikey/mod.ts";
import { ModelCatalogKey } from "../extensions/credential-store/api.ts";

const KEY = "sk-test-SECRET-4f9a1c77";

/** Retries after a millisecond or two, so fault tests stay fast; NO_RETRY for one request per call. */
const FAST_RETRY: Partial<RetryPolicy> = { baseDelayMs: 1, maxDelayMs: 20 };
const NO_RETRY: Partial<RetryPolicy> = { maxRetries: 0 };

function providerFor(baseUrl: string, apiKey = KEY, retry: Partial<RetryPolicy> = FAST_RETRY): Provider {
  return createOpenAICompatProvider({ id: "opencode", baseUrl, apiKey, keyEnv: "DISPATCH_API_KEY", retry });
}

const req = (messages: ModelMessage[], extra: Partial<ModelRequest> = {}): ModelRequest => ({
  model: "fake-model",
  messages,
  tools: [],
  ...extra,
});

async function collect(stream: AsyncIterable<ModelStreamPart>): Promise<ModelStreamPart[]> {
  const parts: ModelStreamPart[] = [];
  for await (const p of stream) parts.push(p);
  return parts;
}

const deltas = (parts: ModelStreamPart[], type: "text-delta" | "reasoning-delta") =>
  parts.filter((p): p is Extract<ModelStreamPart, { type: typeof type }> => p.type === type).map((p) =>
    p.delta
  );

/** A port nobody listens on (bound, then released). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function expectProviderError(run: () => Promise<unknown>, code: string, pattern?: RegExp) {
  const error = await assertRejects(run, pattern);
  assert(error instanceof ProviderError, `expected a ProviderError, got ${error}`);
  assertEquals(error.code, code, error.message);
  assert(!error.message.includes(KEY), `the key leaked into: ${error.message}`);
  return error;
}

Deno.test("provider: streams text deltas, usage and finish; sends model, key and include_usage", async () => {
  await using fake = await startFakeProvider({ apiKey: KEY });
  fake.script([text("Hel"), text("lo"), text(" world")]);
  const parts = await collect(
    providerFor(fake.baseUrl).stream(req([{ role: "user", content: "hi" }]), new AbortController().signal),
  );
  assertEquals(deltas(parts, "text-delta"), ["Hel", "lo", " world"]);
  const usagePart = parts.find((p) => p.type === "usage");
  assert(usagePart && usagePart.usage.inputTokens > 0 && usagePart.usage.outputTokens > 0);
  assertEquals(parts.at(-1), { type: "finish", reason: "stop" });
  const sent = fake.chatRequests[0];
  assertEquals(sent.headers.authorization, `Bearer ${KEY}`);
  assertEquals(sent.body.model, "fake-model");
  assertEquals(sent.body.stream, true);
  assertEquals(sent.body.stream_options, { include_usage: true });
  assertEquals(sent.body.messages, [{ role: "user", content: "hi" }]);
  assertEquals(sent.body.tools, undefined);
});

Deno.test("provider: reasoning streams as reasoning-delta and goes back as reasoning_content", async () => {
  await using fake = await startFakeProvider();
  fake.script([reasoning("Let me "), reasoning("think."), text("42")]);
  const provider = providerFor(fake.baseUrl);
  const signal = new AbortController().signal;
  const first = await collect(provider.stream(req([{ role: "user", content: "q" }]), signal));
  assertEquals(deltas(first, "reasoning-delta"), ["Let me ", "think."]);
  assertEquals(deltas(first, "text-delta"), ["42"]);

  // The kernel stores the assistant turn as parts; the next request must carry the reasoning back.
  await collect(provider.stream(
    req([
      { role: "system", content: "be brief" },
      { role: "user", content: "q" },
      {
        role: "assistant",
        parts: [{ type: "reasoning", text: "Let me think." }, { type: "text", text: "42" }],
      },
      { role: "user", content: "why?" },
    ]),
    signal,
  ));
  assertEquals(fake.chatRequests[1].body.messages, [
    { role: "system", content: "be brief" },
    { role: "user", content: "q" },
    { role: "assistant", content: "42", reasoning_content: "Let me think." },
    { role: "user", content: "why?" },
  ]);
});

Deno.test("provider: a streamed tool call with split arguments → one tool-call part; tools sent as schemas", async () => {
  await using fake = await startFakeProvider();
  const args = { path: "/tmp/some/file.txt", limit: 20, flags: ["a", "b"] };
  fake.script([text("Reading."), toolCall("read_file", args, { id: "call_abc", chunks: 5 })]);
  const parts = await collect(
    providerFor(fake.baseUrl).stream(
      req([{ role: "user", content: "read it" }], {
        tools: [{
          name: "read_file",
          description: "Reads a file",
          parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] },
        }],
      }),
      new AbortController().signal,
    ),
  );
  const calls = parts.filter((p) => p.type === "tool-call");
  assertEquals(calls, [{ type: "tool-call", toolCallId: "call_abc", toolName: "read_file", input: args }]);
  assertEquals(parts.at(-1), { type: "finish", reason: "tool-calls" });
  assertEquals(fake.chatRequests[0].body.tools, [{
    type: "function",
    function: {
      name: "read_file",
      description: "Reads a file",
      parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] },
    },
  }]);
  // one model call only: the SDK did not run a tool or loop
  assertEquals(fake.chatRequests.length, 1);
});

Deno.test("provider: unknown tool names and invalid JSON arguments still reach the kernel as tool calls", async () => {
  await using fake = await startFakeProvider();
  fake.script([toolCall("nope", { a: 1 }, { id: "c1" }), toolCall("read_file", "{not json", { id: "c2" })]);
  const parts = await collect(
    providerFor(fake.baseUrl).stream(
      req([{ role: "user", content: "x" }], {
        tools: [{ name: "read_file", description: "r", parameters: { type: "object" } }],
      }),
      new AbortController().signal,
    ),
  );
  assertEquals(parts.filter((p) => p.type === "tool-call"), [
    { type: "tool-call", toolCallId: "c1", toolName: "nope", input: { a: 1 } },
    { type: "tool-call", toolCallId: "c2", toolName: "read_file", input: "{not json" },
  ]);
});

Deno.test("provider: tool history converts to assistant tool_calls and tool messages", async () => {
  await using fake = await startFakeProvider();
  await collect(
    providerFor(fake.baseUrl).stream(
      req([
        { role: "user", content: "list and read" },
        {
          role: "assistant",
          parts: [
            { type: "reasoning", text: "two calls" },
            { type: "tool-call", toolCallId: "c1", toolName: "ls", input: { dir: "." } },
            { type: "tool-call", toolCallId: "c2", toolName: "cat", input: { file: "x" } },
          ],
        },
        {
          role: "tool",
          results: [
            { toolCallId: "c1", toolName: "ls", content: "a b", isError: false },
            { toolCallId: "c2", toolName: "cat", content: "no such file", isError: true },
          ],
        },
      ]),
      new AbortController().signal,
    ),
  );
  assertEquals(fake.chatRequests[0].body.messages, [
    { role: "user", content: "list and read" },
    {
      role: "assistant",
      content: null,
      reasoning_content: "two calls",
      tool_calls: [
        { id: "c1", type: "function", function: { name: "ls", arguments: '{"dir":"."}' } },
        { id: "c2", type: "function", function: { name: "cat", arguments: '{"file":"x"}' } },
      ],
    },
    { role: "tool", tool_call_id: "c1", content: "a b" },
    { role: "tool", tool_call_id: "c2", content: "no such file" },
  ]);
});

Deno.test("provider: usage maps cached and reasoning tokens", async () => {
  await using fake = await startFakeProvider();
  fake.script([
    reasoning("r"),
    text("ok"),
    usage({ promptTokens: 1000, completionTokens: 50, cachedTokens: 800, reasoningTokens: 20 }),
  ]);
  const parts = await collect(
    providerFor(fake.baseUrl).stream(req([{ role: "user", content: "x" }]), new AbortController().signal),
  );
  assertEquals(parts.filter((p) => p.type === "usage"), [{
    type: "usage",
    usage: { inputTokens: 1000, outputTokens: 50, cacheReadTokens: 800, reasoningTokens: 20 },
  }]);
});

Deno.test("provider: the fake's cache simulation shows through as cacheReadTokens on a repeated prefix", async () => {
  await using fake = await startFakeProvider();
  const provider = providerFor(fake.baseUrl);
  const signal = new AbortController().signal;
  const history: ModelMessage[] = [
    { role: "system", content: "You are helpful. ".repeat(50) },
    { role: "user", content: "first" },
  ];
  const usageOf = (parts: ModelStreamPart[]) =>
    parts.find((p): p is Extract<ModelStreamPart, { type: "usage" }> => p.type === "usage")!.usage;
  const cold = usageOf(await collect(provider.stream(req(history), signal)));
  assertEquals(cold.cacheReadTokens, 0);
  const warm = usageOf(
    await collect(provider.stream(
      req([...history, { role: "assistant", parts: [{ type: "text", text: "reply" }] }, {
        role: "user",
        content: "second",
      }]),
      signal,
    )),
  );
  assert(warm.cacheReadTokens! > 0 && warm.cacheReadTokens! < warm.inputTokens, JSON.stringify(warm));
});

Deno.test("provider: reasoningEffort → reasoning_effort; maxOutputTokens → max_tokens", async () => {
  await using fake = await startFakeProvider();
  const provider = providerFor(fake.baseUrl);
  const signal = new AbortController().signal;
  await collect(
    provider.stream(
      req([{ role: "user", content: "x" }], { reasoningEffort: "high", maxOutputTokens: 99 }),
      signal,
    ),
  );
  await collect(provider.stream(req([{ role: "user", content: "x" }]), signal));
  assertEquals(fake.chatRequests[0].body.reasoning_effort, "high");
  assertEquals(fake.chatRequests[0].body.max_tokens, 99);
  assertEquals("reasoning_effort" in fake.chatRequests[1].body, false);
});

Deno.test("provider: HTTP 401/403 → auth, 429 → rate_limited, 5xx → provider_unavailable, 404/400", async () => {
  await using fake = await startFakeProvider({ apiKey: KEY });
  const signal = new AbortController().signal;
  const call = (p: Provider) => () => collect(p.stream(req([{ role: "user", content: "x" }]), signal));
  const wrongKey = "sk-wrong-key-0000";
  const e401 = await expectProviderError(
    call(providerFor(fake.baseUrl, wrongKey, NO_RETRY)),
    "auth",
    /rejected the API key.*DISPATCH_API_KEY/,
  );
  assertEquals(e401.status, 401);
  assert(!e401.message.includes(wrongKey));

  const good = providerFor(fake.baseUrl, KEY, NO_RETRY);
  fake.script([httpError(403, "forbidden")]);
  await expectProviderError(call(good), "auth", /HTTP 403: forbidden/);
  fake.script([httpError(429, "Too many requests", { "retry-after": "7" })]);
  const e429 = await expectProviderError(
    call(good),
    "rate_limited",
    /HTTP 429: Too many requests.*retry after 7s/,
  );
  assertEquals(e429.status, 429);
  fake.script([httpError(500, "internal")]);
  await expectProviderError(call(good), "provider_unavailable", /HTTP 500: internal/);
  fake.script([{ type: "http-error", status: 502, body: "<html><body>Bad Gateway</body></html>" }]);
  await expectProviderError(call(good), "provider_unavailable", /HTTP 502/);
  fake.script([httpError(404, "The model `fake-model` does not exist")]);
  await expectProviderError(call(good), "not_found", /model "fake-model" not found/);
  fake.script([httpError(400, "context length exceeded")]);
  await expectProviderError(call(good), "bad_request", /context length exceeded/);
  // retries off: one request per call
  assertEquals(fake.chatRequests.length, 7);
});

Deno.test("provider: an error after data started → ProviderError; a dropped connection → provider_unreachable", async () => {
  await using fake = await startFakeProvider();
  const provider = providerFor(fake.baseUrl, KEY, NO_RETRY);
  const signal = new AbortController().signal;
  const seen: ModelStreamPart[] = [];
  fake.script([text("partial"), httpError(503, "overloaded")]);
  await expectProviderError(
    async () => {
      for await (const p of provider.stream(req([{ role: "user", content: "x" }]), signal)) seen.push(p);
    },
    "provider_unavailable",
    /overloaded/,
  );
  assertEquals(deltas(seen, "text-delta"), ["partial"]);

  fake.script([text("partial"), drop()]);
  await expectProviderError(
    () => collect(provider.stream(req([{ role: "user", content: "x" }]), signal)),
    "provider_unreachable",
    /broke mid-response/,
  );
});

Deno.test("provider: connection refused → provider_unreachable naming the URL", async () => {
  const baseUrl = `http://127.0.0.1:${closedPort()}/v1`;
  const provider = providerFor(baseUrl);
  const e = await expectProviderError(
    () => collect(provider.stream(req([{ role: "user", content: "x" }]), new AbortController().signal)),
    "provider_unreachable",
    /connection refused/,
  );
  assertMatch(e.message, new RegExp(baseUrl.replaceAll(".", "\\.")));
  await expectProviderError(() => provider.listModels(), "provider_unreachable", /connection refused/);
});

Deno.test("provider: abort during a stall (before and after the first chunk) ends the stream within ~100 ms", async () => {
  await using fake = await startFakeProvider();
  const provider = providerFor(fake.baseUrl);
  for (const script of [[stall()], [text("a"), stall()]]) {
    fake.script(script);
    const ac = new AbortController();
    const parts: ModelStreamPart[] = [];
    const done = (async () => {
      for await (const p of provider.stream(req([{ role: "user", content: "x" }]), ac.signal)) {
        parts.push(p);
      }
    })();
    await fake.waitForRequests(fake.requests.length + 1);
    await new Promise((r) => setTimeout(r, 50));
    const abortedAt = performance.now();
    ac.abort();
    await done; // ends without throwing
    const took = performance.now() - abortedAt;
    assert(took < 100, `stream took ${took.toFixed(0)} ms to end after abort`);
    assertEquals(parts.some((p) => p.type === "finish"), false);
  }
  // already aborted: nothing is sent
  const ac = new AbortController();
  ac.abort();
  const before = fake.chatRequests.length;
  assertEquals(await collect(provider.stream(req([{ role: "user", content: "x" }]), ac.signal)), []);
  assertEquals(fake.chatRequests.length, before);
});

Deno.test("provider: listModels reads ids and context windows; errors map like calls", async () => {
  await using fake = await startFakeProvider({
    apiKey: KEY,
    models: [
      { id: "a", context_length: 128000 },
      { id: "b", context_window: 64000 },
      { id: "org/c" },
    ],
  });
  const provider = providerFor(fake.baseUrl);
  assertEquals(await provider.listModels(), [
    { id: "a", contextWindow: 128000 },
    { id: "b", contextWindow: 64000 },
    { id: "org/c" },
  ]);
  assertEquals(fake.requests.at(-1)!.headers.authorization, `Bearer ${KEY}`);
  assertEquals(fake.requests.at(-1)!.path, "/v1/models");

  await expectProviderError(() => providerFor(fake.baseUrl, "sk-bad-key").listModels(), "auth");
  fake.onModels = () => Response.json({ error: { message: "down" } }, { status: 503 });
  await expectProviderError(() => provider.listModels(), "provider_unavailable", /down/);
  fake.onModels = () => new Response("<html>", { status: 200 });
  await expectProviderError(() => provider.listModels(), "invalid_response", /did not answer JSON/);
  fake.onModels = (_req, signal) =>
    new Promise((r) => signal.addEventListener("abort", () => r(new Response(""))));
  await expectProviderError(() => provider.listModels(AbortSignal.timeout(50)), "aborted", /timed out/);
});

Deno.test("provider: the API key never shows in errors or in anything logged", async () => {
  const fake = await startFakeProvider({ apiKey: KEY });
  const logged: string[] = [];
  const original = { log: console.log, error: console.error, warn: console.warn, info: console.info };
  const capture = (...args: unknown[]) =>
    void logged.push(args.map((a) => Deno.inspect(a, { depth: 10 })).join(" "));
  console.log =
    console.error =
    console.warn =
    console.info =
      capture;
  try {
    const signal = new AbortController().signal;
    const call = (p: Provider) => () => collect(p.stream(req([{ role: "user", content: "x" }]), signal));
    const good = providerFor(fake.baseUrl, KEY, { ...FAST_RETRY, maxRetries: 1 });
    // a provider that echoes the key back in its error message
    fake.script([httpError(401, `Incorrect API key provided: ${KEY}`)]);
    await expectProviderError(call(good), "auth");
    // retried once: the retry part's message is redacted as well
    fake.script([httpError(429, `key ${KEY} over quota`)], [httpError(429, `key ${KEY} over quota`)]);
    await expectProviderError(async () => {
      for await (const p of good.stream(req([{ role: "user", content: "x" }]), signal)) {
        logged.push(JSON.stringify(p));
      }
    }, "rate_limited");
    fake.script([text("x"), httpError(500, `boom for ${KEY}`)]);
    await expectProviderError(call(good), "provider_unavailable");
    fake.onModels = () => Response.json({ error: { message: `bad ${KEY}` } }, { status: 500 });
    await expectProviderError(() => good.listModels(), "provider_unavailable");
    await expectProviderError(
      call(providerFor(`http://127.0.0.1:${closedPort()}/v1`, KEY, NO_RETRY)),
      "provider_unreachable",
    );
    // and the daemon side: activation logs
    const records: LogRecord[] = [];
    const host = new ExtensionHost({ sink: { write: (r) => records.push(r) } });
    await host.boot([{
      manifest: authManifest,
      ...createAuthApiKey({ DISPATCH_API_KEY: KEY, DISPATCH_BASE_URL: fake.baseUrl, UMANS_API_KEY: KEY }),
    }]);
    await host.shutdown();
    assert(records.length > 0);
    logged.push(...records.map((r) => JSON.stringify(r)));
  } finally {
    Object.assign(console, original);
    await fake.close();
  }
  for (const line of logged) assert(!line.includes(KEY), `the key leaked into: ${line}`);
});

Deno.test("provider: toOpenAIMessages drops empty assistant/tool messages", () => {
  assertEquals(
    toOpenAIMessages([
      { role: "user", content: "a" },
      { role: "assistant", parts: [] },
      { role: "tool", results: [] },
    ]),
    [{ role: "user", content: "a" }],
  );
});

Deno.test("provider: listOpenAIModels accepts a bare list and trailing slashes", async () => {
  await using fake = await startFakeProvider();
  fake.onModels = () => Response.json([{ id: "x", max_model_len: 4096 }, { nope: 1 }]);
  assertEquals(await listOpenAIModels({ id: "t", baseUrl: `${fake.baseUrl}/`, apiKey: "" }), [
    { id: "x", contextWindow: 4096 },
  ]);
  assertEquals(fake.requests[0].headers.authorization, undefined);
});

// ---------------------------------------------------------------- through the extensions and the kernel

Deno.test("extensions: auth-apikey → credential-store → provider-openai-compat, then a kernel turn with a tool", async () => {
  await using fake = await startFakeProvider({
    apiKey: KEY,
    models: [{ id: "fake-model", context_length: 32000 }],
  });
  const host = new ExtensionHost({ sink: { write: () => {} } });
  try {
    await host.boot([
      {
        manifest: authManifest,
        ...createAuthApiKey({
          DISPATCH_API_KEY: KEY,
          DISPATCH_BASE_URL: fake.baseUrl,
          DISPATCH_MODEL: "fake-model",
        }),
      },
      { manifest: storeExt.manifest, activate: storeExt.activate },
      { manifest: providerExt.manifest, activate: providerExt.activate },
    ]);
    assertEquals(host.list().map((s) => s.status), ["active", "active", "active"]);
    const catalog = host.services.require(ModelCatalogKey);
    assertEquals(catalog.defaultModel(), "opencode/fake-model");
    const listing = await catalog.list();
    assertEquals(listing.models, ["opencode/fake-model"]);
    assertEquals(await catalog.info("opencode/fake-model"), {
      id: "opencode/fake-model",
      contextWindow: 32000,
    });
    const { provider, model } = catalog.resolve(catalog.defaultModel()!);

    fake.script(
      [reasoning("I should look."), toolCall("lookup", { word: "bird" }, { id: "call_1", chunks: 4 })],
      [text("It is a pelican.")],
    );
    const lookup = toolHandle({
      name: "lookup",
      description: "Looks a word up",
      inputSchema: z.object({ word: z.string() }),
      execute: ({ word }) => Promise.resolve(`${word}: pelican`),
    });
    const events = [];
    const turn = runTurn({
      conversationId: "c1",
      turnId: "t1",
      provider,
      model,
      messages: [{ role: "user", content: "what bird?" }],
      tools: [lookup],
      signal: new AbortController().signal,
    });
    let next = await turn.next();
    while (!next.done) {
      events.push(next.value);
      next = await turn.next();
    }
    assertEquals(next.value.reason, "stop");
    assertEquals(
      events.filter((e) => e.type === "text-delta").map((e) => (e as { delta: string }).delta).join(""),
      "It is a pelican.",
    );
    const second = fake.chatRequests[1].body.messages;
    assertEquals(second[1], {
      role: "assistant",
      content: null,
      reasoning_content: "I should look.",
      tool_calls: [{
        id: "call_1",
        type: "function",
        function: { name: "lookup", arguments: '{"word":"bird"}' },
      }],
    });
    assertEquals(second[2], { role: "tool", tool_call_id: "call_1", content: "bird: pelican" });
  } finally {
    await host.shutdown();
  }
});

// ---------------------------------------------------------------- faults: retries, backoff, stalls

type RetryPart = Extract<ModelStreamPart, { type: "retry" }>;
const retries = (parts: ModelStreamPart[]) => parts.filter((p): p is RetryPart => p.type === "retry");
const ask = (p: Provider, signal = new AbortController().signal) =>
  collect(p.stream(req([{ role: "user", content: "x" }]), signal));

Deno.test("faults: 429 with Retry-After waits what it says, announces the retry, then completes", async () => {
  await using fake = await startFakeProvider();
  fake.script([httpError(429, "slow down", { "retry-after": "1" })], [text("after the wait")]);
  const started = performance.now();
  const parts = await ask(providerFor(fake.baseUrl, KEY, { baseDelayMs: 1 }));
  const waited = performance.now() - started;
  const [retry] = retries(parts);
  assertEquals(retries(parts).length, 1);
  assertEquals([retry.attempt, retry.code], [0, "rate_limited"]);
  assert(retry.delayMs >= 1000 && retry.delayMs <= 1100, `delay ${retry.delayMs}`);
  assertMatch(retry.message, /opencode: rate limited \(HTTP 429: slow down\)/);
  assertEquals(deltas(parts, "text-delta"), ["after the wait"]);
  assert(waited >= 1000, `retried after ${waited.toFixed(0)} ms`); // a lower bound: never flaky
  assertEquals(fake.chatRequests.length, 2);
  // retry-after-ms (OpenAI's header) wins over retry-after
  fake.script([httpError(429, "x", { "retry-after-ms": "30", "retry-after": "9" })], [text("ok")]);
  const fast = retries(await ask(providerFor(fake.baseUrl, KEY, { baseDelayMs: 1 })));
  assert(fast[0].delayMs >= 30 && fast[0].delayMs <= 33, `delay ${fast[0].delayMs}`);
});

Deno.test("faults: 503s then success; 408/409 are retried too; attempts count from 0", async () => {
  await using fake = await startFakeProvider();
  fake.script([httpError(503, "overloaded")], [httpError(503, "overloaded")], [text("finally")]);
  const parts = await ask(providerFor(fake.baseUrl));
  assertEquals(retries(parts).map((r) => [r.attempt, r.code]), [[0, "provider_unavailable"], [
    1,
    "provider_unavailable",
  ]]);
  assertMatch(retries(parts)[0].message, /HTTP 503: overloaded/);
  assertEquals(deltas(parts, "text-delta"), ["finally"]);
  assertEquals(parts.at(-1), { type: "finish", reason: "stop" });
  fake.script([httpError(408, "timeout")], [httpError(409, "conflict")], [text("ok")]);
  assertEquals(retries(await ask(providerFor(fake.baseUrl))).length, 2);
  assertEquals(fake.chatRequests.length, 6);
});

Deno.test("faults: after the limit the call fails naming the provider, the status and the attempts", async () => {
  await using fake = await startFakeProvider();
  fake.script(...Array.from({ length: 3 }, () => [httpError(500, "internal")]));
  const provider = providerFor(fake.baseUrl, KEY, { ...FAST_RETRY, maxRetries: 2 });
  const seen: ModelStreamPart[] = [];
  const error = await expectProviderError(async () => {
    for await (
      const p of provider.stream(req([{ role: "user", content: "x" }]), new AbortController().signal)
    ) {
      seen.push(p);
    }
  }, "provider_unavailable");
  assertMatch(error.message, /^opencode: .*HTTP 500: internal.*gave up after 3 attempts/);
  assertEquals(error.status, 500);
  assertEquals(retries(seen).map((r) => r.attempt), [0, 1]);
  assertEquals(fake.chatRequests.length, 3);
  assertEquals(fake.pending, 0);
  // a Retry-After beyond DISPATCH_PROVIDER_RETRY_MAX_MS is not waited for
  fake.script([httpError(429, "daily quota", { "retry-after": "3600" })]);
  const long = await expectProviderError(() => ask(provider), "rate_limited");
  assertMatch(long.message, /asks to wait 3600 s/);
  assertEquals(fake.chatRequests.length, 4);
});

Deno.test("faults: 400, 401, 404 and 422 are not retried", async () => {
  await using fake = await startFakeProvider();
  const provider = providerFor(fake.baseUrl);
  for (
    const [status, code] of [[400, "bad_request"], [401, "auth"], [404, "not_found"], [422, "bad_request"]]
  ) {
    const before = fake.chatRequests.length;
    fake.script([httpError(status as number, "no")], [text("must not be asked for")]);
    const seen: ModelStreamPart[] = [];
    await expectProviderError(async () => {
      for await (
        const p of provider.stream(req([{ role: "user", content: "x" }]), new AbortController().signal)
      ) {
        seen.push(p);
      }
    }, code as string);
    assertEquals(retries(seen), []);
    assertEquals(fake.chatRequests.length, before + 1, `HTTP ${status} was retried`);
    fake.reset();
    await ask(provider); // consumes the unused script
  }
});

Deno.test("faults: a connection reset before any response is retried, then completes", async () => {
  await using fake = await startFakeProvider();
  const proxy = startFlakyProxy(fake, 2);
  try {
    fake.script([text("through")]);
    const parts = await ask(providerFor(proxy.baseUrl));
    assertEquals(retries(parts).map((r) => r.code), ["provider_unreachable", "provider_unreachable"]);
    assertMatch(retries(parts)[0].message, /opencode: (cannot reach|the connection to) /);
    assertEquals(deltas(parts, "text-delta"), ["through"]);
    assertEquals(fake.chatRequests.length, 1);
    assert(proxy.connections >= 3);
  } finally {
    proxy.close();
  }
  // a body that breaks before anything was parsed is retried as well
  fake.script([drop()], [text("second try")]);
  const parts = await ask(providerFor(fake.baseUrl));
  assertEquals(retries(parts).map((r) => r.code), ["provider_unreachable"]);
  assertEquals(deltas(parts, "text-delta"), ["second try"]);
});

Deno.test("faults: a stall (before headers, before any output) hits the stall timeout and is retried", async () => {
  await using fake = await startFakeProvider();
  const provider = providerFor(fake.baseUrl, KEY, { ...FAST_RETRY, stallTimeoutMs: 150 });
  // a leading stall: no response headers at all; then a stream that stalls after a role-only chunk
  const roleOnly = {
    id: "chatcmpl-role",
    object: "chat.completion.chunk",
    created: 0,
    model: "fake-model",
    choices: [{ index: 0, delta: { role: "assistant" }, finish_reason: null }],
  };
  fake.script([stall()], [raw(roleOnly), stall()], [text("awake")]);
  const parts = await ask(provider);
  assertEquals(retries(parts).map((r) => r.code), ["provider_stalled", "provider_stalled"]);
  assertMatch(
    retries(parts)[0].message,
    /opencode: .* sent nothing for 150 ms \(DISPATCH_STALL_TIMEOUT_MS\)/,
  );
  assertEquals(deltas(parts, "text-delta"), ["awake"]);
  // a slow but steady stream is not a stall: the gaps are each below the timeout
  fake.script({ steps: [text("a"), text("b"), text("c"), text("d")], chunkDelayMs: 60 });
  const slow = await ask(provider);
  assertEquals(retries(slow), []);
  assertEquals(deltas(slow, "text-delta").join(""), "abcd");
});

Deno.test("faults: a failure after output was shown is not replayed; the shown part stays", async () => {
  await using fake = await startFakeProvider();
  const provider = providerFor(fake.baseUrl, KEY, { ...FAST_RETRY, stallTimeoutMs: 150 });
  for (
    const script of [[text("half an ans"), stall()], [text("half an ans"), httpError(503, "overloaded")]]
  ) {
    fake.reset();
    fake.script(script, [text("must not be asked for")]);
    const seen: ModelStreamPart[] = [];
    const error = await assertRejects(async () => {
      for await (
        const p of provider.stream(req([{ role: "user", content: "x" }]), new AbortController().signal)
      ) {
        seen.push(p);
      }
    });
    assert(error instanceof ProviderError);
    assertMatch(error.message, /not retried, as part of the answer was already shown/);
    assertEquals(deltas(seen, "text-delta"), ["half an ans"]);
    assertEquals(retries(seen), []);
    assertEquals(fake.chatRequests.length, 1);
    await ask(provider); // consumes the unused script
  }
});

Deno.test("faults: abort during a retry wait ends the stream at once, without another request", async () => {
  await using fake = await startFakeProvider();
  fake.script([httpError(503, "busy")]);
  const provider = providerFor(fake.baseUrl, KEY, { baseDelayMs: 60_000, maxDelayMs: 60_000 });
  const ac = new AbortController();
  const parts: ModelStreamPart[] = [];
  for await (const p of provider.stream(req([{ role: "user", content: "x" }]), ac.signal)) {
    parts.push(p);
    if (p.type === "retry") ac.abort();
  }
  assertEquals(parts.map((p) => p.type), ["retry"]);
  assertEquals(fake.chatRequests.length, 1);
});

Deno.test("faults: runTurn forwards a provider's retries as provider-retry events", async () => {
  await using fake = await startFakeProvider();
  fake.script([httpError(429, "slow down", { "retry-after-ms": "5" })], [text("done")]);
  const turn = runTurn({
    conversationId: "c1",
    turnId: "t1",
    provider: providerFor(fake.baseUrl),
    model: "fake-model",
    messages: [{ role: "user", content: "x" }],
    tools: [],
    signal: new AbortController().signal,
  });
  const events = [];
  for await (const e of turn) events.push(e);
  const retry = events.find((e) => e.type === "provider-retry")!;
  assertEquals({ ...retry, delayMs: 0, message: "" }, {
    type: "provider-retry",
    conversationId: "c1",
    turnId: "t1",
    attempt: 0,
    delayMs: 0,
    message: "",
    code: "rate_limited",
  });
  assertEquals(events.map((e) => e.type).slice(0, 3), ["turn-start", "provider-retry", "text-delta"]);
  assertEquals(events.at(-1)!.type, "done");
});

Deno.test("faults: retry policy: backoff doubles with jitter and a cap; Retry-After forms; env parsing", () => {
  const policy = { baseDelayMs: 1000, maxDelayMs: 8000 };
  assertEquals([0, 1, 2, 3, 4].map((a) => retryDelayMs(a, policy, undefined, () => 0)), [
    500,
    1000,
    2000,
    4000,
    4000,
  ]);
  assertEquals([0, 1, 2, 3, 4].map((a) => retryDelayMs(a, policy, undefined, () => 1)), [
    1000,
    2000,
    4000,
    8000,
    8000,
  ]);
  assertEquals(retryDelayMs(3, policy, 1500, () => 1), 1650);
  const now = Date.parse("2026-12-01T09:00:00Z");
  assertEquals(retryAfterMs({ "Retry-After": "2" }, now), 2000);
  assertEquals(retryAfterMs({ "retry-after": "0.5" }, now), 500);
  assertEquals(retryAfterMs({ "retry-after": "Tue, 01 Dec 2026 09:00:30 GMT" }, now), 30_000);
  assertEquals(retryAfterMs({ "retry-after": "soon" }, now), undefined);
  assertEquals(retryAfterMs(undefined, now), undefined);
  assertEquals([408, 409, 429, 500, 503, 599].map(retryableStatus), [true, true, true, true, true, true]);
  assertEquals([400, 401, 403, 404, 413, 422].map(retryableStatus), [
    false,
    false,
    false,
    false,
    false,
    false,
  ]);
  assertEquals(retryPolicyFromEnv({}), DEFAULT_RETRY_POLICY);
  assertEquals(DEFAULT_RETRY_POLICY.stallTimeoutMs, 120_000);
  assertEquals(
    retryPolicyFromEnv({ DISPATCH_STALL_TIMEOUT_MS: "500", DISPATCH_PROVIDER_MAX_RETRIES: "0" }),
    { ...DEFAULT_RETRY_POLICY, stallTimeoutMs: 500, maxRetries: 0 },
  );
  for (const bad of ["-1", "1.5", "ten", "0"]) {
    const error = assertThrows(() => retryPolicyFromEnv({ DISPATCH_STALL_TIMEOUT_MS: bad }));
    assertMatch((error as Error).message, /DISPATCH_STALL_TIMEOUT_MS must be/);
  }
});
