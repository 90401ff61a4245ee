// openai-stream: a lean OpenAI-compatible chat-completions client, shared by every provider extension that
// speaks this protocol (the DISPATCH_* endpoint, Umans, ...). One `stream()` is one model call: fetch, then
// a line-based SSE reader over the byte stream (decoded once, one JSON.parse per event, cheap shape checks
// only), tool-call arguments accumulated by index, usage with cached tokens, `[DONE]`. Tools go to the model as
// schemas only; the kernel owns the tool loop. Transient failures (429, 5xx, a broken connection, a stall) are
// retried here, announced as `retry` parts, as long as nothing of the answer was yielded yet.
//
// It replaced the AI SDK (`ai` + `@ai-sdk/openai-compatible`) on this path: the SDK validated every SSE chunk
// with zod and passed it through a chain of web TransformStreams, and alone reached 6% of the provider's direct
// rate (bench/README.md); this reader is what the daemon's throughput targets needed.
import {
  type ModelInfo,
  type ModelMessage,
  type ModelRequest,
  type ModelStreamPart,
  type Provider,
  ProviderError,
  type Usage,
} from "../../src/kernel/mod.ts";
import {
  DEFAULT_RETRY_POLICY,
  retryableStatus,
  retryAfterMs,
  retryDelayMs,
  type RetryPolicy,
  sleep,
  StallWatchdog,
} from "./retry.ts";

export interface OpenAICompatOptions {
  /** The provider's id: the credential name (`opencode`, `umans`); names it in error messages. */
  id: string;
  /** Base URL of the API, e.g. `https://api.example.com/v1` (`/chat/completions`, `/models` are appended). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; empty sends no Authorization header. */
  apiKey: string;
  /** Where the key came from (e.g. `DISPATCH_API_KEY`), named in auth errors so a person knows what to fix. */
  keyEnv?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** A fetch to use instead of the global one (tests, proxies). */
  fetch?: typeof fetch;
  /** Retry and stall settings; unset fields take DEFAULT_RETRY_POLICY's. */
  retry?: Partial<RetryPolicy>;
}

/** Builds a Provider for one OpenAI-compatible endpoint. */
export function createOpenAICompatProvider(opts: OpenAICompatOptions): Provider {
  const baseUrl = opts.baseUrl.replace(/\/+$/, "");
  const url = `${baseUrl}/chat/completions`;
  const policy = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
  const where = { id: opts.id, baseUrl, apiKey: opts.apiKey, keyEnv: opts.keyEnv };
  const doFetch = opts.fetch ?? fetch;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "text/event-stream",
    ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
    ...opts.headers,
  };

  /** Sends one attempt's request: the body of a 2xx answer, or the ProviderError of any other. */
  async function open(body: string, at: Where, signal: AbortSignal, watchdog: StallWatchdog, failed: Failed) {
    watchdog.kick();
    const response = await doFetch(url, {
      method: "POST",
      headers,
      body,
      signal: AbortSignal.any([signal, watchdog.signal]),
    });
    watchdog.kick();
    if (response.ok && response.body) return new ChatStream(response.body, at, watchdog, signal);
    const text = await response.text().catch(() => "");
    const responseHeaders = Object.fromEntries(response.headers);
    failed.waitMs = retryAfterMs(responseHeaders);
    throw httpError(at, response.status, providerMessage(text) ?? response.statusText, {
      retryAfter: responseHeaders["retry-after"] ?? null,
    });
  }

  return {
    id: opts.id,
    listModels: (signal) => listOpenAIModels({ ...opts, baseUrl }, signal),
    async *stream(request: ModelRequest, signal: AbortSignal): AsyncGenerator<ModelStreamPart> {
      const at = { ...where, model: request.model };
      const body = JSON.stringify(chatRequestBody(request));
      for (let retry = 0;; retry++) {
        if (signal.aborted) return;
        const watchdog = new StallWatchdog(policy.stallTimeoutMs);
        const failed: Failed = {};
        let shown = false;
        let failure: ProviderError;
        let call: ChatStream | undefined;
        try {
          call = await open(body, at, signal, watchdog, failed);
          // One await per network read, not per part: a read's parts are yielded from an array.
          for (let parts = await call.read(); parts; parts = await call.read()) {
            for (const part of parts) {
              shown = true;
              yield part;
            }
          }
          return;
        } catch (error) {
          if (signal.aborted) return;
          failure = watchdog.stalled ? stallError(at, policy.stallTimeoutMs) : toProviderError(error, at);
        } finally {
          watchdog.stop();
          call?.close();
        }
        // Output already reached the turn: a second call would answer anew and contradict it (see README).
        if (shown) {
          throw new ProviderError(
            `${failure.message}; not retried, as part of the answer was already shown (it is kept: ` +
              `send a message to continue)`,
            failure.code,
            failure.status,
          );
        }
        if (!retryable(failure)) throw failure;
        if (retry >= policy.maxRetries) {
          throw new ProviderError(
            policy.maxRetries === 0
              ? failure.message
              : `${failure.message}; gave up after ${retry + 1} attempts`,
            failure.code,
            failure.status,
          );
        }
        const waitMs = failed.waitMs;
        if (waitMs !== undefined && waitMs > policy.maxDelayMs) {
          throw new ProviderError(
            `${failure.message}; not retried: the provider asks to wait ${Math.ceil(waitMs / 1000)} s, ` +
              `more than DISPATCH_PROVIDER_RETRY_MAX_MS (${policy.maxDelayMs} ms)`,
            failure.code,
            failure.status,
          );
        }
        const delayMs = retryDelayMs(retry, policy, waitMs);
        yield { type: "retry", attempt: retry, delayMs, message: failure.message, code: failure.code };
        if (!(await sleep(delayMs, signal))) return;
      }
    },
  };
}

/** Transient failures: 408/409/429/5xx, a connection that failed or broke, a stall. */
function retryable(error: ProviderError): boolean {
  if (error.status !== undefined) return retryableStatus(error.status);
  return error.code === "provider_unreachable" || error.code === "provider_stalled";
}

function stallError(where: Where, ms: number): ProviderError {
  return new ProviderError(
    `${where.id}: ${where.baseUrl} sent nothing for ${ms} ms (DISPATCH_STALL_TIMEOUT_MS)`,
    "provider_stalled",
  );
}

function brokenError(where: Where, why: string): ProviderError {
  return new ProviderError(
    redact(`${where.id}: the connection to ${where.baseUrl} broke mid-response (${why})`, where),
    "provider_unreachable",
  );
}

function invalidError(where: Where, why: string): ProviderError {
  return new ProviderError(
    redact(`${where.id}: the provider sent a response that could not be understood: ${why}`, where),
    "invalid_response",
  );
}

/** Where an error response's Retry-After goes. */
interface Failed {
  waitMs?: number;
}

/**
 * One response body read as SSE: `read()` waits for the next network read and returns the parts it carried
 * (possibly none), then the closing parts (tool calls, usage, finish), then undefined. Lines are split on
 * `\n` (a `\r` before it dropped), `data:` lines gathered until the empty line that ends their event.
 */
class ChatStream {
  readonly #reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;
  /** The BYOB reader's buffer, handed back and forth: a default reader allocates 64 KiB per read. */
  #buffer16k: Uint8Array | undefined;
  readonly #decoder = new TextDecoder();
  readonly #state = new CallState();
  #buffer = "";
  #data: string | undefined; // the data lines of the event being read
  #ended = false;
  #pending: unknown; // an error met after parts of the same read: thrown once those are yielded

  constructor(
    body: ReadableStream<Uint8Array>,
    readonly at: Where,
    readonly watchdog: StallWatchdog,
    readonly signal: AbortSignal,
  ) {
    try {
      this.#reader = body.getReader({ mode: "byob" });
      this.#buffer16k = new Uint8Array(16 * 1024);
    } catch { // not a byte stream (a custom fetch's body)
      this.#reader = body.getReader();
    }
  }

  async #next(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (!this.#buffer16k) return await (this.#reader as ReadableStreamDefaultReader<Uint8Array>).read();
    const result = await (this.#reader as ReadableStreamBYOBReader).read(this.#buffer16k);
    if (result.value) this.#buffer16k = new Uint8Array(result.value.buffer);
    return result as ReadableStreamReadResult<Uint8Array>;
  }

  async read(): Promise<ModelStreamPart[] | undefined> {
    const state = this.#state;
    if (this.#pending !== undefined) throw this.#pending;
    if (this.#ended) return undefined;
    if (state.done) {
      this.#ended = true;
      this.close();
      return state.finish(this.at);
    }
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await this.#next();
    } catch (error) {
      if (this.signal.aborted || this.watchdog.stalled) throw error;
      throw brokenError(this.at, networkReason(error) ?? "connection lost");
    }
    this.watchdog.kick();
    let buffer = this.#buffer;
    if (chunk.done) buffer += this.#decoder.decode() + "\n";
    else buffer += this.#decoder.decode(chunk.value, { stream: true });
    state.parts = [];
    try {
      this.#lines(buffer, chunk.done);
    } catch (error) {
      if (state.parts.length === 0) throw error;
      this.#pending = error;
    }
    return state.parts;
  }

  #lines(buffer: string, last: boolean | undefined): void {
    const state = this.#state;
    let start = 0;
    for (let nl = buffer.indexOf("\n"); nl !== -1 && !state.done; nl = buffer.indexOf("\n", start)) {
      const end = nl > start && buffer.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      const line = buffer.slice(start, end);
      start = nl + 1;
      if (line.length === 0) {
        if (this.#data !== undefined) this.#event(this.#data);
        this.#data = undefined;
      } else if (line.startsWith("data:")) {
        const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
        this.#data = this.#data === undefined ? value : `${this.#data}\n${value}`;
      } // comments (":") and other fields (event:, id:, retry:) carry nothing here
    }
    this.#buffer = start === 0 ? buffer : buffer.slice(start);
    if (last && !state.done) {
      if (this.#data !== undefined) this.#event(this.#data);
      this.#data = undefined;
      if (!state.done && state.finishReason === undefined) {
        throw brokenError(this.at, "it ended before the response was complete");
      }
      state.done = true;
    }
  }

  /** Stops reading (the connection is given back or closed). */
  close(): void {
    this.#reader.cancel().catch(() => {});
  }

  #event(data: string): void {
    if (data === "[DONE]") {
      this.#state.done = true;
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      throw invalidError(this.at, `an event is not JSON: ${short(data, 120)}`);
    }
    this.#state.read(parsed, this.at);
  }
}

// ---------------------------------------------------------------- the request

/** The chat-completions request body of one streamed call. */
export function chatRequestBody(request: ModelRequest): Record<string, unknown> {
  return {
    model: request.model,
    max_tokens: request.maxOutputTokens,
    reasoning_effort: request.reasoningEffort || undefined,
    messages: toOpenAIMessages(request.messages),
    tools: request.tools.length
      ? request.tools.map((t) => ({
        type: "function",
        function: { name: t.name, description: t.description, parameters: t.parameters },
      }))
      : undefined,
    stream: true,
    stream_options: { include_usage: true },
  };
}

/**
 * Kernel messages → chat-completions messages. Reasoning goes back as `reasoning_content`; empty assistant and
 * tool messages are dropped. Deterministic: the same history gives the same bytes (prompt caching needs it).
 */
export function toOpenAIMessages(messages: ModelMessage[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const m of messages) {
    switch (m.role) {
      case "system":
      case "user":
        out.push({ role: m.role, content: m.content });
        break;
      case "assistant": {
        if (m.parts.length === 0) break;
        let text = "";
        let reasoning = "";
        const toolCalls: Record<string, unknown>[] = [];
        for (const p of m.parts) {
          if (p.type === "text") text += p.text;
          else if (p.type === "reasoning") reasoning += p.text;
          else {
            toolCalls.push({
              id: p.toolCallId,
              type: "function",
              function: { name: p.toolName, arguments: toolArguments(p.input) },
            });
          }
        }
        out.push({
          role: "assistant",
          content: toolCalls.length > 0 ? text || null : text,
          ...(reasoning ? { reasoning_content: reasoning } : {}),
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        });
        break;
      }
      case "tool":
        for (const r of m.results) out.push({ role: "tool", tool_call_id: r.toolCallId, content: r.content });
        break;
    }
  }
  return out;
}

/** A call's input as the JSON text of `arguments`: a string that is JSON already goes as it is. */
function toolArguments(input: unknown): string {
  if (typeof input === "string") {
    try {
      JSON.parse(input);
      return input;
    } catch {
      return JSON.stringify(input);
    }
  }
  return JSON.stringify(input ?? {});
}

// ---------------------------------------------------------------- the response

interface PendingToolCall {
  id: string;
  name: string;
  args: string;
}

/** What one call's chunks said so far; `read` turns a chunk into parts (in `parts`), `finish` ends the call. */
class CallState {
  parts: ModelStreamPart[] = [];
  readonly toolCalls: PendingToolCall[] = []; // by the model's index
  usage: Usage | undefined;
  finishReason: string | undefined;
  done = false;

  read(chunk: unknown, at: Where): void {
    if (typeof chunk !== "object" || chunk === null) throw invalidError(at, "an event is not an object");
    const c = chunk as ChatChunk;
    if (c.error != null) throw streamedError(c.error, at);
    if (c.usage != null && typeof c.usage === "object") this.usage = toUsage(c.usage);
    const choice = Array.isArray(c.choices) ? c.choices[0] : undefined;
    if (choice == null || typeof choice !== "object") return;
    if (typeof choice.finish_reason === "string") this.finishReason = choice.finish_reason;
    const delta = choice.delta;
    if (delta == null || typeof delta !== "object") return;
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === "string" && reasoning) {
      this.parts.push({ type: "reasoning-delta", delta: reasoning });
    }
    const content = delta.content;
    if (typeof content === "string") {
      if (content) this.parts.push({ type: "text-delta", delta: content });
    } else if (Array.isArray(content)) {
      for (const piece of content as { type?: unknown; text?: unknown }[]) {
        if (typeof piece?.text !== "string" || !piece.text) continue;
        const type = piece.type === "reasoning" || piece.type === "thinking"
          ? "reasoning-delta"
          : "text-delta";
        this.parts.push({ type, delta: piece.text });
      }
    }
    if (typeof delta.refusal === "string" && delta.refusal) {
      this.parts.push({ type: "text-delta", delta: delta.refusal });
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const d of delta.tool_calls) {
        if (d == null || typeof d !== "object") continue;
        const index = typeof d.index === "number" ? d.index : this.toolCalls.length;
        const call = this.toolCalls[index] ??= { id: "", name: "", args: "" };
        if (typeof d.id === "string" && d.id) call.id = d.id;
        const fn = d.function;
        if (fn != null && typeof fn === "object") {
          if (typeof fn.name === "string" && fn.name) call.name = fn.name;
          if (typeof fn.arguments === "string") call.args += fn.arguments;
        }
      }
    }
  }

  /** The tool calls (in index order), the usage when the provider reported it, the finish reason. */
  finish(at: Where): ModelStreamPart[] {
    if (this.finishReason === undefined) throw invalidError(at, "the response ended without a finish reason");
    const parts: ModelStreamPart[] = [];
    for (const call of this.toolCalls) {
      // A call without a name cannot be answered nor sent back in the history: dropped (as the AI SDK did).
      if (!call?.name) continue;
      parts.push({
        type: "tool-call",
        toolCallId: call.id || `call_${crypto.randomUUID().slice(0, 8)}`,
        toolName: call.name,
        input: parseArguments(call.args),
      });
    }
    if (this.usage) parts.push({ type: "usage", usage: this.usage });
    parts.push({ type: "finish", reason: finishReason(this.finishReason) });
    return parts;
  }
}

/** The fields of a chat.completion.chunk that are read; anything may be missing or of another type. */
interface ChatChunk {
  error?: unknown;
  usage?: unknown;
  choices?: {
    finish_reason?: unknown;
    delta?: {
      content?: unknown;
      reasoning_content?: unknown;
      reasoning?: unknown;
      refusal?: unknown;
      tool_calls?: { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } }[];
    };
  }[];
}

/** The arguments as JSON when they parse, else the text as the model wrote it (the kernel reports it). */
function parseArguments(args: string): unknown {
  if (!args.trim()) return {};
  try {
    return JSON.parse(args);
  } catch {
    return args;
  }
}

function finishReason(raw: string | undefined): string {
  switch (raw) {
    case "stop":
      return "stop";
    case "length":
      return "length";
    case "content_filter":
      return "content-filter";
    case "tool_calls":
    case "function_call":
      return "tool-calls";
    default:
      return "other";
  }
}

interface OpenAIUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  prompt_tokens_details?: { cached_tokens?: unknown; cache_write_tokens?: unknown } | null;
  completion_tokens_details?: { reasoning_tokens?: unknown } | null;
}

/** A chunk's `usage` → kernel Usage (cached prompt tokens as cacheReadTokens). */
export function toUsage(u: OpenAIUsage): Usage {
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  const usage: Usage = {
    inputTokens: num(u.prompt_tokens) ?? 0,
    outputTokens: num(u.completion_tokens) ?? 0,
    cacheReadTokens: num(u.prompt_tokens_details?.cached_tokens) ?? 0,
  };
  const cacheWrite = num(u.prompt_tokens_details?.cache_write_tokens);
  if (cacheWrite !== undefined) usage.cacheWriteTokens = cacheWrite;
  const reasoning = num(u.completion_tokens_details?.reasoning_tokens);
  if (reasoning) usage.reasoningTokens = reasoning;
  return usage;
}

/** An `{error}` event inside a stream: an HTTP status when its code is one, else the provider's words. */
function streamedError(error: unknown, at: Where): ProviderError {
  const message = providerMessage({ error }) ?? "an error event without a message";
  const code = isRecord(error) ? Number(error.code ?? error.status) : NaN;
  if (Number.isInteger(code) && code >= 400 && code < 600) return httpError(at, code, message);
  return new ProviderError(
    redact(`${at.id}: the provider reported an error mid-response: ${short(message)}`, at),
    "provider_error",
  );
}

// ---------------------------------------------------------------- models

/** GET `{baseUrl}/models`: the ids the endpoint serves, with their context window when it says. */
export async function listOpenAIModels(
  opts: Pick<OpenAICompatOptions, "id" | "baseUrl" | "apiKey" | "keyEnv" | "headers" | "fetch">,
  signal?: AbortSignal,
): Promise<ModelInfo[]> {
  const baseUrl = opts.baseUrl.replace(/\/+$/, "");
  const where = { id: opts.id, baseUrl, apiKey: opts.apiKey, keyEnv: opts.keyEnv };
  const url = `${baseUrl}/models`;
  let response: Response;
  try {
    response = await (opts.fetch ?? fetch)(url, {
      headers: {
        accept: "application/json",
        ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
        ...opts.headers,
      },
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw abortedError(where, signal);
    throw toProviderError(error, where);
  }
  const bodyText = await response.text().catch(() => "");
  if (!response.ok) {
    throw httpError(where, response.status, providerMessage(bodyText) ?? response.statusText, {
      retryAfter: response.headers.get("retry-after"),
      what: "listing models",
    });
  }
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    throw new ProviderError(
      redact(
        `${opts.id}: GET ${url} did not answer JSON (is ${baseUrl} an OpenAI-compatible base URL?)`,
        where,
      ),
      "invalid_response",
      response.status,
    );
  }
  const data = isRecord(body) && Array.isArray(body.data)
    ? body.data
    : Array.isArray(body)
    ? body
    : undefined;
  if (!data) {
    throw new ProviderError(
      `${opts.id}: GET ${url} answered without a "data" list of models`,
      "invalid_response",
      response.status,
    );
  }
  const models: ModelInfo[] = [];
  for (const entry of data) {
    if (!isRecord(entry) || typeof entry.id !== "string" || !entry.id) continue;
    const contextWindow = firstNumber(
      entry.context_length,
      entry.context_window,
      entry.max_context_length,
      entry.max_model_len,
      isRecord(entry.top_provider) ? entry.top_provider.context_length : undefined,
    );
    models.push(contextWindow !== undefined ? { id: entry.id, contextWindow } : { id: entry.id });
  }
  return models;
}

// ---------------------------------------------------------------- errors

interface Where {
  id: string;
  baseUrl: string;
  apiKey: string;
  keyEnv?: string;
  model?: string;
}

/**
 * Any failure of a call → a ProviderError a person can act on. Codes: `auth` (401/403), `rate_limited` (429),
 * `provider_unavailable` (5xx), `provider_unreachable` (network), `not_found` (404), `bad_request` (other 4xx),
 * `invalid_response`, `provider_error`. The API key never appears in the message.
 */
export function toProviderError(error: unknown, where: Where): ProviderError {
  if (error instanceof ProviderError) return error;
  const network = networkReason(error);
  if (network) {
    return new ProviderError(
      redact(
        `${where.id}: cannot reach ${where.baseUrl} (${network}); check the base URL and your network`,
        where,
      ),
      "provider_unreachable",
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderError(redact(`${where.id}: ${short(message)}`, where), "provider_error");
}

function httpError(
  where: Where,
  status: number,
  detail: string | undefined,
  extra: { retryAfter?: string | null; what?: string } = {},
): ProviderError {
  const said = detail ? `: ${short(detail)}` : "";
  const http = `HTTP ${status}${said}`;
  const key = where.keyEnv ?? "the API key";
  const model = where.model ? ` model "${where.model}"` : "";
  let code: string;
  let message: string;
  if (status === 401 || status === 403) {
    code = "auth";
    message = `${where.id}: the provider rejected the API key (${http}); check ${key}`;
  } else if (status === 429) {
    code = "rate_limited";
    const wait = extra.retryAfter ? ` (retry after ${extra.retryAfter}s)` : "";
    message = `${where.id}: rate limited (${http}); wait and try again${wait}`;
  } else if (status >= 500) {
    code = "provider_unavailable";
    message = `${where.id}: the provider failed or is unavailable (${http}); try again later`;
  } else if (status === 404) {
    code = "not_found";
    message = extra.what
      ? `${where.id}: ${where.baseUrl} has no such endpoint while ${extra.what} (${http}); check the base URL`
      : `${where.id}:${model} not found at ${where.baseUrl} (${http}); check the model name and the base URL`;
  } else {
    code = "bad_request";
    message = `${where.id}: the provider refused the request${model ? ` for${model}` : ""} (${http})`;
  }
  return new ProviderError(redact(message, where), code, status);
}

/** The provider's own words from an error or an error body (`{error:{message}}`, `{message}`, text). */
function providerMessage(source: unknown): string | undefined {
  if (typeof source === "string") {
    const text = source.trim();
    if (!text) return undefined;
    try {
      return providerMessage(JSON.parse(text)) ?? short(text);
    } catch {
      return /^\s*</.test(text) ? undefined : short(text); // an HTML error page says nothing useful
    }
  }
  if (source instanceof Error) {
    const data = (source as { data?: unknown }).data;
    return providerMessage(data) ?? source.message;
  }
  if (isRecord(source)) {
    if (typeof source.message === "string") return source.message;
    if (isRecord(source.error) && typeof source.error.message === "string") return source.error.message;
    if (typeof source.error === "string") return source.error;
  }
  return undefined;
}

/** A short human reason when the error is a network failure, else undefined. */
function networkReason(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const texts: string[] = [];
  let current: unknown = error;
  let network = false;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    texts.push(current.message);
    const code = (current as { code?: unknown }).code;
    if (
      current.name === "TypeError" || /ECONN|ETIMEDOUT|EPIPE|ENOTFOUND/.test(String(code)) ||
      /Cannot connect to API|fetch failed|error sending request|connection (reset|closed)|dropped|network/i
        .test(current.message)
    ) network = true;
    current = (current as { cause?: unknown }).cause;
  }
  if (!network) return undefined;
  const all = texts.join(" | ");
  if (/Connection refused/i.test(all)) return "connection refused";
  if (/dns error|failed to lookup|Name or service not known|ENOTFOUND|No address/i.test(all)) {
    return "host not found";
  }
  if (/timed out|ETIMEDOUT/i.test(all)) return "timed out";
  if (/certificate|tls|ssl/i.test(all)) return "TLS error";
  if (/reset|ECONNRESET|EPIPE|closed|dropped|body/i.test(all)) {
    return "connection lost";
  }
  return short(texts.at(-1) ?? "network error");
}

function abortedError(where: Where, signal: AbortSignal): ProviderError {
  const timeout = signal.reason instanceof DOMException && signal.reason.name === "TimeoutError";
  return new ProviderError(`${where.id}: request ${timeout ? "timed out" : "aborted"}`, "aborted");
}

/** Removes the API key (and its Bearer form) from anything shown to a person. */
function redact(text: string, where: Pick<Where, "apiKey">): string {
  return where.apiKey && where.apiKey.length >= 4 ? text.split(where.apiKey).join("[redacted]") : text;
}

function short(text: string, max = 300): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

function firstNumber(...values: unknown[]): number | undefined {
  for (const v of values) if (typeof v === "number" && Number.isFinite(v) && v > 0) return v;
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
