// web_search and youtube_transcript through the real sandbox, against fake Firecrawl and transcriber servers on
// loopback speaking the services' documented shapes, error answers included. Each extension's `net` grant is
// the fake service's host:port only: a second server on another port stands for "any other host".
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./assert.ts";
import {
  BootError,
  type ExtensionEntry,
  ExtensionHost,
  type ManifestInput,
  type ToolContext,
  type ToolHandle,
  type ToolResult,
} from "../src/kernel/mod.ts";
import { sandboxedEntry } from "../src/sandbox/mod.ts";
import { loadConfig } from "../src/config.ts";
import { extensionEntries } from "../src/extensions.ts";
import { manifest as webSearch } from "../extensions/tool-web-search/manifest.ts";
import { manifest as youtubeTranscript } from "../extensions/tool-youtube-transcript/manifest.ts";
import { MAX_RESULT_CHARS } from "../extensions/tool-web-search/tool_spec.ts";

interface Recorded {
  method: string;
  path: string;
  auth: string | null;
  body: unknown;
}

/** A loopback HTTP server that records every request and answers with `handle`. */
class FakeService {
  readonly requests: Recorded[] = [];
  #waiters: { match: (r: Recorded) => boolean; resolve: (r: Recorded) => void }[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(handle: (r: Recorded, service: FakeService) => Response) {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const text = await req.text();
      const url = new URL(req.url);
      const r: Recorded = {
        method: req.method,
        path: url.pathname + url.search,
        auth: req.headers.get("authorization"),
        body: text ? JSON.parse(text) : undefined,
      };
      this.requests.push(r);
      for (const w of this.#waiters.filter((w) => w.match(r))) w.resolve(r);
      this.#waiters = this.#waiters.filter((w) => !w.match(r));
      return handle(r, this);
    });
  }

  get origin(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }
  /** This server's `net` permission entry. */
  get net(): string {
    return `127.0.0.1:${this.#server.addr.port}`;
  }

  /** The first request, already received or still to come, that `match`es. */
  seen(match: (r: Recorded) => boolean): Promise<Recorded> {
    const found = this.requests.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  close(): Promise<void> {
    return this.#server.shutdown();
  }
}

const WEB_TOOL_IDS = [webSearch.id, youtubeTranscript.id];

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

// ---------------------------------------------------------------- fake Firecrawl (API v1)

const KEY = "fc-test-key-0123456789";

interface Crawl {
  url: string;
  polls: number;
  cancelled: boolean;
}

function fakeFirecrawl(elsewhere: () => string) {
  const crawls = new Map<string, Crawl>();
  let expectedKey = KEY;
  const service: FakeService = new FakeService((r): Response => {
    if (r.auth !== `Bearer ${expectedKey}`) {
      return json(401, { success: false, error: "Unauthorized: Invalid token" });
    }
    const body = (r.body ?? {}) as Record<string, unknown>;
    const crawlPath = r.path.match(/^\/v1\/crawl\/([^/?]+)$/);
    if (r.method === "POST" && r.path === "/v1/search") {
      const query = String(body.query);
      if (query === "credits") {
        return json(402, {
          success: false,
          error:
            "Payment Required: Insufficient credits to perform this request. For more credits, you can " +
            "upgrade your plan at https://firecrawl.dev/pricing",
        });
      }
      if (query === "busy") {
        return json(429, {
          success: false,
          error:
            "Rate limit exceeded. Consumed (req/min): 21, Remaining (req/min): 0. Upgrade your plan at " +
            "https://firecrawl.dev/pricing for increased rate limits or please retry after 7s",
        }, { "retry-after": "7" });
      }
      if (query === "boom") {
        return json(500, {
          success: false,
          error:
            "An unexpected error occurred. Please contact help@firecrawl.com for help. Your exception ID is 4f2a",
        });
      }
      if (query === "moved") return new Response(null, { status: 302, headers: { location: elsewhere() } });
      if (query === "gateway") return new Response("<html><h1>502 Bad Gateway</h1></html>", { status: 502 });
      if (query === "long") {
        const data = [{
          url: "https://example.com/long",
          title: "Long",
          description: "d".repeat(2 * MAX_RESULT_CHARS),
        }];
        return json(200, { success: true, data });
      }
      if (query === "nothing") return json(200, { success: true, data: [] });
      const data = Array.from({ length: Number(body.limit) }, (_, i) => ({
        url: `https://example.com/${i + 1}`,
        title: `Result ${i + 1} for ${query}`,
        description: `About ${query},\n part ${i + 1}`,
      }));
      return json(200, { success: true, data });
    }
    if (r.method === "POST" && r.path === "/v1/scrape") {
      const url = String(body.url);
      const markdown = url.endsWith("/huge") ? "x".repeat(3 * MAX_RESULT_CHARS) : `Scraped ${url}.`;
      return json(200, {
        success: true,
        data: { markdown, metadata: { title: "Example Domain", sourceURL: url, statusCode: 200 } },
      });
    }
    if (r.method === "POST" && r.path === "/v1/crawl") {
      const id = crypto.randomUUID();
      crawls.set(id, { url: String(body.url), polls: 0, cancelled: false });
      return json(200, { success: true, id, url: `${service.origin}/v1/crawl/${id}` });
    }
    if (r.method === "GET" && crawlPath && crawls.has(crawlPath[1])) {
      const crawl = crawls.get(crawlPath[1])!;
      crawl.polls++;
      const status = { total: 2, creditsUsed: crawl.polls, expiresAt: "2026-12-02T00:00:00Z" };
      const page = (n: number) => ({
        markdown: `Page ${n} text.`,
        metadata: { title: `Page ${n}`, sourceURL: `${crawl.url}/p${n}`, statusCode: 200 },
      });
      // A crawl of .../never never finishes, .../partial never gets past its first page, .../fails fails;
      // any other completes on its second poll.
      if (crawl.url.endsWith("/fails")) {
        return json(200, { status: "failed", completed: 0, ...status, data: [] });
      }
      if (crawl.url.endsWith("/partial")) {
        return json(200, { status: "scraping", completed: 1, ...status, data: [page(1)] });
      }
      if (crawl.url.endsWith("/never") || crawl.polls < 2) {
        return json(200, {
          status: "scraping",
          completed: crawl.url.endsWith("/never") ? 0 : 1,
          ...status,
          data: [],
        });
      }
      // `next` pointing at another host must not be followed.
      return json(200, {
        status: "completed",
        completed: 2,
        ...status,
        next: elsewhere(),
        data: [page(1), page(2)],
      });
    }
    if (r.method === "DELETE" && crawlPath && crawls.has(crawlPath[1])) {
      crawls.get(crawlPath[1])!.cancelled = true;
      return json(200, { status: "cancelled" });
    }
    if (r.method === "POST" && r.path === "/v1/map") {
      const links = ["https://example.com/", "https://example.com/docs", "https://example.com/blog"];
      return json(200, {
        success: true,
        links: body.search ? links.filter((l) => l.includes("docs")) : links,
      });
    }
    return json(404, { success: false, error: `no route ${r.method} ${r.path}` });
  });
  return {
    service,
    crawls,
    setKey: (key: string) => expectedKey = key,
  };
}

// ---------------------------------------------------------------- fake transcriber (the contract in its mod.ts)

const VIDEO = "dQw4w9WgXcQ";

function fakeTranscriber(): FakeService {
  return new FakeService((r) => {
    if (r.method !== "POST" || r.path !== "/transcript") return json(404, { error: "no such route" });
    const { videoId } = r.body as { videoId: string };
    switch (videoId) {
      case VIDEO:
        return json(200, {
          videoId,
          title: "Never Gonna Give You Up",
          language: "en",
          segments: [
            { start: 0, duration: 3.5, text: "We're no strangers" },
            { start: 75.2, duration: 2, text: "to  love" },
            { start: 3725, text: "the end" },
          ],
        });
      case "NoTranscrpt":
        return json(404, { error: "transcripts are disabled for this video" });
      case "EmptySegmnt":
        return json(200, { videoId, segments: [] });
      case "Unauthorizd":
        return json(401, { error: "missing service token" });
      case "PaymentReqd":
        return json(402, { error: "quota exhausted" });
      case "RateLimited":
        return json(429, { error: "slow down" }, { "retry-after": "30" });
      case "ServiceFail":
        return json(500, { error: "whisper crashed" });
      case "WrongShape0":
        return json(200, { text: "a transcript in another shape" });
      default:
        return json(400, { error: `unknown video ${videoId}` });
    }
  });
}

// ---------------------------------------------------------------- running the extensions sandboxed

interface Setup {
  manifest: ManifestInput;
  folder: string;
  /** The host:port the placeholder expands to. */
  net: string;
  grant: Record<string, string>;
}

function entry(s: Setup): ExtensionEntry {
  const placeholder = s.manifest.permissions?.net?.toString() ?? "";
  return sandboxedEntry(s.manifest, new URL(`../extensions/${s.folder}/mod.ts`, import.meta.url), {
    expand: (p) => (p === placeholder ? [s.net] : []),
    grantConfig: s.grant,
  });
}

function toolContext(signal = new AbortController().signal, output: string[] = []): ToolContext {
  return {
    signal,
    conversationId: "c",
    turnId: "t",
    toolCallId: "x",
    emitOutput: (data) => output.push(data),
  };
}

async function boot(setups: Setup[]) {
  const host = new ExtensionHost({ sink: { write() {} }, config: {} });
  await host.boot(setups.map(entry));
  for (const s of host.list()) assertEquals(s.status, "active", `${s.id}: ${s.error}`);
  const tools = new Map<string, ToolHandle>(host.tools.list().map((t) => [t.spec.name, t]));
  const call = async (
    name: string,
    input: unknown,
    opts: { signal?: AbortSignal; output?: string[] } = {},
  ): Promise<ToolResult> => {
    const tool = tools.get(name);
    assert(tool, `${name} is registered`);
    const ctx = toolContext(opts.signal, opts.output);
    const parsed = tool.parse(input); // a sandbox's tool parses in its worker
    if (!parsed.ok) return { content: `invalid arguments for ${name}: ${parsed.error}`, isError: true };
    return await tool.execute(parsed.value, ctx);
  };
  return { host, call };
}

const webSearchSetup = (net: string, baseUrl: string, extra: Record<string, string> = {}): Setup => ({
  manifest: webSearch,
  folder: "tool-web-search",
  net,
  grant: { FIRECRAWL_BASE_URL: baseUrl, FIRECRAWL_API_KEY: KEY, FIRECRAWL_CRAWL_TIMEOUT_MS: "700", ...extra },
});
const transcriptSetup = (net: string, url: string): Setup => ({
  manifest: youtubeTranscript,
  folder: "tool-youtube-transcript",
  net,
  grant: { YOUTUBE_TRANSCRIPT_URL: url },
});

function assertFailed(result: ToolResult, pattern: RegExp): void {
  assert(result.isError, `expected an error result, got ${JSON.stringify(result.content.slice(0, 300))}`);
  assertMatch(result.content, pattern);
}

// ---------------------------------------------------------------- tests

Deno.test("web tools, sandboxed, against fake Firecrawl and transcriber servers", async (t) => {
  const other = new FakeService(() => json(200, { success: true, data: [] }));
  const fc = fakeFirecrawl(() => `${other.origin}/v1/crawl/next-page`);
  const transcriber = fakeTranscriber();
  const { host, call } = await boot([
    webSearchSetup(fc.service.net, fc.service.origin),
    transcriptSetup(transcriber.net, `${transcriber.origin}/transcript`),
  ]);
  try {
    await t.step("search: the documented request, results listed", async () => {
      const result = await call("web_search", { query: "deno workers", limit: 2 });
      assertEquals(result, {
        isError: false,
        content: [
          "1. Result 1 for deno workers\n   https://example.com/1\n   About deno workers, part 1",
          "2. Result 2 for deno workers\n   https://example.com/2\n   About deno workers, part 2",
        ].join("\n\n"),
      });
      const request = await fc.service.seen((r) => r.path === "/v1/search");
      assertEquals(request, {
        method: "POST",
        path: "/v1/search",
        auth: `Bearer ${KEY}`,
        body: { query: "deno workers", limit: 2 },
      });
      assertEquals(
        (await call("web_search", { operation: "search", query: "nothing" })).content,
        'no results for "nothing"',
      );
    });

    await t.step("Firecrawl's error answers become errors the model can read", async () => {
      fc.setKey("another-key");
      try {
        assertFailed(
          await call("web_search", { query: "x" }),
          /^Firecrawl refused the credentials \(401\): Unauthorized: Invalid token; check FIRECRAWL_API_KEY$/,
        );
      } finally {
        fc.setKey(KEY);
      }
      assertFailed(
        await call("web_search", { query: "credits" }),
        /^Firecrawl wants payment \(402\): Payment Required: Insufficient credits .*out of credits/,
      );
      assertFailed(
        await call("web_search", { query: "busy" }),
        /^Firecrawl rate limit reached \(429\): Rate limit exceeded\..*; retry after 7 s$/,
      );
      assertFailed(
        await call("web_search", { query: "boom" }),
        /^Firecrawl failed \(500\): An unexpected error occurred/,
      );
      assertFailed(
        await call("web_search", { query: "moved" }),
        /^Firecrawl answered with a redirect \(302\), which is not followed$/,
      );
      assertFailed(
        await call("web_search", { query: "gateway" }),
        /^Firecrawl failed \(502\): <html><h1>502 Bad Gateway/,
      );
    });

    await t.step("bad arguments are refused before anything is sent", async () => {
      const before = fc.service.requests.length;
      assertFailed(await call("web_search", {}), /^search needs query$/);
      assertFailed(await call("web_search", { operation: "scrape" }), /^scrape needs url$/);
      assertFailed(await call("web_search", { query: "x", limit: 21 }), /^limit: at most 20 for search$/);
      assertFailed(
        await call("web_search", { operation: "fetch", url: "x" }),
        /invalid arguments for web_search: operation/,
      );
      assertFailed(
        await call("web_search", { query: "x", limit: 0 }),
        /invalid arguments for web_search: limit/,
      );
      assertFailed(await call("web_search", { query: 42 }), /invalid arguments for web_search: query/);
      assertEquals(fc.service.requests.length, before);
    });

    await t.step(
      "scrape: the url goes to Firecrawl, never fetched; a long page is cut with a marker",
      async () => {
        const result = await call("web_search", {
          operation: "scrape",
          url: "https://evil.example/steal?x=1",
        });
        assertEquals(result, {
          isError: false,
          content:
            "# Example Domain\nsource: https://evil.example/steal?x=1\n\nScraped https://evil.example/steal?x=1.",
        });
        assertEquals((await fc.service.seen((r) => r.path === "/v1/scrape")).body, {
          url: "https://evil.example/steal?x=1",
          formats: ["markdown"],
          onlyMainContent: true,
        });
        const huge = await call("web_search", { operation: "scrape", url: "example.com/huge" });
        assert(!huge.isError);
        assertMatch(
          huge.content,
          /\n\n\[truncated: showing the first 40000 of \d+ characters; ask for fewer results/,
        );
        assert(huge.content.length < MAX_RESULT_CHARS + 200);
        const long = await call("web_search", { query: "long" });
        assertMatch(long.content, /\[truncated: showing the first 40000 of \d+ characters/);
      },
    );

    await t.step(
      "hostile urls: local and private targets (Firecrawl itself included), other schemes",
      async () => {
        const before = fc.service.requests.length;
        for (
          const url of [
            other.origin,
            "http://localhost:1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
          ]
        ) {
          assertFailed(
            await call("web_search", { operation: "scrape", url }),
            /is a local or private address/,
          );
        }
        assertFailed(
          await call("web_search", { operation: "crawl", url: "file:///etc/passwd" }),
          /only http and https/,
        );
        assertFailed(
          await call("web_search", { operation: "map", url: `${fc.service.origin}/v1/crawl` }),
          /127\.0\.0\.1 is a local or private address/,
        );
        assertEquals(fc.service.requests.length, before);
      },
    );

    await t.step("map: the documented request, links listed", async () => {
      const result = await call("web_search", {
        operation: "map",
        url: "https://example.com",
        query: "docs",
        limit: 5,
      });
      assertEquals(result, {
        isError: false,
        content: "1 links on https://example.com/:\nhttps://example.com/docs",
      });
      assertEquals((await fc.service.seen((r) => r.path === "/v1/map")).body, {
        url: "https://example.com/",
        limit: 5,
        search: "docs",
      });
    });

    await t.step(
      "crawl: started, polled to completion, pages returned; `next` elsewhere is not followed",
      async () => {
        const output: string[] = [];
        const result = await call("web_search", {
          operation: "crawl",
          url: "https://example.com/site",
          limit: 3,
        }, {
          output,
        });
        assertEquals(result, {
          isError: false,
          content: [
            "crawled https://example.com/site: 2 of 2 pages",
            "--- page 1 ---\n# Page 1\nsource: https://example.com/site/p1\n\nPage 1 text.",
            "--- page 2 ---\n# Page 2\nsource: https://example.com/site/p2\n\nPage 2 text.",
          ].join("\n\n"),
        });
        const started = await fc.service.seen((r) => r.method === "POST" && r.path === "/v1/crawl");
        assertEquals(started.body, {
          url: "https://example.com/site",
          limit: 3,
          scrapeOptions: { formats: ["markdown"], onlyMainContent: true },
        });
        const [[id, crawl]] = [...fc.crawls].filter(([, c]) => c.url === "https://example.com/site");
        assertEquals(crawl.polls, 2);
        assertEquals(crawl.cancelled, false);
        assertEquals(output, ["crawling https://example.com/site: 1 of 2 pages\n"]);
        assert(fc.service.requests.every((r) => r.auth === `Bearer ${KEY}` || r.path === "/v1/search"), id);
      },
    );

    await t.step("crawl that never finishes: cancelled at the time limit, with a clear error", async () => {
      const result = await call("web_search", { operation: "crawl", url: "https://example.com/never" });
      assertFailed(result, /^the crawl did not finish within 1 s and was cancelled; no page was scraped yet/);
      const [id] = [...fc.crawls].find(([, c]) => c.url === "https://example.com/never")!;
      await fc.service.seen((r) => r.method === "DELETE" && r.path === `/v1/crawl/${id}`);
      assert(fc.crawls.get(id)!.polls >= 2, "polled more than once before giving up");
    });

    await t.step("crawl stopped at the time limit with some pages: those pages, saying so", async () => {
      const result = await call("web_search", { operation: "crawl", url: "https://example.com/partial" });
      assertEquals(result, {
        isError: false,
        content:
          "crawled https://example.com/partial: 1 of 2 pages (the crawl did not finish within 1 s and " +
          "was cancelled; showing the pages scraped so far)\n\n--- page 1 ---\n# Page 1\n" +
          "source: https://example.com/partial/p1\n\nPage 1 text.",
      });
      const [id] = [...fc.crawls].find(([, c]) => c.url === "https://example.com/partial")!;
      assert(fc.crawls.get(id)!.cancelled, "the crawl was cancelled");
    });

    await t.step("crawl that fails at Firecrawl: an error saying so", async () => {
      assertFailed(
        await call("web_search", { operation: "crawl", url: "https://example.com/fails" }),
        /^Firecrawl reports the crawl of https:\/\/example\.com\/fails failed \(0 of 2 pages\)$/,
      );
    });

    await t.step("crawl aborted while polling: the call ends at once, the crawl is cancelled", async () => {
      const controller = new AbortController();
      const pending = call("web_search", { operation: "crawl", url: "https://example.org/never" }, {
        signal: controller.signal,
      });
      const poll = await fc.service.seen((r) =>
        r.method === "GET" && r.path.startsWith("/v1/crawl/") &&
        [...fc.crawls].some(([id, c]) => r.path.endsWith(id) && c.url === "https://example.org/never")
      );
      controller.abort();
      await assertRejects(() => pending, /aborted/);
      await fc.service.seen((r) => r.method === "DELETE" && r.path === poll.path);
    });

    await t.step("youtube_transcript: the documented request, a timestamped transcript", async () => {
      const result = await call("youtube_transcript", { url: `https://youtu.be/${VIDEO}?si=abc&t=10` });
      assertEquals(result, {
        isError: false,
        content: [
          `transcript of https://www.youtube.com/watch?v=${VIDEO} ("Never Gonna Give You Up", language en):`,
          "[0:00] We're no strangers",
          "[1:15] to love",
          "[1:02:05] the end",
        ].join("\n"),
      });
      assertEquals(await transcriber.seen((r) => r.method === "POST"), {
        method: "POST",
        path: "/transcript",
        auth: null,
        body: { videoId: VIDEO, url: `https://www.youtube.com/watch?v=${VIDEO}` },
      });
    });

    await t.step(
      "youtube_transcript: invalid ids, no transcript and service failures are told apart",
      async () => {
        const before = transcriber.requests.length;
        assertFailed(
          await call("youtube_transcript", { url: "https://vimeo.com/123" }),
          /neither a YouTube video URL/,
        );
        assertFailed(
          await call("youtube_transcript", { url: `https://youtube.com.evil.example/watch?v=${VIDEO}` }),
          /neither a YouTube video URL/,
        );
        assertFailed(
          await call("youtube_transcript", { url: "https://www.youtube.com/watch?v=short" }),
          /not a valid/,
        );
        assertFailed(await call("youtube_transcript", {}), /invalid arguments for youtube_transcript: url/);
        assertEquals(transcriber.requests.length, before, "nothing was sent for an invalid id");

        const cases: [string, RegExp][] = [
          [
            "NoTranscrpt",
            /^video NoTranscrpt has no transcript \(the transcriber said: transcripts are disabled/,
          ],
          ["EmptySegmnt", /^video EmptySegmnt has no transcript \(the transcriber returned no segments\)$/],
          ["Unauthorizd", /^the transcriber refused the credentials \(401\): missing service token$/],
          ["PaymentReqd", /^the transcriber wants payment \(402\): quota exhausted/],
          ["RateLimited", /^the transcriber rate limit reached \(429\): slow down; retry after 30 s$/],
          ["ServiceFail", /^the transcriber failed \(500\): whisper crashed$/],
          ["WrongShape0", /^the transcriber sent an answer of an unexpected shape: segments:/],
        ];
        for (const [id, pattern] of cases) {
          assertFailed(await call("youtube_transcript", { url: id }), pattern);
        }
      },
    );

    assertEquals(other.requests, [], "no request reached the other server");
  } finally {
    await host.shutdown();
    await Promise.all([fc.service.close(), transcriber.close(), other.close()]);
  }
});

Deno.test("each web tool's sandbox reaches its configured host and no other", async () => {
  // Both extensions are pointed at `other`, but their net grant is their own service's port only.
  const fc = fakeFirecrawl(() => "");
  const transcriber = fakeTranscriber();
  const other = new FakeService(() => json(200, { success: true, data: [], segments: [] }));
  const { host, call } = await boot([
    webSearchSetup(fc.service.net, other.origin),
    transcriptSetup(transcriber.net, `${other.origin}/transcript`),
  ]);
  try {
    const refused = new RegExp(
      `^the sandbox refused to connect to 127\\.0\\.0\\.1:${other.origin.split(":")[2]}`,
    );
    assertFailed(await call("web_search", { query: "anything" }), refused);
    assertFailed(await call("youtube_transcript", { url: VIDEO }), refused);
    assertEquals(other.requests, []);
    assertEquals(fc.service.requests, []);
    assertEquals(transcriber.requests, []);
  } finally {
    await host.shutdown();
    await Promise.all([fc.service.close(), transcriber.close(), other.close()]);
  }
});

Deno.test("the composition root registers each web tool only when its service is configured", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-web-tools-" });
  const fc = fakeFirecrawl(() => "");
  const transcriber = fakeTranscriber();
  const env = (extra: Record<string, string>) => ({
    HOME: dir,
    DISPATCH_DATA_DIR: dir,
    DISPATCH_ENV_FILE: `${dir}/none.env`,
    ...extra,
  });
  const webEntries = (extra: Record<string, string>) =>
    extensionEntries(loadConfig(env(extra), dir)).filter((e) => WEB_TOOL_IDS.includes(e.manifest.id));
  const host = new ExtensionHost({ sink: { write() {} }, config: {} });
  try {
    assertEquals(webEntries({}), []);
    assertEquals(webEntries({ FIRECRAWL_API_KEY: KEY }).map((e) => e.manifest.id), ["tool-web-search"]);
    assertEquals(webEntries({ FIRECRAWL_BASE_URL: "http://fc.example:3002" }).map((e) => e.manifest.id), [
      "tool-web-search",
    ]);
    assertEquals(webEntries({ YOUTUBE_TRANSCRIPT_URL: "http://yt.example" }).map((e) => e.manifest.id), [
      "tool-youtube-transcript",
    ]);
    const malformed: Record<string, string>[] = [
      { FIRECRAWL_BASE_URL: "fc.example" },
      { YOUTUBE_TRANSCRIPT_URL: "ftp://yt.example" },
    ];
    for (const bad of malformed) {
      const error = assertThrows(() => webEntries(bad));
      assert(error instanceof BootError, String(error));
    }

    // Wired as the daemon wires them: granted config, net to the configured host only, tools declared.
    await host.boot(webEntries({
      FIRECRAWL_API_KEY: KEY,
      FIRECRAWL_BASE_URL: fc.service.origin,
      YOUTUBE_TRANSCRIPT_URL: `${transcriber.origin}/transcript`,
    }));
    for (const s of host.list()) assertEquals(s.status, "active", `${s.id}: ${s.error}`);
    const tools = new Map(host.tools.list().map((t) => [t.spec.name, t]));
    const ctx = toolContext();
    const found = await tools.get("web_search")!.execute({ query: "wired", limit: 1 }, ctx);
    assertEquals(found.content, "1. Result 1 for wired\n   https://example.com/1\n   About wired, part 1");
    const transcript = await tools.get("youtube_transcript")!.execute({ url: VIDEO }, ctx);
    assertStringIncludes(transcript.content, "[0:00] We're no strangers");
  } finally {
    await host.shutdown();
    await Promise.all([fc.service.close(), transcriber.close()]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a web tool without its grant fails its first call, saying why", async () => {
  const host = new ExtensionHost({ sink: { write() {} }, config: {} });
  await host.boot([
    sandboxedEntry(webSearch, new URL("../extensions/tool-web-search/mod.ts", import.meta.url), {
      expand: () => ["127.0.0.1:9"],
    }),
  ]);
  try {
    const [tool] = host.tools.list();
    const ctx = toolContext();
    await assertRejects(
      () => tool.execute({ query: "x" }, ctx),
      /was not granted a usable FIRECRAWL_BASE_URL/,
    );
  } finally {
    await host.shutdown();
  }
});
