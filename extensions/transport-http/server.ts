// The route machinery: validation from each route's zod schemas, one error shape, auth, CORS, access log.
import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import { z } from "zod";
import { describeZodError, DispatchError, type Logger } from "../../src/kernel/mod.ts";
import { PATH_PARAM, type RouteDef } from "../../src/contract/route.ts";
import type { HttpServer, RouteHandler } from "./api.ts";
import { type AccessPolicy, checkToken, guardRequest, originAllowed } from "../auth-apikey/access.ts";

/** `token`: when set, every non-public route needs `Authorization: Bearer <token>`. */
export interface ServerOptions extends AccessPolicy {
  hostname: string;
  port: number;
  maxBodyBytes: number;
  log: Logger;
  /** Aborted on shutdown. */
  signal: AbortSignal;
}

const STATUS: Record<DispatchError["kind"], 400 | 404 | 409 | 503> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
};

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export function createServer(opts: ServerOptions): HttpServer & { app: Hono } {
  const app = new Hono();
  // deno-lint-ignore no-explicit-any
  const table: RouteDef<any, any, any, any>[] = [];
  const publicPaths = new Set<string>();

  // The access log: one line per request, never a header, query or body (they may carry secrets).
  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    const conversationId = c.res.headers.get("x-conversation-id") ?? conversationIdOf(c.req.path);
    opts.log.info("request", {
      method: c.req.method,
      path: c.req.path.length > 300 ? `${c.req.path.slice(0, 300)}...` : c.req.path,
      status: c.res.status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      ...(conversationId ? { conversationId } : {}),
    });
  });
  app.use(
    "*",
    cors({
      origin: (origin) => (originAllowed(origin, opts.allowedOrigins) ? origin : null),
      exposeHeaders: ["X-Conversation-Id"],
      allowHeaders: ["Content-Type", "Authorization", "X-Client-Request-Id"],
      allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
    }),
  );
  // CORS only decides whether a page may read an answer, not whether a request runs: a page on another site
  // could still POST /chat with a "simple" request. And a rebound DNS name makes a page same-origin, so the
  // Host header is checked too (extensions/auth-apikey/access.ts, shared with the WebSocket).
  app.use("*", async (c, next) => {
    const refused = guardRequest(c.req.raw.headers, opts);
    if (refused) return c.json({ error: refused.error, code: refused.code }, refused.status);
    // Preflights carry no credentials by design; the CORS middleware above has answered them.
    if (c.req.method === "OPTIONS" || publicPaths.has(c.req.path)) return await next();
    const unauthorized = checkToken(
      c.req.raw.headers,
      opts,
      "send DISPATCH_TOKEN as a bearer token (Authorization: Bearer <token>)",
    );
    if (unauthorized) {
      c.header("WWW-Authenticate", 'Bearer realm="dispatch"');
      return c.json({ error: unauthorized.error, code: unauthorized.code }, unauthorized.status);
    }
    return await next();
  });

  app.onError((error, c) => {
    const [status, body] = errorResponse(error);
    if (status >= 500) opts.log.error("handler failed", { path: c.req.path, error: String(error) });
    return c.json(body, status as 500);
  });
  app.notFound((c) => {
    const allowed = methodsFor(c.req.path);
    const method = c.req.method === "HEAD" ? "GET" : c.req.method;
    if (allowed.length > 0 && !allowed.includes(method)) {
      c.header("Allow", allowed.join(", "));
      return c.json({
        error: `${c.req.method} is not allowed on ${c.req.path}; use ${allowed.join(" or ")}`,
        code: "method_not_allowed",
      }, 405);
    }
    return c.json({ error: `no route ${c.req.method} ${c.req.path}`, code: "no_route" }, 404);
  });
  const patterns: { method: string; regex: RegExp }[] = [];
  const methodsFor = (path: string) => [
    ...new Set(patterns.filter((p) => p.regex.test(path)).map((p) => p.method)),
  ];

  return {
    app,
    route(def, handler) {
      table.push(def);
      if (def.public) publicPaths.add(def.path);
      patterns.push({ method: def.method, regex: pathRegex(def.path) });
      // A malformed id names nothing (404), except where PUT would create it: there it is a bad request.
      const badPath = def.method === "PUT" ? 400 : 404;
      app.on(def.method, def.path, async (c) => {
        const input = {
          params: parse(def.params, c.req.param(), "path", badPath),
          query: parse(def.query, c.req.query(), "query"),
          body: def.body ? parse(def.body, await readJson(c, opts.maxBodyBytes), "body") : undefined,
          request: c.req.raw,
          context: c,
        };
        const out = await (handler as RouteHandler<typeof def>)(input as never);
        return out instanceof Response ? out : c.json(out);
      });
    },
    routes: () => [...table],
    listen() {
      return new Promise((resolve, reject) => {
        try {
          Deno.serve({
            hostname: opts.hostname,
            port: opts.port,
            signal: opts.signal,
            onListen: (addr) => resolve({ hostname: addr.hostname, port: addr.port }),
          }, app.fetch);
        } catch (error) {
          reject(error);
        }
      });
    },
  };
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string, status = 400): T {
  if (!schema) return undefined as T;
  const out = schema.safeParse(value ?? {});
  if (out.success) return out.data;
  const detail = describeZodError(out.error, where, 5);
  throw new HttpError(status, `invalid_${where}`, `invalid ${where}: ${detail}`);
}

/** `/conversations/:id/cwd` → a regex matching its concrete paths (for 405 answers). */
export function pathRegex(path: string): RegExp {
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${escaped.replace(PATH_PARAM, "[^/]+")}$`);
}

/** The conversation a request is about, for the access log. */
function conversationIdOf(path: string): string | undefined {
  const match = /^\/conversations\/([^/]{1,128})(?:\/|$)/.exec(path);
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

async function readJson(c: Context, limit: number): Promise<unknown> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > limit) {
    throw new HttpError(413, "body_too_large", `body is over the limit of ${limit} bytes`);
  }
  const reader = c.req.raw.body?.getReader();
  if (!reader) return {};
  const parts: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new HttpError(413, "body_too_large", `body is over the limit of ${limit} bytes`);
    }
    parts.push(value);
  }
  const text = new TextDecoder().decode(concat(parts, size));
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "invalid_body", "the body must be a JSON object");
  }
  return value;
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export function errorResponse(error: unknown): [number, { error: string; code: string }] {
  if (error instanceof HttpError) return [error.status, { error: error.message, code: error.code }];
  if (error instanceof DispatchError) return [STATUS[error.kind], { error: error.message, code: error.code }];
  if (error instanceof z.ZodError) return [400, { error: error.message, code: "invalid" }];
  return [500, { error: "internal error; see the daemon's log", code: "internal" }];
}
