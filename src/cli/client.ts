// A typed HTTP client of the daemon, driven by the same route table the server validates with.
import { type AgentEvent, AgentEventSchema } from "../contract/events.ts";
import type { z } from "zod";
import { ErrorBodySchema } from "../contract/http.ts";
import { fillPath, type RouteDef } from "../contract/route.ts";

export class CliError extends Error {
  /** The daemon's error code, when the daemon answered with one. */
  constructor(message: string, readonly code?: string, readonly status?: number) {
    super(message);
    this.name = "CliError";
  }
}

export interface ClientOptions {
  server: string;
  token?: string;
}

export class DispatchClient {
  constructor(private readonly opts: ClientOptions) {}

  // deno-lint-ignore no-explicit-any
  async call<D extends RouteDef<any, any, any, any>>(
    def: D,
    input: { params?: Record<string, string>; query?: Record<string, string | undefined>; body?: unknown } =
      {},
  ): Promise<z.infer<D["response"]>> {
    const res = await this.#send(def, input);
    const json = await res.json().catch(() => {
      throw new CliError(`the server answered ${def.method} ${def.path} with something that is not JSON`);
    });
    const parsed = def.response.safeParse(json);
    if (!parsed.success) {
      throw new CliError(`unexpected answer from ${def.path}: ${parsed.error.issues[0]?.message}`);
    }
    return parsed.data;
  }

  /** Opens a route's NDJSON answer: the response (for its headers) and its events, parsed line by line. */
  // deno-lint-ignore no-explicit-any
  async open<D extends RouteDef<any, any, any, any>>(
    def: D,
    input: { body?: unknown; headers?: Record<string, string> },
  ): Promise<{ response: Response; events: AsyncGenerator<AgentEvent> }> {
    const response = await this.#send(def, input);
    return { response, events: readEvents(response) };
  }

  // deno-lint-ignore no-explicit-any
  async #send(def: RouteDef<any, any, any, any>, input: {
    params?: Record<string, string>;
    query?: Record<string, string | undefined>;
    body?: unknown;
    headers?: Record<string, string>;
  }): Promise<Response> {
    const url = new URL(fillPath(def.path, input.params), this.opts.server);
    for (const [k, v] of Object.entries(input.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = { ...input.headers };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (input.body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(url, {
        method: def.method,
        headers,
        body: input.body === undefined ? undefined : JSON.stringify(input.body),
      });
    } catch {
      throw new CliError(`cannot reach the daemon at ${this.opts.server} (is \`dispatch serve\` running?)`);
    }
    if (!res.ok) {
      const parsed = ErrorBodySchema.safeParse(await res.json().catch(() => ({})));
      if (!parsed.success) {
        throw new CliError(
          `${def.method} ${url.pathname} failed with HTTP ${res.status}`,
          undefined,
          res.status,
        );
      }
      const { error, code } = parsed.data;
      if (code === "no_route" || code === "method_not_allowed") {
        throw new CliError(
          `the daemon does not serve ${def.method} ${def.path} (it is older than this CLI, or the extension ` +
            `that serves it is not loaded): ${error}`,
          code,
          res.status,
        );
      }
      if (code === "unauthorized") {
        throw new CliError(`${error}; the daemon wants DISPATCH_TOKEN`, code, res.status);
      }
      throw new CliError(error, code, res.status);
    }
    return res;
  }
}

async function* readEvents(res: Response): AsyncGenerator<AgentEvent> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (true) {
    const { done, value } = await reader.read();
    if (value) buffer += value;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw new CliError("the daemon sent a line that is not JSON in the event stream");
      }
      const parsed = AgentEventSchema.safeParse(json);
      if (parsed.success) yield parsed.data;
    }
    if (done) return;
  }
}
