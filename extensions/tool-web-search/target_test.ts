import { assertEquals, assertMatch } from "../../tests/assert.ts";
import { ToolFailure } from "../../src/sdk/tool.ts";
import { firecrawlSettings } from "./settings.ts";
import { isPrivateHost, publicTarget } from "./target.ts";

const FIRECRAWL = "http://firecrawl.lan.example:3002";

function refusal(raw: string): string {
  try {
    publicTarget(raw, FIRECRAWL);
  } catch (error) {
    if (error instanceof ToolFailure) return error.message;
    throw error;
  }
  throw new Error(`${raw} was accepted`);
}

Deno.test("publicTarget: public http(s) URLs pass, bare names become https", () => {
  assertEquals(publicTarget("https://example.com/a?b=1#c", FIRECRAWL), "https://example.com/a?b=1#c");
  assertEquals(publicTarget(" example.com/docs ", FIRECRAWL), "https://example.com/docs");
  assertEquals(publicTarget("http://93.184.215.14/", FIRECRAWL), "http://93.184.215.14/");
  assertEquals(publicTarget("https://[2606:4700::1111]/", FIRECRAWL), "https://[2606:4700::1111]/");
});

Deno.test("publicTarget: local, private and odd targets are refused before Firecrawl is asked", () => {
  for (
    const raw of [
      "http://localhost:8080/",
      "http://app.localhost/",
      "http://127.0.0.1/",
      "http://2130706433/", // 127.0.0.1 as one number
      "http://0x7f.1/",
      "http://10.1.2.3/",
      "http://172.20.0.1/",
      "http://192.168.1.1/",
      "http://169.254.169.254/latest/meta-data/",
      "http://100.100.1.1/",
      "http://0.0.0.0/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://[fd00::1]/",
      "http://[fe80::1]/",
      "http://router/",
      "http://printer.local/",
      "http://db.internal/",
    ]
  ) assertMatch(refusal(raw), /is a local or private address/, raw);
  assertMatch(refusal("file:///etc/passwd"), /only http and https/);
  assertMatch(refusal("gopher://example.com/"), /only http and https/);
  assertMatch(refusal("https://user:pw@example.com/"), /user name or password/);
  assertMatch(refusal("http://firecrawl.lan.example:9999/admin"), /Firecrawl itself/);
  assertMatch(refusal("http://exa mple.com/"), /is not a URL/);
});

Deno.test("isPrivateHost: public addresses are not private", () => {
  for (const host of ["example.com", "8.8.8.8", "172.32.0.1", "100.128.0.1", "[2001:db8::1]"]) {
    assertEquals(isPrivateHost(host), false, host);
  }
});

Deno.test("firecrawl settings: off without a key or URL; the default host, or the self-hosted one, is the grant", () => {
  assertEquals(firecrawlSettings({}), undefined);
  assertEquals(firecrawlSettings({ FIRECRAWL_API_KEY: "fc-1" }), {
    grant: { FIRECRAWL_BASE_URL: "https://api.firecrawl.dev", FIRECRAWL_API_KEY: "fc-1" },
    net: "api.firecrawl.dev:443",
  });
  assertEquals(firecrawlSettings({ FIRECRAWL_BASE_URL: "http://10.0.0.5:3002/" }), {
    grant: { FIRECRAWL_BASE_URL: "http://10.0.0.5:3002" },
    net: "10.0.0.5:3002",
  });
  assertEquals(
    firecrawlSettings({ FIRECRAWL_BASE_URL: "http://fc.example", FIRECRAWL_CRAWL_TIMEOUT_MS: "5000" })?.grant,
    { FIRECRAWL_BASE_URL: "http://fc.example", FIRECRAWL_CRAWL_TIMEOUT_MS: "5000" },
  );
  for (
    const env of [
      { FIRECRAWL_BASE_URL: "fc.example" },
      { FIRECRAWL_BASE_URL: "file:///x" },
      { FIRECRAWL_API_KEY: "k", FIRECRAWL_CRAWL_TIMEOUT_MS: "soon" },
      { FIRECRAWL_API_KEY: "k", FIRECRAWL_CRAWL_TIMEOUT_MS: "600001" },
    ]
  ) {
    let message = "";
    try {
      firecrawlSettings(env);
    } catch (error) {
      message = (error as Error).message;
    }
    assertMatch(message, /^tool-web-search: FIRECRAWL_/, JSON.stringify(env));
  }
});
