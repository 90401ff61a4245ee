// web_search's name, description and input schema in one place: the manifest declares the tool with them (the
// daemon offers it before the sandbox starts) and mod.ts registers it with them, so the two cannot differ.
import { z } from "zod";

export const NAME = "web_search";
/** The most text one call returns; beyond it the result is cut with a marker. */
export const MAX_RESULT_CHARS = 40_000;
/** One request to Firecrawl. */
export const REQUEST_TIMEOUT_MS = 60_000;
/** The longest FIRECRAWL_CRAWL_TIMEOUT_MS may be, so that the tool's declared limit holds. */
export const MAX_CRAWL_TIMEOUT_MS = 600_000;
/**
 * The longest one call can take: starting a crawl, polling it to the time limit (a poll started just before
 * it may take a whole request), cancelling it.
 */
export const WEB_SEARCH_TIMEOUT_MS = MAX_CRAWL_TIMEOUT_MS + 2 * REQUEST_TIMEOUT_MS + 5_000;
export const LIMITS = {
  search: { default: 5, max: 20 },
  crawl: { default: 10, max: 50 },
  map: { default: 200, max: 1000 },
} as const;

export const inputSchema = z.object({
  operation: z.enum(["search", "scrape", "crawl", "map"]).default("search").describe(
    "search (default): web search for query. scrape: one page's content as markdown. crawl: a site's pages " +
      "from url. map: the links (URLs) of a site, optionally filtered by query.",
  ),
  query: z.string().trim().min(1).max(500).optional().describe(
    "search: what to look for (required). map: keep only links about this. Not used by scrape and crawl.",
  ),
  url: z.string().trim().min(1).max(2048).optional().describe(
    "scrape, crawl, map: the page or site (required); `example.com/x` means https. Not used by search.",
  ),
  limit: z.number().int().min(1).max(LIMITS.map.max).optional().describe(
    `search: results (default ${LIMITS.search.default}, at most ${LIMITS.search.max}); crawl: pages ` +
      `(default ${LIMITS.crawl.default}, at most ${LIMITS.crawl.max}); map: links (default ` +
      `${LIMITS.map.default}, at most ${LIMITS.map.max}).`,
  ),
});
export type Input = z.output<typeof inputSchema>;

export const description = [
  "Search and read the web through Firecrawl. operation search (default) returns titles, URLs and snippets for",
  "query; scrape returns one page (url) as markdown; crawl follows a site's links from url and returns its",
  "pages as markdown (slow: use scrape for one page); map lists a site's URLs. Only public sites can be read.",
  `Results longer than ${MAX_RESULT_CHARS} characters are cut, with a note saying so.`,
].join(" ");
