import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import nodeAssert from "node:assert/strict";
import { BootError, ExtensionHost, type LogRecord } from "../../src/kernel/mod.ts";
import { CredentialsKey } from "./api.ts";
import { createAuthApiKey, CredentialConfigError, credentialsFromEnv, manifest } from "./mod.ts";

const KEY = "sk-auth-test-9d8c7b6a";

Deno.test("auth-apikey: DISPATCH_* → opencode, UMANS_* → umans (default base URL)", () => {
  const { credentials, warnings } = credentialsFromEnv({
    DISPATCH_API_KEY: ` ${KEY} `,
    DISPATCH_BASE_URL: "https://api.example.com/v1/",
    DISPATCH_MODEL: "deepseek-v4-flash",
    UMANS_API_KEY: "umans-key",
  });
  assertEquals(warnings, []);
  assertEquals(credentials, [
    {
      name: "opencode",
      apiKey: KEY,
      baseUrl: "https://api.example.com/v1",
      keyEnv: "DISPATCH_API_KEY",
      defaultModel: "deepseek-v4-flash",
    },
    { name: "umans", apiKey: "umans-key", baseUrl: "https://api.code.umans.ai/v1", keyEnv: "UMANS_API_KEY" },
  ]);
  const custom = credentialsFromEnv({ UMANS_API_KEY: "k", UMANS_BASE_URL: "http://localhost:9000/v1" });
  assertEquals(custom.credentials[0].baseUrl, "http://localhost:9000/v1");
});

Deno.test("auth-apikey: nothing configured is no credentials; empty values count as unset", () => {
  assertEquals(credentialsFromEnv({}), { credentials: [], warnings: [] });
  assertEquals(credentialsFromEnv({ DISPATCH_API_KEY: "", DISPATCH_BASE_URL: "  " }).credentials, []);
});

Deno.test("auth-apikey: a key without a base URL is a clear error; bad URLs too; the key is never echoed", () => {
  const fails = (env: Record<string, string>, pattern: RegExp) =>
    nodeAssert.throws(
      () => credentialsFromEnv(env),
      (e: unknown) =>
        e instanceof CredentialConfigError && pattern.test(e.message) && !e.message.includes(KEY),
    );
  fails({ DISPATCH_API_KEY: KEY }, /DISPATCH_API_KEY is set but DISPATCH_BASE_URL is not/);
  fails({ DISPATCH_API_KEY: KEY, DISPATCH_BASE_URL: "api.example.com" }, /DISPATCH_BASE_URL is not a URL/);
  fails({ DISPATCH_API_KEY: KEY, DISPATCH_BASE_URL: "ftp://x/v1" }, /must be an http\(s\) URL/);
  fails({ DISPATCH_API_KEY: KEY, DISPATCH_BASE_URL: `https://u:${KEY}@x/v1` }, /must not carry credentials/);
  fails({ UMANS_API_KEY: KEY, UMANS_BASE_URL: "nope" }, /UMANS_BASE_URL is not a URL/);
  // variables swapped by mistake: the key is in the URL variable
  fails({ DISPATCH_API_KEY: KEY, DISPATCH_BASE_URL: KEY }, /DISPATCH_BASE_URL is not a URL: \(value hidden/);
});

Deno.test("auth-apikey: odd but usable configurations warn", () => {
  const keyless = credentialsFromEnv({ DISPATCH_BASE_URL: "http://127.0.0.1:8080/v1" });
  assertEquals(keyless.credentials.map((c) => [c.name, c.apiKey]), [["opencode", ""]]);
  assert(/without DISPATCH_API_KEY/.test(keyless.warnings[0]));
  assert(/no provider/.test(credentialsFromEnv({ DISPATCH_MODEL: "m" }).warnings[0]));
  assert(/without UMANS_API_KEY/.test(credentialsFromEnv({ UMANS_BASE_URL: "https://x/v1" }).warnings[0]));
});

Deno.test("auth-apikey: activation provides Credentials and logs names, never keys", async () => {
  const records: LogRecord[] = [];
  const host = new ExtensionHost({ sink: { write: (r) => records.push(r) } });
  try {
    await host.boot([{
      manifest,
      ...createAuthApiKey({ DISPATCH_API_KEY: KEY, DISPATCH_BASE_URL: "https://api.example.com/v1" }),
    }]);
    const credentials = host.services.require(CredentialsKey);
    assertEquals(credentials.list().map((c) => c.name), ["opencode"]);
    assertEquals(credentials.get("opencode")?.apiKey, KEY);
    assertEquals(credentials.get("umans"), undefined);
    nodeAssert.throws(() => {
      (credentials.get("opencode") as { apiKey: string }).apiKey = "changed";
    });
    const loaded = records.find((r) => r.msg === "credentials loaded");
    assert(loaded, JSON.stringify(records));
    for (const r of records) assert(!JSON.stringify(r).includes(KEY), JSON.stringify(r));
  } finally {
    await host.shutdown();
  }
});

Deno.test("auth-apikey: a bad configuration stops the boot (core) with the reason", async () => {
  const host = new ExtensionHost({ sink: { write: () => {} } });
  const error = await assertRejects(
    () => host.boot([{ manifest, ...createAuthApiKey({ DISPATCH_API_KEY: KEY }) }]),
    /auth-apikey failed to activate: DISPATCH_API_KEY is set but DISPATCH_BASE_URL is not/,
  );
  assert(error instanceof BootError);
  assert(!error.message.includes(KEY));
});
