// A seeded fuzz of the HTTP API: several hundred malformed requests (odd methods, paths, ids, queries, bodies
// and content types) against one daemon on loopback. Nothing may answer 5xx, every error is `{error, code}`,
// and the daemon serves normally afterwards. The PRNG is seeded, so a failure replays exactly.
import { assert, assertEquals } from "./assert.ts";
import { startFakeProvider, text } from "./fake_provider.ts";
import { readNdjson, startDaemon } from "./daemon.ts";
import { routes } from "../src/contract/http.ts";
import { prng } from "./prng.ts";

const SEED = 0x5eed_2026;
const COUNT = 400;
const PARALLEL = 8;

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
}

function generator(random: () => number, knownId: string) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const chance = (p: number) => random() < p;

  const templates: [string, string][] = [
    ...Object.values(routes).map((r): [string, string] => [r.method, r.path]),
    ["GET", "/"],
    ["POST", "/chat/warm"],
    ["POST", "/conversations/:id/queue"],
    ["DELETE", "/conversations/:id/queue/:id"],
    ["POST", "/conversations/:id/compact"],
    ["PUT", "/conversations/:id/compact-percent"],
    ["GET", "/conversations/:id/lsp"],
    ["PUT", "/system-prompt"],
    ["GET", "/surface"],
  ];
  const ids = [
    knownId,
    "default",
    "c1",
    "new-one",
    "",
    "%C3%A9t%C3%A9",
    "%E2%9C%93%F0%9F%98%80",
    "%E0%A4%A",
    "%",
    "%00",
    "..",
    "%2e%2e",
    "a%2Fb",
    "with%20space",
    "x".repeat(300),
    "A".repeat(129),
    "UPPER",
    "-dash",
    "a.b:c_d",
    "%ff%fe",
  ];
  const queryKeys = [
    "q",
    "status",
    "workspaceId",
    "all",
    "sinceSeq",
    "beforeSeq",
    "limit",
    "period",
    "date",
    "x",
  ];
  const queryValues = [
    "",
    "1",
    "-1",
    "0",
    "1.5",
    "99999999999999999999",
    "1e400",
    "NaN",
    "active,idle",
    "weird",
    "day",
    "month",
    "2026-02-30",
    "%E0%A4%A",
    "%C3%A9",
    "true",
    "[]",
    "x".repeat(500),
  ];
  const fields = [
    "message",
    "text",
    "conversationId",
    "model",
    "cwd",
    "reasoningEffort",
    "workspaceId",
    "clientRequestId",
    "title",
    "defaultCwd",
    "percent",
    "threshold",
    "__proto__",
    "constructor",
  ];
  const strings = [
    "",
    " ",
    "hello",
    "/tmp",
    "/etc",
    "relative",
    "low",
    "extreme",
    "opencode/fake-model",
    "nobody/x",
    "é✓😀",
    "\u0000\u0001",
    "\ud800",
    "x".repeat(2000),
    "Not A Slug",
  ];
  const numbers = [0, -1, 1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 42];

  const value = (depth: number): unknown => {
    switch (int(depth > 2 ? 5 : 7)) {
      case 0:
        return null;
      case 1:
        return chance(0.5);
      case 2:
        return pick(numbers);
      case 3:
      case 4:
        return pick(strings);
      case 5:
        return Array.from({ length: int(4) }, () => value(depth + 1));
      default: {
        const out: Record<string, unknown> = {};
        for (let i = int(4); i >= 0; i--) out[chance(0.8) ? pick(fields) : `k${int(100)}`] = value(depth + 1);
        return out;
      }
    }
  };

  const body = (): string | Uint8Array<ArrayBuffer> | undefined => {
    switch (int(12)) {
      case 0:
        return undefined;
      case 1:
        return "";
      case 2:
        return "{";
      case 3:
        return "null";
      case 4:
        return '{"title": 1e400, "percent": -0}';
      case 5:
        return new Uint8Array(Array.from({ length: 1 + int(64) }, () => int(256)));
      case 6:
        return chance(0.1) ? `{"title": "${"x".repeat(2 * 1024 * 1024 + 10)}"}` : JSON.stringify([value(1)]);
      case 7:
        return "a=b&c=d";
      default:
        return JSON.stringify(value(0)).replaceAll("1e+308", "1e999");
    }
  };

  return (): FuzzRequest => {
    const [routeMethod, template] = pick(templates);
    // Mostly well-formed ids, so requests get past routing into validation and the handlers.
    let path = template.replace(/:\w+/g, () => chance(0.6) ? pick(ids.slice(0, 4)) : pick(ids));
    if (chance(0.05)) path = path.replace("/", "//");
    if (chance(0.05)) path += "/";
    if (chance(0.03)) path += `/${pick(ids)}`;
    if (chance(0.03)) path = path.toUpperCase();
    if (chance(0.4)) {
      const parts = Array.from({ length: 1 + int(3) }, () => `${pick(queryKeys)}=${pick(queryValues)}`);
      path += `?${parts.join("&")}`;
    }
    const method = chance(0.7)
      ? routeMethod
      : pick(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]);
    const headers: Record<string, string> = {};
    const contentType = pick([
      "application/json",
      "application/json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "",
      "application/json; charset=latin1",
    ]);
    if (contentType) headers["content-type"] = contentType;
    if (chance(0.1)) headers["x-client-request-id"] = pick(strings.filter((s) => /^[\x20-\x7e]*$/.test(s)));
    if (chance(0.05)) headers.origin = pick(["http://localhost:24204", "https://evil.example", "null"]);
    const b = method === "GET" || method === "HEAD" ? undefined : body();
    return { method, path, headers, ...(b !== undefined ? { body: b } : {}) };
  };
}

Deno.test("fuzz: hundreds of malformed requests, no 5xx, one error shape, the daemon keeps serving", async () => {
  const fake = await startFakeProvider({ defaultScript: [text("fuzzed")] });
  const daemon = await startDaemon({
    env: { DISPATCH_API_KEY: "sk-fuzz", DISPATCH_BASE_URL: fake.baseUrl, DISPATCH_MODEL: "fake-model" },
  });
  try {
    const seeded = await fetch(new URL("/chat", daemon.url), {
      method: "POST",
      body: JSON.stringify({ message: "seed" }),
    });
    const knownId = seeded.headers.get("x-conversation-id")!;
    await seeded.text();

    const next = generator(prng(SEED), knownId);
    const requests = Array.from({ length: COUNT }, next);
    const base = daemon.url.replace(/\/$/, "");
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < requests.length; i += PARALLEL) {
      await Promise.all(
        requests.slice(i, i + PARALLEL).map(async (r, j) => {
          const label = `#${i + j} ${r.method} ${r.path.slice(0, 120)} ${
            typeof r.body === "string" ? r.body.slice(0, 80) : r.body ? "<bytes>" : ""
          }`;
          let res: Response;
          try {
            res = await fetch(base + r.path, {
              method: r.method,
              headers: r.headers,
              body: r.body,
              signal: AbortSignal.timeout(10_000),
            });
          } catch (error) {
            failures.push(`${label}: no answer (${error})`);
            return;
          }
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const raw = await res.text();
          if (res.status >= 500) failures.push(`${label}: ${res.status} ${raw.slice(0, 200)}`);
          if (res.status >= 400 && r.method !== "HEAD") {
            let parsed: { error?: unknown; code?: unknown } | undefined;
            try {
              parsed = JSON.parse(raw);
            } catch { /* reported below */ }
            if (typeof parsed?.error !== "string" || typeof parsed?.code !== "string") {
              failures.push(`${label}: ${res.status} without the error shape: ${raw.slice(0, 200)}`);
            }
          }
        }),
      );
    }
    assertEquals(failures, [], failures.slice(0, 10).join("\n"));
    // The requests reached routing, validation and the handlers, not just one kind of refusal.
    const seen = [...statuses.keys()];
    for (const status of [200, 400, 404, 405, 413]) {
      assert(seen.includes(status), `no ${status}: ${[...statuses]}`);
    }

    // Still serving, and serving turns.
    assertEquals(await (await fetch(`${base}/health`)).json(), { ok: true });
    const res = await fetch(`${base}/chat`, {
      method: "POST",
      body: JSON.stringify({ message: "after the storm" }),
    });
    assertEquals((await readNdjson(res)).find((e) => e.type === "done")?.reason, "stop");
    assert(!daemon.logs().includes('"msg":"handler failed"'), "no handler failed");
  } finally {
    const status = await daemon.stop();
    assertEquals(status.code, 0, "the daemon exits cleanly");
    await fake.close();
  }
});
