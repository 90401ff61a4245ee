// web_search: Firecrawl's search, scrape, crawl and map as one tool. Runs sandboxed with `net` to Firecrawl's
// host only; the base URL and key come from the config the host grants at activation (settings.ts).
import type { ExtensionContext } from "../../src/kernel/contracts.ts";
import { capText, parseServiceUrl } from "../../src/sdk/service.ts";
import { defineTool, fail } from "../../src/sdk/tool.ts";
import { Firecrawl, type Page, type SearchResult } from "./firecrawl.ts";
import { publicTarget } from "./target.ts";
import {
  DEFAULT_CRAWL_TIMEOUT_MS,
  FIRECRAWL_API_KEY,
  FIRECRAWL_BASE_URL,
  FIRECRAWL_CRAWL_TIMEOUT_MS,
} from "./settings.ts";
import {
  description,
  type Input,
  inputSchema,
  LIMITS,
  MAX_CRAWL_TIMEOUT_MS,
  MAX_RESULT_CHARS,
  NAME,
  REQUEST_TIMEOUT_MS,
} from "./tool_spec.ts";

export { manifest } from "./manifest.ts";

export function activate(ctx: ExtensionContext): void {
  const base = parseServiceUrl(FIRECRAWL_BASE_URL, ctx.config[FIRECRAWL_BASE_URL] ?? "");
  if (!base.ok) {
    throw new Error(`tool-web-search was not granted a usable ${FIRECRAWL_BASE_URL}: ${base.error}`);
  }
  const crawlTimeoutMs = Number(ctx.config[FIRECRAWL_CRAWL_TIMEOUT_MS] ?? DEFAULT_CRAWL_TIMEOUT_MS);
  if (!Number.isInteger(crawlTimeoutMs) || crawlTimeoutMs <= 0 || crawlTimeoutMs > MAX_CRAWL_TIMEOUT_MS) {
    throw new Error(`tool-web-search was granted an unusable ${FIRECRAWL_CRAWL_TIMEOUT_MS}`);
  }
  const firecrawl = new Firecrawl({
    baseUrl: base.url,
    apiKey: ctx.config[FIRECRAWL_API_KEY] || undefined,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    crawlTimeoutMs,
  });

  ctx.tools.register(defineTool({
    name: NAME,
    description,
    inputSchema,
    async execute(input, tctx) {
      const { signal } = tctx;
      switch (input.operation) {
        case "search": {
          if (!input.query) fail("search needs query");
          const results = await firecrawl.search(input.query, limitFor("search", input), signal);
          return capped(formatSearch(input.query, results));
        }
        case "scrape": {
          const url = target(input, "scrape", base.url);
          return capped(formatPage(await firecrawl.scrape(url, signal), url));
        }
        case "crawl": {
          const url = target(input, "crawl", base.url);
          const outcome = await firecrawl.crawl(url, limitFor("crawl", input), signal, (done, total) => {
            tctx.emitOutput(`crawling ${url}: ${done} of ${total} pages\n`, "stdout");
          });
          const head = `crawled ${url}: ${outcome.pages.length} of ${outcome.total} pages` +
            (outcome.stopped ? ` (${outcome.stopped}; showing the pages scraped so far)` : "");
          return capped([head, ...outcome.pages.map((p, i) => `--- page ${i + 1} ---\n${formatPage(p, url)}`)]
            .join("\n\n"));
        }
        case "map": {
          const url = target(input, "map", base.url);
          const links = await firecrawl.map(url, input.query, limitFor("map", input), signal);
          if (links.length === 0) return `no links found on ${url}`;
          return capped(`${links.length} links on ${url}:\n${links.join("\n")}`);
        }
      }
    },
  }));
}

function limitFor(op: keyof typeof LIMITS, input: Input): number {
  const { default: fallback, max } = LIMITS[op];
  if (input.limit !== undefined && input.limit > max) fail(`limit: at most ${max} for ${op}`);
  return input.limit ?? fallback;
}

function target(input: Input, op: string, firecrawlBaseUrl: string): string {
  if (!input.url) fail(`${op} needs url`);
  return publicTarget(input.url, firecrawlBaseUrl);
}

const capped = (text: string) =>
  capText(text, MAX_RESULT_CHARS, "ask for fewer results, or scrape single pages instead of crawling");

function formatSearch(query: string, results: SearchResult[]): string {
  if (results.length === 0) return `no results for ${JSON.stringify(query)}`;
  return results.map((r, i) =>
    [
      `${i + 1}. ${oneLine(r.title) || r.url}`,
      `   ${r.url}`,
      ...(r.description ? [`   ${oneLine(r.description)}`] : []),
      ...(r.markdown ? ["", r.markdown.trim()] : []),
    ].join("\n")
  ).join("\n\n");
}

function formatPage(page: Page, requested: string): string {
  const meta = page.metadata ?? {};
  const source = meta.sourceURL ?? meta.url ?? requested;
  const lines = [`# ${oneLine(meta.title) || source}`, `source: ${source}`];
  if (meta.statusCode && meta.statusCode >= 400) lines.push(`(the page answered HTTP ${meta.statusCode})`);
  if (meta.error) lines.push(`(error: ${oneLine(meta.error)})`);
  const body = page.markdown?.trim();
  return [...lines, "", body || "(no text content)"].join("\n");
}

const oneLine = (s: string | null | undefined) => (s ?? "").replace(/\s+/g, " ").trim();
