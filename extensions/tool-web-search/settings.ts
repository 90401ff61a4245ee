// Which Firecrawl web_search talks to, read from the environment by the composition root. The values reach the
// sandbox as config granted at activation (the key included): the extension has no env permission.
import { BootError } from "../../src/kernel/mod.ts";
import { netGrant, parseServiceUrl } from "../../src/sdk/service.ts";
import { MAX_CRAWL_TIMEOUT_MS } from "./tool_spec.ts";

export const DEFAULT_FIRECRAWL_BASE_URL = "https://api.firecrawl.dev";
export const DEFAULT_CRAWL_TIMEOUT_MS = 120_000;

/** The names in the extension's granted config. */
export const FIRECRAWL_BASE_URL = "FIRECRAWL_BASE_URL";
export const FIRECRAWL_API_KEY = "FIRECRAWL_API_KEY";
export const FIRECRAWL_CRAWL_TIMEOUT_MS = "FIRECRAWL_CRAWL_TIMEOUT_MS";

export interface FirecrawlSettings {
  /** Config handed to the sandbox at activation. */
  grant: Record<string, string>;
  /** The sandbox's only `net` entry: the base URL's host:port. */
  net: string;
}

/**
 * Undefined (no web_search) unless a key or a (self-hosted) base URL is set; a BootError for a malformed value.
 */
export function firecrawlSettings(env: Record<string, string | undefined>): FirecrawlSettings | undefined {
  const key = env[FIRECRAWL_API_KEY];
  const base = env[FIRECRAWL_BASE_URL];
  if (!key && !base) return undefined;
  const parsed = parseServiceUrl(FIRECRAWL_BASE_URL, base || DEFAULT_FIRECRAWL_BASE_URL);
  if (!parsed.ok) throw new BootError(`tool-web-search: ${parsed.error}`);
  const timeout = env[FIRECRAWL_CRAWL_TIMEOUT_MS];
  if (timeout !== undefined && !(/^[1-9]\d{0,8}$/.test(timeout) && Number(timeout) <= MAX_CRAWL_TIMEOUT_MS)) {
    throw new BootError(
      `tool-web-search: ${FIRECRAWL_CRAWL_TIMEOUT_MS} must be a whole number of milliseconds, at most ${MAX_CRAWL_TIMEOUT_MS}`,
    );
  }
  return {
    grant: {
      [FIRECRAWL_BASE_URL]: parsed.url,
      ...(key ? { [FIRECRAWL_API_KEY]: key } : {}),
      ...(timeout ? { [FIRECRAWL_CRAWL_TIMEOUT_MS]: timeout } : {}),
    },
    net: netGrant(parsed.url),
  };
}
