// Firecrawl's API v1 (docs.firecrawl.dev/api-reference, v1): POST /v1/search {query, limit} → {success, data:
// [{title, description, url, markdown?}]}; POST /v1/scrape {url, formats} → {success, data: {markdown,
// metadata}}; POST /v1/crawl {url, limit, scrapeOptions} → {success, id}, then GET /v1/crawl/{id} → {status:
// "scraping" | "completed" | "failed" | "cancelled", total, completed, data: [page]} and DELETE /v1/crawl/{id}
// to cancel; POST /v1/map {url, search?, limit} → {success, links}. `Authorization: Bearer <key>`; errors are
// {success: false, error} with 401 (bad key), 402 (out of credits), 429 (rate limit), 5xx.
import { z } from "zod";
import { describeZodError } from "../../src/kernel/mod.ts";
import { answerError, requestService, type ServiceAnswer, statusFailure } from "../../src/sdk/service.ts";
import { fail, ToolFailure } from "../../src/sdk/tool.ts";

const SERVICE = "Firecrawl";

const Metadata = z.object({
  title: z.string().nullish(),
  description: z.string().nullish(),
  sourceURL: z.string().nullish(),
  url: z.string().nullish(),
  statusCode: z.number().nullish(),
  error: z.string().nullish(),
});
const PageSchema = z.object({ markdown: z.string().nullish(), metadata: Metadata.nullish() });
export type Page = z.infer<typeof PageSchema>;

const SearchAnswer = z.object({
  data: z.array(z.object({
    url: z.string(),
    title: z.string().nullish(),
    description: z.string().nullish(),
    markdown: z.string().nullish(),
  })),
  warning: z.string().nullish(),
});
export type SearchResult = z.infer<typeof SearchAnswer>["data"][number];
const ScrapeAnswer = z.object({ data: PageSchema.extend({ warning: z.string().nullish() }) });
// The id goes into a URL path: only the characters Firecrawl's ids (UUIDs) are made of.
const CrawlStarted = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/) });
const CrawlStatus = z.object({
  status: z.string(),
  total: z.number().nullish(),
  completed: z.number().nullish(),
  data: z.array(PageSchema).nullish(),
});
const MapAnswer = z.object({ links: z.array(z.union([z.string(), z.object({ url: z.string() })])) });

export interface FirecrawlOptions {
  baseUrl: string;
  apiKey?: string;
  /** One request's limit. */
  requestTimeoutMs: number;
  /** How long a crawl is polled before it is cancelled. */
  crawlTimeoutMs: number;
}

export interface CrawlOutcome {
  pages: Page[];
  total: number;
  /** Why the crawl ended before completing, if it did (time limit). */
  stopped?: string;
}

/** Status polls start fast (a small crawl is done in seconds) and back off to this. */
const MAX_POLL_MS = 2_000;

export class Firecrawl {
  constructor(private readonly o: FirecrawlOptions) {}

  async search(query: string, limit: number, signal: AbortSignal): Promise<SearchResult[]> {
    return (await this.#call("POST", "/v1/search", { query, limit }, SearchAnswer, signal)).data;
  }

  async scrape(url: string, signal: AbortSignal): Promise<Page> {
    const body = { url, formats: ["markdown"], onlyMainContent: true };
    return (await this.#call("POST", "/v1/scrape", body, ScrapeAnswer, signal)).data;
  }

  async map(url: string, search: string | undefined, limit: number, signal: AbortSignal): Promise<string[]> {
    const body = { url, limit, ...(search ? { search } : {}) };
    const { links } = await this.#call("POST", "/v1/map", body, MapAnswer, signal);
    return links.map((l) => (typeof l === "string" ? l : l.url));
  }

  /**
   * Starts a crawl and polls it until it completes. At the time limit it is cancelled and the pages scraped so
   * far are returned; on abort (or a failure while polling) it is cancelled and the call fails.
   */
  async crawl(
    url: string,
    limit: number,
    signal: AbortSignal,
    progress: (done: number, total: number) => void,
  ): Promise<CrawlOutcome> {
    const body = { url, limit, scrapeOptions: { formats: ["markdown"], onlyMainContent: true } };
    const { id } = await this.#call("POST", "/v1/crawl", body, CrawlStarted, signal);
    const path = `/v1/crawl/${id}`;
    const deadline = Date.now() + this.o.crawlTimeoutMs;
    let last: z.infer<typeof CrawlStatus> | undefined;
    let wait = 250;
    try {
      while (true) {
        last = await this.#call("GET", path, undefined, CrawlStatus, signal);
        const pages = last.data ?? [];
        const total = last.total ?? pages.length;
        if (last.status === "completed") return { pages, total };
        if (last.status === "failed" || last.status === "cancelled") {
          fail(
            `Firecrawl reports the crawl of ${url} ${last.status} (${last.completed ?? 0} of ${total} pages)`,
          );
        }
        progress(last.completed ?? pages.length, total);
        const left = deadline - Date.now();
        if (left <= 0) break;
        await sleep(Math.min(wait, left), signal);
        wait = Math.min(wait * 2, MAX_POLL_MS);
      }
    } catch (error) {
      await this.#cancel(path);
      if (signal.aborted) fail("crawl aborted; it was cancelled at Firecrawl");
      throw error;
    }
    await this.#cancel(path);
    const pages = last?.data ?? [];
    const seconds = Math.round(this.o.crawlTimeoutMs / 1000);
    const stopped = `the crawl did not finish within ${seconds} s and was cancelled`;
    if (pages.length === 0) {
      fail(`${stopped}; no page was scraped yet. Try a smaller limit or scrape single pages`);
    }
    return { pages, total: last?.total ?? pages.length, stopped };
  }

  /** Best effort: stops a crawl that is no longer wanted from spending credits. */
  async #cancel(path: string): Promise<void> {
    try {
      await this.#request("DELETE", path, undefined, AbortSignal.timeout(5_000));
    } catch (error) {
      if (!(error instanceof ToolFailure)) throw error;
    }
  }

  async #call<S extends z.ZodType>(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    schema: S,
    signal: AbortSignal,
  ): Promise<z.output<S>> {
    const answer = await this.#request(method, path, body, signal);
    if (answer.status < 200 || answer.status > 299) fail(statusFailure(SERVICE, answer, "FIRECRAWL_API_KEY"));
    const b = answer.body as { success?: unknown; error?: unknown } | null;
    if (b && typeof b === "object" && b.success === false) {
      fail(`Firecrawl could not do it: ${answerError(b)}`);
    }
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success) {
      fail(
        `Firecrawl's answer to ${method} ${path} has an unexpected shape: ${describeZodError(parsed.error)}`,
      );
    }
    return parsed.data;
  }

  #request(method: "GET" | "POST" | "DELETE", path: string, body: unknown, signal: AbortSignal) {
    return requestService({
      service: SERVICE,
      method,
      url: this.o.baseUrl + path,
      body,
      headers: this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {},
      signal,
      timeoutMs: this.o.requestTimeoutMs,
    }) satisfies Promise<ServiceAnswer>;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      signal.aborted ? reject(signal.reason) : resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
