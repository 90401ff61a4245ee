// An OpenAI-compatible chat-completions Provider on the AI SDK (`ai` v7 + `@ai-sdk/openai-compatible`).
// One `stream()` is one model call: tools go to the model as schemas only (no `execute`), the SDK stops after
// one step; the kernel owns the tool loop. Transient failures (429, 5xx, a broken connection, a stall) are
// retried here, announced as `retry` parts, as long as nothing of the answer was yielded yet. Shared by every
// provider that speaks this protocol (the DISPATCH_* endpoint, Umans, ...).
import { APICallError, isStepCount, jsonSchema, type ModelMessage as SdkMessage, streamText, tool } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
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
  const policy = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
  const where = { id: opts.id, baseUrl, apiKey: opts.apiKey, keyEnv: opts.keyEnv };

  /** One attempt: a fresh SDK client whose fetch is watched for stalls. */
  async function* attempt(
    request: ModelRequest,
    signal: AbortSignal,
    watchdog: StallWatchdog,
  ): AsyncGenerator<ModelStreamPart> {
    const sdk = createOpenAICompatible({
      name: opts.id,
      baseURL: baseUrl,
      apiKey: opts.apiKey || undefined,
      headers: opts.headers,
      includeUsage: true,
      fetch: watchdog.fetch(opts.fetch ?? fetch),
    });
    const tools = request.tools.length
      ? Object.fromEntries(
        request.tools.map((t) => [
          t.name,
          tool({ description: t.description, inputSchema: jsonSchema(t.parameters as never) }),
        ]),
      )
      : undefined;
    const result = streamText({
      model: sdk.chatModel(request.model),
      messages: toSdkMessages(request.messages),
      allowSystemInMessages: true,
      tools,
      stopWhen: isStepCount(1),
      maxRetries: 0, // retries are ours: the SDK's would replay output already shown
      maxOutputTokens: request.maxOutputTokens,
      providerOptions: request.reasoningEffort
        ? { openaiCompatible: { reasoningEffort: request.reasoningEffort } }
        : undefined,
      abortSignal: signal,
      // Errors arrive as stream parts and become ProviderErrors below; the SDK's default logs them.
      onError: () => {},
    });
    for await (const part of result.stream) {
      switch (part.type) {
        case "text-delta":
          if (part.text) yield { type: "text-delta", delta: part.text };
          break;
        case "reasoning-delta":
          if (part.text) yield { type: "reasoning-delta", delta: part.text };
          break;
        case "tool-call":
          yield {
            type: "tool-call",
            toolCallId: part.toolCallId,
            toolName: part.toolName,
            input: part.input,
          };
          break;
        case "finish-step": {
          const usage = toUsage(part.usage);
          if (usage) yield { type: "usage", usage };
          break;
        }
        case "finish":
          yield { type: "finish", reason: part.finishReason };
          break;
        case "error":
          throw part.error;
        case "abort":
          // Our watchdog aborts the fetch, which the SDK may report as an abort: that is a stall, not a stop.
          if (watchdog.stalled && !signal.aborted) throw watchdog.signal.reason;
          return;
      }
    }
  }

  return {
    id: opts.id,
    listModels: (signal) => listOpenAIModels({ ...opts, baseUrl }, signal),
    async *stream(request: ModelRequest, signal: AbortSignal): AsyncGenerator<ModelStreamPart> {
      const at = { ...where, model: request.model };
      for (let retry = 0;; retry++) {
        if (signal.aborted) return;
        const watchdog = new StallWatchdog(policy.stallTimeoutMs);
        let shown = false;
        let failure: ProviderError;
        let waitMs: number | undefined;
        try {
          for await (const part of attempt(request, signal, watchdog)) {
            shown = true;
            yield part;
          }
          return;
        } catch (error) {
          if (signal.aborted) return;
          failure = watchdog.stalled ? stallError(at, policy.stallTimeoutMs) : toProviderError(error, at);
          waitMs = retryAfterMs((error as { responseHeaders?: Record<string, string> }).responseHeaders);
        } finally {
          watchdog.stop();
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

// ---------------------------------------------------------------- messages

/** Kernel messages → AI SDK messages. Reasoning parts go back as `reasoning_content` (the adapter does it). */
export function toSdkMessages(messages: ModelMessage[]): SdkMessage[] {
  const out: SdkMessage[] = [];
  for (const m of messages) {
    switch (m.role) {
      case "system":
        out.push({ role: "system", content: m.content });
        break;
      case "user":
        out.push({ role: "user", content: m.content });
        break;
      case "assistant": {
        if (m.parts.length === 0) break;
        out.push({
          role: "assistant",
          content: m.parts.map((p) => {
            switch (p.type) {
              case "text":
                return { type: "text" as const, text: p.text };
              case "reasoning":
                return { type: "reasoning" as const, text: p.text };
              case "tool-call":
                return {
                  type: "tool-call" as const,
                  toolCallId: p.toolCallId,
                  toolName: p.toolName,
                  input: p.input,
                };
            }
          }),
        });
        break;
      }
      case "tool":
        if (m.results.length === 0) break;
        out.push({
          role: "tool",
          content: m.results.map((r) => ({
            type: "tool-result" as const,
            toolCallId: r.toolCallId,
            toolName: r.toolName,
            output: r.isError
              ? { type: "error-text" as const, value: r.content }
              : { type: "text" as const, value: r.content },
          })),
        });
        break;
    }
  }
  return out;
}

interface SdkUsage {
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  inputTokenDetails?: { cacheReadTokens?: number; cacheWriteTokens?: number };
  outputTokenDetails?: { reasoningTokens?: number };
}

/** The SDK's step usage → kernel Usage; undefined when the provider reported none. */
export function toUsage(u: SdkUsage | undefined): Usage | undefined {
  if (!u || (u.inputTokens === undefined && u.outputTokens === undefined)) return undefined;
  const usage: Usage = {
    inputTokens: u.inputTokens ?? 0,
    outputTokens: u.outputTokens ?? 0,
    cacheReadTokens: u.inputTokenDetails?.cacheReadTokens ?? 0,
  };
  if (u.inputTokenDetails?.cacheWriteTokens !== undefined) {
    usage.cacheWriteTokens = u.inputTokenDetails.cacheWriteTokens;
  }
  if (u.outputTokenDetails?.reasoningTokens) usage.reasoningTokens = u.outputTokenDetails.reasoningTokens;
  return usage;
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
  const status = statusOf(error);
  if (status !== undefined) {
    const headers = (error as { responseHeaders?: Record<string, string> }).responseHeaders;
    return httpError(where, status, providerMessage(error), { retryAfter: headers?.["retry-after"] ?? null });
  }
  const network = networkReason(error);
  if (network) {
    const midStream = APICallError.isInstance(error) && /successful response/i.test(error.message);
    return new ProviderError(
      redact(
        midStream
          ? `${where.id}: the connection to ${where.baseUrl} broke mid-response (${network})`
          : `${where.id}: cannot reach ${where.baseUrl} (${network}); check the base URL and your network`,
        where,
      ),
      "provider_unreachable",
    );
  }
  const name = error instanceof Error ? error.name : "";
  const message = error instanceof Error ? error.message : String(error);
  if (/InvalidResponseData|JSONParse|TypeValidation|NoContentGenerated|InvalidToolInput/i.test(name)) {
    return new ProviderError(
      redact(
        `${where.id}: the provider sent a response that could not be understood: ${short(message)}`,
        where,
      ),
      "invalid_response",
    );
  }
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

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" && status >= 400 ? status : undefined;
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
      /Cannot connect to API|fetch failed|error sending request|connection (reset|closed)|Failed to process successful response|dropped|network/i
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
  if (/reset|ECONNRESET|EPIPE|closed|dropped|body|Failed to process successful response/i.test(all)) {
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
