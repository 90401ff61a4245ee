import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "tool-web-search",
  version: "0.1.0",
  description: "web_search: searches, scrapes, crawls and maps the web through Firecrawl",
  dependsOn: [],
  // "$FIRECRAWL_HOST" is expanded by the host to the configured base URL's host:port; nothing else is reachable.
  permissions: { net: ["$FIRECRAWL_HOST"] },
  core: false,
};
