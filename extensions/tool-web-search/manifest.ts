import { type ManifestInput, toolSpec } from "../../src/kernel/mod.ts";
import { description, inputSchema, NAME, WEB_SEARCH_TIMEOUT_MS } from "./tool_spec.ts";

export const manifest: ManifestInput = {
  id: "tool-web-search",
  version: "0.1.0",
  description: "web_search: searches, scrapes, crawls and maps the web through Firecrawl",
  dependsOn: [],
  // "$FIRECRAWL_HOST" is expanded by the host to the configured base URL's host:port; nothing else is reachable.
  permissions: { net: ["$FIRECRAWL_HOST"] },
  core: false,
  // Declared, so the daemon offers the tool without starting the sandbox (it starts on the first call).
  tools: [{ ...toolSpec({ name: NAME, description, inputSchema }), timeoutMs: WEB_SEARCH_TIMEOUT_MS }],
};
