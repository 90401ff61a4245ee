// A scripted fake OpenAI-compatible server for end-to-end tests: real HTTP on 127.0.0.1, chat completions
// streamed as SSE, every request recorded. Tests queue scripts (lists of steps) that the next requests consume.
//
// In-process:  await using fake = await startFakeProvider();  fake.script([text("hi")]);  ...  (or fake.close())
// Standalone:  deno run -A tests/fake_provider.ts --port 8787 [--api-key KEY]   (prints the base URL)

// ---------------------------------------------------------------- scripts

export type Step =
  /** A `delta.content` chunk. */
  | { type: "text"; text: string }
  /** A `delta.reasoning_content` chunk. */
  | { type: "reasoning"; text: string }
  /** A streamed tool call: id + name in the first chunk, the arguments split over `chunks` more chunks. */
  | {
    type: "tool-call";
    name: string;
    /** Arguments: a JSON string sent as-is (may be invalid JSON on purpose) or a value to stringify. */
    args: unknown;
    id?: string;
    /** How many chunks the arguments are split over (default 3). */
    chunks?: number;
    /** The tool call's index; defaults to the count of tool calls before it in this response. */
    index?: number;
  }
  /** An explicit usage chunk (always sent). Missing fields are filled from the rough token estimate. */
  | {
    type: "usage";
    promptTokens?: number;
    completionTokens?: number;
    cachedTokens?: number;
    reasoningTokens?: number;
  }
  /** A chunk with `finish_reason`. Without one, the script ends with `tool_calls` or `stop`. */
  | { type: "finish"; reason: string }
  /** Before any data: an HTTP error response. After data was sent: an SSE `{error}` chunk, then the end. */
  | { type: "http-error"; status: number; body?: unknown; headers?: Record<string, string> }
  /** Sends nothing for `ms` (forever when omitted: until the client goes away or the server closes). */
  | { type: "stall"; ms?: number }
  /** Waits `ms` before the next step (same as a bounded stall; reads better between chunks). */
  | { type: "delay"; ms: number }
  /** A raw SSE `data:` payload (a string sent verbatim, anything else JSON-encoded). */
  | { type: "raw"; data: unknown }
  /** Breaks the connection mid-stream (the response body errors). */
  | { type: "drop" };

export interface Script {
  steps: Step[];
  /** Delay before every chunk, in ms (default 0). */
  chunkDelayMs?: number;
  /** Send the usage chunk even when the request did not ask for it (`stream_options.include_usage`). */
  alwaysUsage?: boolean;
}

export type ScriptInput = Step[] | Script;
export type ScriptSource = ScriptInput | ((request: RecordedRequest) => ScriptInput);

export const text = (text: string): Step => ({ type: "text", text });
export const reasoning = (text: string): Step => ({ type: "reasoning", text });
export const toolCall = (
  name: string,
  args: unknown,
  opts: { id?: string; chunks?: number; index?: number } = {},
): Step => ({ type: "tool-call", name, args, ...opts });
export const usage = (u: Omit<Extract<Step, { type: "usage" }>, "type"> = {}): Step => ({
  type: "usage",
  ...u,
});
export const finish = (reason = "stop"): Step => ({ type: "finish", reason });
export const httpError = (status: number, message?: string, headers?: Record<string, string>): Step => ({
  type: "http-error",
  status,
  body: {
    error: { message: message ?? `fake provider error ${status}`, type: "fake_error", code: String(status) },
  },
  ...(headers ? { headers } : {}),
});
export const stall = (ms?: number): Step => (ms === undefined ? { type: "stall" } : { type: "stall", ms });
export const delay = (ms: number): Step => ({ type: "delay", ms });
export const raw = (data: unknown): Step => ({ type: "raw", data });
export const drop = (): Step => ({ type: "drop" });

// ---------------------------------------------------------------- recorded requests

export interface RecordedRequest {
  method: string;
  /** The URL path, e.g. `/v1/chat/completions`. */
  path: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The parsed JSON body (undefined for GET or a body that is not JSON). */
  // deno-lint-ignore no-explicit-any
  body: any;
  /** Rough prompt size of a chat request (chars / 4) and how much of it the cache simulation found. */
  promptTokens?: number;
  cachedTokens?: number;
}

export interface FakeModel {
  id: string;
  context_length?: number;
  [field: string]: unknown;
}

export interface FakeProviderOptions {
  /** Port to listen on (0, the default, picks a free one). */
  port?: number;
  /** When set, every request must carry `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** What `GET /models` lists. */
  models?: FakeModel[];
  /** The reply when no script is queued (default: one short text reply). */
  defaultScript?: ScriptSource;
}

export interface FakeProvider {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `http://127.0.0.1:PORT/v1`, what an OpenAI-compatible client takes as its base URL. */
  baseUrl: string;
  port: number;
  /** Every request received, oldest first. */
  requests: RecordedRequest[];
  /** Just the chat-completion requests. */
  readonly chatRequests: RecordedRequest[];
  /** Queues scripts: each is consumed by the next chat request, in order. */
  script(...scripts: ScriptSource[]): void;
  /** Scripts still queued. */
  readonly pending: number;
  /** What `GET /models` lists (mutable). */
  models: FakeModel[];
  /** Overrides `GET /models` (an error, a stall...); `undefined` restores the listing. */
  onModels?: (request: Request, signal: AbortSignal) => Response | Promise<Response>;
  /** Resolves once `count` requests in total have been received. */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  /** Forgets recorded requests and the cache history (scripts stay queued). */
  reset(): void;
  /** Ends every open stream and stops the server. */
  close(): Promise<void>;
  /** The same as `close`, so a test can hold the fake with `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

export const DEFAULT_REPLY = "Hello from the fake provider.";

// ---------------------------------------------------------------- the server

export function startFakeProvider(opts: FakeProviderOptions = {}): Promise<FakeProvider> {
  const queue: ScriptSource[] = [];
  const requests: RecordedRequest[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  /** Prompts already seen, for the cache simulation. */
  let history: { key: string; messages: string[] }[] = [];
  const closing = new AbortController();
  let completionSeq = 0;

  const record = (r: RecordedRequest) => {
    requests.push(r);
    for (const w of [...waiters]) {
      if (requests.length >= w.count) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };

  const cacheSimulation = (body: Record<string, unknown>): { promptTokens: number; cachedTokens: number } => {
    const messages = Array.isArray(body.messages) ? body.messages.map((m) => JSON.stringify(m)) : [];
    const key = JSON.stringify([body.model, body.tools ?? null]);
    const promptChars = messages.reduce((n, m) => n + m.length, 0) +
      (body.tools ? JSON.stringify(body.tools).length : 0);
    let best = 0;
    for (const prev of history) {
      if (prev.key !== key) continue;
      let chars = 0;
      for (let i = 0; i < Math.min(prev.messages.length, messages.length); i++) {
        if (prev.messages[i] !== messages[i]) break;
        chars += messages[i].length;
      }
      best = Math.max(best, chars);
    }
    history.push({ key, messages });
    const promptTokens = tokens(promptChars);
    const toolChars = best > 0 && body.tools ? JSON.stringify(body.tools).length : 0;
    return { promptTokens, cachedTokens: Math.min(promptTokens, tokens(best + toolChars)) };
  };

  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => headers[k] = v);
    let body: unknown;
    if (req.method !== "GET" && req.method !== "HEAD") {
      const textBody = await req.text();
      try {
        body = textBody ? JSON.parse(textBody) : undefined;
      } catch {
        body = textBody;
      }
    }
    const recorded: RecordedRequest = { method: req.method, path, headers, body };

    const route = path.replace(/^\/v1(?=\/)/, "");
    if (route === "/chat/completions" && req.method === "POST" && isObject(body)) {
      Object.assign(recorded, cacheSimulation(body));
    }
    record(recorded);

    if (opts.apiKey !== undefined && headers["authorization"] !== `Bearer ${opts.apiKey}`) {
      return json(401, {
        error: {
          message: "Incorrect API key provided.",
          type: "invalid_request_error",
          code: "invalid_api_key",
        },
      });
    }

    if (route === "/models" && req.method === "GET") {
      if (fake.onModels) return await fake.onModels(req, closing.signal);
      return json(200, { object: "list", data: fake.models.map((m) => ({ object: "model", ...m })) });
    }
    if (route === "/chat/completions" && req.method === "POST") {
      if (!isObject(body)) return json(400, { error: { message: "body must be a JSON object" } });
      const source = queue.shift() ?? opts.defaultScript ?? [text(DEFAULT_REPLY)];
      const input = typeof source === "function" ? source(recorded) : source;
      const script: Script = Array.isArray(input) ? { steps: input } : input;
      return await respond(script, body, recorded, `chatcmpl-fake-${++completionSeq}`);
    }
    return json(404, { error: { message: `no route for ${req.method} ${path}`, type: "not_found" } });
  };

  const respond = async (
    script: Script,
    body: Record<string, unknown>,
    recorded: RecordedRequest,
    id: string,
  ): Promise<Response> => {
    const cancelled = new AbortController();
    // Not `req.signal`: reading it makes Deno.serve warn (legacy abort). A client that goes away cancels the
    // body stream instead; a stall before any response lasts until the server closes.
    const signal = anySignal(closing.signal, cancelled.signal);
    const steps = [...script.steps];
    // Leading waits and an HTTP error before any data become a plain error response.
    while (steps.length && (steps[0].type === "delay" || steps[0].type === "stall")) {
      const s = steps.shift() as { ms?: number };
      await sleep(s.ms, signal);
      if (signal.aborted) return new Response(null, { status: 499 });
    }
    if (steps[0]?.type === "http-error") {
      const e = steps[0];
      return json(e.status, e.body ?? { error: { message: `fake provider error ${e.status}` } }, e.headers);
    }

    const model = typeof body.model === "string" ? body.model : "fake-model";
    const created = Math.floor(Date.now() / 1000);
    const wantsUsage = script.alwaysUsage ||
      (isObject(body.stream_options) && body.stream_options.include_usage === true);
    const envelope = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices,
      ...extra,
    });

    const out = {
      text: "",
      reasoning: "",
      toolCalls: [] as ToolCallOut[],
      finish: undefined as string | undefined,
    };
    const usageOf = (u: Extract<Step, { type: "usage" }> | undefined) => {
      const completion = tokens(
        out.text.length + out.reasoning.length +
          out.toolCalls.reduce((n, c) => n + c.name.length + c.arguments.length, 0),
      );
      const reasoningTokens = u?.reasoningTokens ??
        (out.reasoning ? tokens(out.reasoning.length) : undefined);
      return {
        prompt_tokens: u?.promptTokens ?? recorded.promptTokens ?? 0,
        completion_tokens: u?.completionTokens ?? completion,
        total_tokens: (u?.promptTokens ?? recorded.promptTokens ?? 0) + (u?.completionTokens ?? completion),
        prompt_tokens_details: { cached_tokens: u?.cachedTokens ?? recorded.cachedTokens ?? 0 },
        ...(reasoningTokens !== undefined
          ? { completion_tokens_details: { reasoning_tokens: reasoningTokens } }
          : {}),
      };
    };

    if (body.stream !== true) {
      // Non-streaming: play the script silently, answer one chat.completion.
      for (const step of steps) {
        if (step.type === "stall" || step.type === "delay") await sleep(step.ms, signal);
        if (signal.aborted) return new Response(null, { status: 499 });
        if (step.type === "http-error") {
          return json(step.status, step.body ?? { error: { message: "error" } });
        }
        if (step.type === "drop") return new Response(null, { status: 502 });
        play(step, out);
      }
      const u = steps.find((s): s is Extract<Step, { type: "usage" }> => s.type === "usage");
      return json(200, {
        id,
        object: "chat.completion",
        created,
        model,
        choices: [{
          index: 0,
          message: {
            role: "assistant",
            content: out.text || (out.toolCalls.length ? null : ""),
            ...(out.reasoning ? { reasoning_content: out.reasoning } : {}),
            ...(out.toolCalls.length
              ? {
                tool_calls: out.toolCalls.map((c) => ({
                  id: c.id,
                  type: "function",
                  function: { name: c.name, arguments: c.arguments },
                })),
              }
              : {}),
          },
          finish_reason: out.finish ?? (out.toolCalls.length ? "tool_calls" : "stop"),
        }],
        usage: usageOf(u),
      });
    }

    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const send = (data: unknown) =>
          controller.enqueue(
            encoder.encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`),
          );
        const run = async () => {
          let first = true;
          let sentUsage = false;
          const delta = (d: Record<string, unknown>) => {
            send(
              envelope([{ index: 0, delta: first ? { role: "assistant", ...d } : d, finish_reason: null }]),
            );
            first = false;
          };
          const pace = async () => {
            if (script.chunkDelayMs) await sleep(script.chunkDelayMs, signal);
          };
          for (const step of steps) {
            if (signal.aborted) return;
            switch (step.type) {
              case "stall":
              case "delay":
                await sleep(step.ms, signal);
                break;
              case "text":
                await pace();
                play(step, out);
                delta({ content: step.text });
                break;
              case "reasoning":
                await pace();
                play(step, out);
                delta({ reasoning_content: step.text });
                break;
              case "tool-call": {
                const call = play(step, out)!;
                await pace();
                delta({
                  tool_calls: [{
                    index: call.index,
                    id: call.id,
                    type: "function",
                    function: { name: call.name, arguments: "" },
                  }],
                });
                for (const piece of split(call.arguments, step.chunks ?? 3)) {
                  await pace();
                  if (signal.aborted) return;
                  delta({ tool_calls: [{ index: call.index, function: { arguments: piece } }] });
                }
                break;
              }
              case "finish":
                await pace();
                out.finish = step.reason;
                send(envelope([{ index: 0, delta: {}, finish_reason: step.reason }]));
                break;
              case "usage":
                await pace();
                send(envelope([], { usage: usageOf(step) }));
                sentUsage = true;
                break;
              case "raw":
                await pace();
                send(step.data);
                break;
              case "http-error":
                send(step.body ?? { error: { message: `fake provider error ${step.status}` } });
                controller.close();
                return;
              case "drop":
                controller.error(new DroppedConnection());
                return;
            }
          }
          if (signal.aborted) return;
          if (out.finish === undefined) {
            await pace();
            send(
              envelope([{
                index: 0,
                delta: {},
                finish_reason: out.toolCalls.length ? "tool_calls" : "stop",
              }]),
            );
          }
          if (wantsUsage && !sentUsage) send(envelope([], { usage: usageOf(undefined) }));
          send("[DONE]");
          controller.close();
        };
        run().catch((error) => {
          try {
            controller.error(error);
          } catch { /* already closed */ }
        }).finally(() => {
          // A client that went away (or a closing server) ends the stream quietly.
          if (signal.aborted) {
            try {
              controller.close();
            } catch { /* already closed or errored */ }
          }
        });
      },
      cancel: () => cancelled.abort(),
    });
    return new Response(stream, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" },
    });
  };

  let fake: FakeProvider;
  return new Promise((resolve, reject) => {
    let server: Deno.HttpServer;
    const close = async () => {
      closing.abort();
      await server.shutdown();
    };
    try {
      server = Deno.serve({
        hostname: "127.0.0.1",
        port: opts.port ?? 0,
        // A scripted `drop` is not worth a stack trace on the console.
        onError: (error) => {
          if (!(error instanceof DroppedConnection)) console.error("fake provider:", error);
          return new Response(null, { status: 500 });
        },
        onListen: ({ port }) => {
          const url = `http://127.0.0.1:${port}`;
          fake = {
            url,
            baseUrl: `${url}/v1`,
            port,
            requests,
            get chatRequests() {
              return requests.filter((r) => r.path.endsWith("/chat/completions"));
            },
            script: (...scripts) => void queue.push(...scripts),
            get pending() {
              return queue.length;
            },
            models: opts.models ?? [{ id: "fake-model", context_length: 128_000 }],
            waitForRequests: (count, timeoutMs = 5000) => {
              if (requests.length >= count) return Promise.resolve();
              return new Promise<void>((res, rej) => {
                const timer = setTimeout(() => {
                  waiters.splice(waiters.indexOf(entry), 1);
                  rej(
                    new Error(`fake provider: ${requests.length} of ${count} requests after ${timeoutMs} ms`),
                  );
                }, timeoutMs);
                const entry = { count, resolve: () => (clearTimeout(timer), res()) };
                waiters.push(entry);
              });
            },
            reset: () => {
              requests.length = 0;
              history = [];
            },
            close,
            [Symbol.asyncDispose]: close,
          };
          resolve(fake);
        },
      }, handler);
    } catch (error) {
      reject(error);
    }
  });
}

// ---------------------------------------------------------------- connection faults

export interface FlakyProxy {
  /** `http://127.0.0.1:PORT/v1`: the fake's API through the proxy. */
  baseUrl: string;
  port: number;
  /** Connections accepted so far (reset ones included). */
  readonly connections: number;
  close(): void;
}

/**
 * A TCP proxy in front of a fake provider whose first `resets` connections are closed at once, unread, so the
 * client sees a connection reset before any response; later connections are passed through.
 */
export function startFlakyProxy(target: FakeProvider, resets: number): FlakyProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let connections = 0;
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      if (connections++ < resets) {
        conn.close();
        continue;
      }
      open.add(conn);
      Deno.connect({ hostname: "127.0.0.1", port: target.port }).then((upstream) => {
        open.add(upstream);
        const end = () => {
          for (const c of [conn, upstream]) {
            open.delete(c);
            try {
              c.close();
            } catch { /* already closed */ }
          }
        };
        // Either side ending ends both (HTTP clients do not half-close).
        Promise.race([
          conn.readable.pipeTo(upstream.writable, { preventClose: true }),
          upstream.readable.pipeTo(conn.writable, { preventClose: true }),
        ]).catch(() => {}).finally(end);
      }, () => conn.close());
    }
  })().catch(() => {});
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    get connections() {
      return connections;
    },
    close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      open.clear();
    },
  };
}

// ---------------------------------------------------------------- helpers

class DroppedConnection extends Error {
  constructor() {
    super("fake provider dropped the connection");
  }
}

interface ToolCallOut {
  index: number;
  id: string;
  name: string;
  arguments: string;
}

function play(
  step: Step,
  out: { text: string; reasoning: string; toolCalls: ToolCallOut[] },
): ToolCallOut | undefined {
  switch (step.type) {
    case "text":
      out.text += step.text;
      return;
    case "reasoning":
      out.reasoning += step.text;
      return;
    case "tool-call": {
      const call = {
        index: step.index ?? out.toolCalls.length,
        id: step.id ?? `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`,
        name: step.name,
        arguments: typeof step.args === "string" ? step.args : JSON.stringify(step.args ?? {}),
      };
      out.toolCalls.push(call);
      return call;
    }
  }
}

/** Rough token count: chars / 4, rounded up. */
export const tokens = (chars: number): number => Math.ceil(chars / 4);

function split(s: string, parts: number): string[] {
  if (s.length === 0) return [];
  const n = Math.max(1, Math.min(parts, s.length));
  const size = Math.ceil(s.length / n);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function anySignal(...signals: AbortSignal[]): AbortSignal {
  return AbortSignal.any(signals);
}

/** Waits `ms` (forever when undefined) or until the signal fires. */
function sleep(ms: number | undefined, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

// ---------------------------------------------------------------- standalone

if (import.meta.main) {
  const args = Deno.args;
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const fake = await startFakeProvider({
    port: Number(flag("--port") ?? 0),
    apiKey: flag("--api-key"),
  });
  console.log(fake.baseUrl);
  const stop = async () => {
    await fake.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
