// The page a model asks Firecrawl to scrape, crawl or map. The extension never fetches it (its sandbox can reach
// only Firecrawl), but a self-hosted Firecrawl sits inside the user's network: a model steered by a hostile page
// must not use it to read local or private addresses (a router, a cloud metadata endpoint, Firecrawl itself).
import { fail } from "../../src/sdk/tool.ts";

/** An absolute public http(s) URL (`example.com/x` is read as https); anything else fails the call. */
export function publicTarget(raw: string, firecrawlBaseUrl: string): string {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:/i.test(text) ? text : `https://${text}`);
  } catch {
    fail(`url: ${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    fail(`url: only http and https pages, not ${url.protocol}`);
  }
  if (url.username || url.password) fail("url: may not carry a user name or password");
  const host = url.hostname.toLowerCase();
  if (isPrivateHost(host)) fail(`url: ${host} is a local or private address; only public sites can be read`);
  if (host === new URL(firecrawlBaseUrl).hostname.toLowerCase()) {
    fail("url: may not point at Firecrawl itself");
  }
  return url.href;
}

/**
 * True for names and literal addresses that are not on the public internet: localhost, single-label and
 * .local/.internal names, loopback, private, link-local, carrier-grade NAT and unspecified IPv4 and IPv6 (the URL
 * parser has already turned `0x7f.1`, `2130706433` and the like into dotted IPv4).
 */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "");
  if (host.includes(":")) return isPrivateIPv6(host);
  const v4 = host.match(/^(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (v4) return isPrivateIPv4(v4.slice(1).map(Number));
  if (!host.includes(".")) return true;
  return /(^|\.)(localhost|local|internal|lan|home\.arpa)$/.test(host);
}

function isPrivateIPv4([a, b]: number[]): boolean {
  return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
}

function isPrivateIPv6(host: string): boolean {
  if (host === "::" || host === "::1") return true;
  const mapped = host.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/) ??
    host.match(/^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/);
  if (mapped) {
    const parts = mapped.length === 2
      ? mapped[1].split(".").map(Number)
      : [parseInt(mapped[1], 16) >> 8, parseInt(mapped[1], 16) & 255];
    return isPrivateIPv4(parts);
  }
  const first = parseInt(host.split(":")[0] || "0", 16);
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00;
}
