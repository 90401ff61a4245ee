// Token auth over HTTP (the WebSocket's is tested with transport-ws), the loopback-only default bind, and
// secrets kept out of the daemon's log.
import { assert, assertEquals, assertMatch, assertThrows } from "./assert.ts";
import { startFakeProvider, text } from "./fake_provider.ts";
import { readNdjson, runCliProcess, startDaemon, startDaemonWithFake } from "./daemon.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { timingSafeEqual } from "../extensions/auth-apikey/access.ts";

const TOKEN = "tok-0123456789abcdef-auth-test";
const API_KEY = "sk-auth-test-secret-key-987654";

Deno.test("with DISPATCH_TOKEN: every route but /health needs the bearer token; the CLI sends it", async (t) => {
  const { fake, daemon } = await startDaemonWithFake(API_KEY, { DISPATCH_TOKEN: TOKEN });
  const bearer = { authorization: `Bearer ${TOKEN}` };
  try {
    await t.step("/health is public", async () => {
      const res = await daemon.fetch("/health");
      assertEquals([res.status, await res.json()], [200, { ok: true }]);
    });

    await t.step("every documented route refuses a missing, wrong or malformed token with 401", async () => {
      const doc = await (await daemon.fetch("/openapi.json", { headers: bearer })).json();
      const wrong = TOKEN.slice(0, -1) + (TOKEN.endsWith("x") ? "y" : "x");
      const refusals: Record<string, string>[] = [
        {},
        { authorization: `Bearer ${wrong}` },
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: `Bearer ${TOKEN.slice(0, 8)}` },
        { authorization: TOKEN },
        { authorization: `Basic ${btoa(`user:${TOKEN}`)}` },
        { authorization: "Bearer " },
        { authorization: `Bearer ${API_KEY}` },
      ];
      let checked = 0;
      for (
        const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { security?: [] }>>)
      ) {
        for (const [method, op] of Object.entries(ops)) {
          if (op.security?.length === 0) continue; // public
          const concrete = path.replace(/\{(\w+)\}/g, "probe");
          for (const headers of refusals) {
            const res = await daemon.fetch(concrete, {
              method: method.toUpperCase(),
              headers: { ...headers, "content-type": "application/json" },
              body: method === "get" ? undefined : "{}",
            });
            const body = await res.json();
            assertEquals(res.status, 401, `${method} ${path} with ${JSON.stringify(headers)}`);
            assertEquals(body.code, "unauthorized");
            assertMatch(body.error, /bearer token/);
            assertMatch(res.headers.get("www-authenticate") ?? "", /^Bearer/);
            checked++;
          }
        }
      }
      assert(checked >= 25 * refusals.length, `${checked} checks`);
      // An unknown route is refused too: no probing for what exists.
      assertEquals((await (await daemon.fetch("/no/such/route")).json()).code, "unauthorized");
    });

    await t.step("the right token (any case of the scheme) is let through", async () => {
      for (const scheme of ["Bearer", "bearer", "BEARER"]) {
        const res = await daemon.fetch("/models", { headers: { authorization: `${scheme} ${TOKEN}` } });
        assertEquals(res.status, 200, scheme);
        assert((await res.json()).models.includes("opencode/fake-model"));
      }
      fake.script([text("authorized")]);
      const res = await daemon.fetch("/chat", {
        method: "POST",
        headers: { ...bearer, "content-type": "application/json" },
        body: JSON.stringify({ message: "hello" }),
      });
      assertEquals(res.status, 200);
      assertEquals((await readNdjson(res)).find((e) => e.type === "done")?.reason, "stop");
      const unknown = await daemon.fetch("/conversations/nobody", { headers: bearer });
      assertEquals(unknown.status, 404, "authorized requests reach the routes");
      await unknown.body?.cancel();
    });

    await t.step("CORS preflights from loopback origins are answered without a token", async () => {
      const res = await daemon.fetch("/conversations", {
        method: "OPTIONS",
        headers: {
          origin: "http://localhost:24204",
          "access-control-request-method": "GET",
          "access-control-request-headers": "authorization",
        },
      });
      assertEquals(res.status, 204);
      assertEquals(res.headers.get("access-control-allow-origin"), "http://localhost:24204");
      assertMatch(res.headers.get("access-control-allow-headers") ?? "", /authorization/i);
      await res.body?.cancel();
      const evil = await daemon.fetch("/conversations", {
        method: "OPTIONS",
        headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
      });
      assertEquals(evil.headers.get("access-control-allow-origin"), null);
      await evil.body?.cancel();
    });

    await t.step("the CLI sends DISPATCH_TOKEN; without it, one line says what is missing", async () => {
      const server = ["--server", daemon.url];
      const [ok, missing, wrong] = await Promise.all([
        runCliProcess(["models", ...server], { DISPATCH_TOKEN: TOKEN }),
        runCliProcess(["models", ...server]),
        runCliProcess(["list", ...server], { DISPATCH_TOKEN: "tok-wrong-wrong-wrong-wrong" }),
      ]);
      assertEquals(ok.code, 0, ok.stderr);
      assertMatch(ok.stdout, /opencode\/fake-model/);
      for (const failed of [missing, wrong]) {
        assertEquals(failed.code, 1);
        assertEquals(failed.stderr.trim().split("\n").length, 1, failed.stderr);
        assertMatch(failed.stderr, /bearer token.*DISPATCH_TOKEN/);
      }
    });

    await t.step("neither the token nor the API key ever reaches the daemon's log", async () => {
      // Even when a client puts them where a careless log would pick them up.
      await (await daemon.fetch(`/models?token=${TOKEN}&key=${API_KEY}`, { headers: bearer })).text();
      await (await daemon.fetch(`/conversations/${API_KEY}`, { headers: bearer })).text();
      const logs = daemon.logs();
      assert(logs.includes('"msg":"request"'), "requests are logged");
      assert(!logs.includes(TOKEN), "the token is not in the log");
      assert(!logs.includes(API_KEY), "the API key is not in the log");
    });
  } finally {
    await daemon.stop();
    await fake.close();
  }
  assert(!daemon.logs().includes(TOKEN) && !daemon.logs().includes(API_KEY), "not even at shutdown");
});

Deno.test("without DISPATCH_TOKEN the API is open (on loopback)", async () => {
  const fake = await startFakeProvider();
  const daemon = await startDaemon({ env: { DISPATCH_API_KEY: "sk-x", DISPATCH_BASE_URL: fake.baseUrl } });
  try {
    assertEquals((await daemon.fetch("/workspaces")).status, 200);
    const withHeader = await daemon.fetch("/workspaces", { headers: { authorization: "Bearer whatever" } });
    assertEquals(withHeader.status, 200, "a stray header is ignored");
    await withHeader.body?.cancel();
    assertMatch(daemon.url, /^http:\/\/127\.0\.0\.1:/);
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("`dispatch serve` refuses a non-loopback bind without a token: exit 1, one line", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "dispatch-bind-" });
  try {
    // HOME stays the real one: Deno's module cache lives under it.
    const env = { BACKEND_PORT: "0", DISPATCH_DATA_DIR: `${cwd}/data`, HOME: Deno.env.get("HOME") ?? "/tmp" };
    const [open, short] = await Promise.all([
      runCliProcess(["serve"], { ...env, DISPATCH_HOST: "0.0.0.0" }, cwd),
      runCliProcess(["serve"], { ...env, DISPATCH_TOKEN: "short" }, cwd),
    ]);
    assertEquals(open.code, 1);
    assertEquals(open.stderr.trim().split("\n").length, 1, open.stderr);
    assertMatch(open.stderr, /^dispatch: refusing to listen on 0\.0\.0\.0 without DISPATCH_TOKEN/);
    assertEquals(open.stdout, "");
    assertEquals(short.code, 1);
    assertEquals(short.stderr.trim().split("\n").length, 1, short.stderr);
    assertMatch(short.stderr, /DISPATCH_TOKEN must be at least 16 characters/);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("loadConfig: loopback by default; other hosts need a token or DISPATCH_ALLOW_INSECURE_BIND", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "dispatch-config-" });
  try {
    const load = (env: Record<string, string>) => loadConfig({ HOME: cwd, ...env }, cwd);
    assertEquals(load({}).hostname, "127.0.0.1");
    for (const host of ["127.0.0.1", "127.0.0.2", "localhost", "::1"]) {
      assertEquals(load({ DISPATCH_HOST: host }).hostname, host);
    }
    for (const host of ["0.0.0.0", "192.168.1.10", "::", "example.com", "127.0.0.1.example.com"]) {
      assertThrows(() => load({ DISPATCH_HOST: host }), /refusing to listen/);
      assertEquals(load({ DISPATCH_HOST: host, DISPATCH_TOKEN: TOKEN }).token, TOKEN);
      const insecure = load({ DISPATCH_HOST: host, DISPATCH_ALLOW_INSECURE_BIND: "1" });
      assertEquals([insecure.hostname, insecure.allowInsecureBind, insecure.token], [host, true, undefined]);
    }
    assert(assertThrows(() => load({ DISPATCH_TOKEN: "0123456789" })) instanceof ConfigError);
    assertThrows(() => load({ DISPATCH_ALLOW_INSECURE_BIND: "yes" }), /DISPATCH_ALLOW_INSECURE_BIND/);
    // An env file can hold the token; the environment wins over it.
    await Deno.writeTextFile(`${cwd}/.env`, `DISPATCH_TOKEN=${TOKEN}\nDISPATCH_HOST=0.0.0.0\n`);
    assertEquals(load({}).token, TOKEN);
    assertThrows(() => load({ DISPATCH_TOKEN: "" }), /refusing to listen/);
    // The token is a secret: it is not in what every extension may read.
    assert(!Object.values(load({}).public).some((v) => v.includes(TOKEN)));
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("timingSafeEqual compares whole strings, whatever their lengths", () => {
  assert(timingSafeEqual(TOKEN, TOKEN));
  assert(!timingSafeEqual("", TOKEN));
  assert(!timingSafeEqual(TOKEN.slice(0, -1), TOKEN));
  assert(!timingSafeEqual(`${TOKEN}x`, TOKEN));
  assert(!timingSafeEqual(TOKEN.replace("0", "1"), TOKEN));
  assert(!timingSafeEqual("é", "e\u0301"));
  assert(timingSafeEqual("é✓", "é✓"));
});
