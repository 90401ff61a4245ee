// The route machinery: validation from each route's zod schemas, one error shape, auth, CORS, access log.
import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import { z } from "zod";
import { DispatchError, type Logger } from "../../src/kernel/mod.ts";
import type { RouteDef } from "../../src/contract/route.ts";
import type { HttpServer, RouteHandler } from "./api.ts";

export interface ServerOptions {
  hostname: string;
  port: number;
  /** When set, every non-public route needs `Authorization: Bearer <token>`. */
  token?: string;
  allowedOrigins: string[];
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

  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    opts.log.info("request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      conversationId: c.res.headers.get("x-conversation-id") ?? c.req.param("id") ?? undefined,
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
  app.use("*", async (c, next) => {
    if (!opts.token || c.req.method === "OPTIONS" || publicPaths.has(c.req.routePath ?? "")) return next();
    if (publicPaths.has(c.req.path)) return next();
    const header = c.req.header("authorization") ?? "";
    const given = header.startsWith("Bearer ") ? header.slice(7) : "";
    if (!timingSafeEqual(given, opts.token)) {
      return c.json({
        error: "missing or wrong bearer token (set DISPATCH_TOKEN on the client)",
        code: "unauthorized",
      }, 401);
    }
    return next();
  });

  app.onError((error, c) => {
    const [status, body] = errorResponse(error);
    if (status >= 500) opts.log.error("handler failed", { path: c.req.path, error: String(error) });
    return c.json(body, status as 500);
  });
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}`, code: "no_route" }, 404));

  let server: Deno.HttpServer | undefined;
  return {
    app,
    route(def, handler) {
      table.push(def);
      if (def.public) publicPaths.add(def.path);
      app.on(def.method, def.path, async (c) => {
        const input = {
          params: parse(def.params, c.req.param(), "path"),
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
          server = Deno.serve({
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

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  const out = schema.safeParse(value ?? {});
  if (out.success) return out.data;
  const detail = out.error.issues.map((i) => `${i.path.length ? i.path.join(".") : where}: ${i.message}`)
    .join("; ");
  throw new HttpError(where === "path" ? 404 : 400, `invalid_${where}`, `invalid ${where}: ${detail}`);
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
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "body is not valid JSON");
  }
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

/** Loopback origins by default; `*` in the list allows any. */
export function originAllowed(origin: string, allowed: string[]): boolean {
  if (!origin) return false;
  if (allowed.includes("*") || allowed.includes(origin)) return true;
  try {
    const url = new URL(origin);
    return allowed.includes("loopback") &&
      ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  } catch {
    return false;
  }
}

export function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < y.length; i++) diff |= (x[i] ?? 0) ^ y[i];
  return diff === 0;
}
