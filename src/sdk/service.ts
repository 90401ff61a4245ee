// Tools that call one configured outside HTTP service (Firecrawl, a transcriber): the service's URL checked
// once, the sandbox's net grant derived from it, one JSON request at a time with a time limit that also ends on
// the tool's abort, and results capped with a marker. Failures are ToolFailures the model can read.
import { fail, ToolFailure } from "./tool.ts";

/** Largest answer read from a service; beyond it the answer is refused rather than held in memory. */
export const MAX_SERVICE_ANSWER_BYTES = 16 * 1024 * 1024;

/**
 * An http(s) service base URL without credentials, query or fragment, trailing slashes dropped; a message
 * naming `name` when it is not one.
 */
export function parseServiceUrl(name: string, value: string): { ok: true; url: string } | {
  ok: false;
  error: string;
} {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, error: `${name} must be an http(s) URL, got ${JSON.stringify(value)}` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, error: `${name} must be an http(s) URL, got ${url.protocol}` };
  }
  if (url.username || url.password) return { ok: false, error: `${name} may not carry credentials` };
  if (url.search || url.hash) return { ok: false, error: `${name} may not have a query or fragment` };
  return { ok: true, url: url.href.replace(/\/+$/, "") };
}

/** The `net` permission entry for a service URL: exactly its host and port (`api.firecrawl.dev:443`). */
export function netGrant(serviceUrl: string): string {
  const url = new URL(serviceUrl);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}`;
}

/** `text` cut to `max` characters, with a marker saying how much was left out and what to do about it. */
export function capText(text: string, max: number, hint: string): string {
  if (text.length <= max) return text;
  return `${
    text.slice(0, max)
  }\n\n[truncated: showing the first ${max} of ${text.length} characters; ${hint}]`;
}

export interface ServiceRequest {
  /** The service's name in messages ("Firecrawl"). */
  service: string;
  method: "GET" | "POST" | "DELETE";
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** The tool call's signal: an abort ends the request at once. */
  signal: AbortSignal;
  timeoutMs: number;
}

export interface ServiceAnswer {
  status: number;
  /** The parsed JSON, or the text when the body is not JSON (a proxy's HTML error page). */
  body: unknown;
  headers: Headers;
}

/**
 * One request, redirects refused (the grant is one host). Any HTTP answer is returned for the caller to read;
 * an unreachable service, a refused connection, a timeout or an oversized answer is a ToolFailure.
 */
export async function requestService(req: ServiceRequest): Promise<ServiceAnswer> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = AbortSignal.any([req.signal, timeout]);
  const where = new URL(req.url).host;
  try {
    const res = await fetch(req.url, {
      method: req.method,
      redirect: "manual",
      signal,
      headers: {
        accept: "application/json",
        ...(req.body !== undefined ? { "content-type": "application/json" } : {}),
        ...req.headers,
      },
      body: req.body !== undefined ? JSON.stringify(req.body) : undefined,
    });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      fail(`${req.service} answered with a redirect (${res.status}), which is not followed`);
    }
    const text = await readCapped(res, MAX_SERVICE_ANSWER_BYTES, req.service);
    return { status: res.status, body: parseJson(text), headers: res.headers };
  } catch (error) {
    if (error instanceof ToolFailure) throw error;
    if (req.signal.aborted) fail(`${req.service} request aborted`);
    if (timeout.aborted) fail(`${req.service} did not answer within ${Math.round(req.timeoutMs / 1000)} s`);
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      fail(`the sandbox refused to connect to ${where}: ${(error as Error).message}`);
    }
    fail(`cannot reach ${req.service} at ${where}: ${(error as Error).message}`);
  }
}

/** The error a service put in its answer (`{error}` or `{message}`, or the text), on one short line. */
export function answerError(body: unknown): string {
  let raw: unknown = body;
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    raw = b.error ?? b.message ?? body;
  }
  const text = typeof raw === "string" ? raw : JSON.stringify(raw);
  const line = (text ?? "").replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line || "no details";
}

/** What an HTTP error answer means, for the model: who refused, why (the service's words), what to do. */
export function statusFailure(service: string, answer: ServiceAnswer, keyName?: string): string {
  const said = answerError(answer.body);
  const s = answer.status;
  if (s === 401 || s === 403) {
    return `${service} refused the credentials (${s}): ${said}${keyName ? `; check ${keyName}` : ""}`;
  }
  if (s === 402) {
    return `${service} wants payment (402): ${said}; the account is out of credits or its plan does not allow this`;
  }
  if (s === 408) return `${service} timed out (408): ${said}`;
  if (s === 429) {
    const retry = answer.headers.get("retry-after") ?? "";
    const when = /^\d{1,6}$/.test(retry) ? `retry after ${retry} s` : "try again later";
    return `${service} rate limit reached (429): ${said}; ${when}`;
  }
  if (s >= 500) return `${service} failed (${s}): ${said}`;
  return `${service} refused the request (${s}): ${said}`;
}

async function readCapped(res: Response, max: number, service: string): Promise<string> {
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > max) {
      fail(`${service} sent more than ${max / 1024 / 1024} MB; the answer was dropped`);
    }
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
