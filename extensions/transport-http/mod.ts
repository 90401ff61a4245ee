import type { ExtensionContext, ExtensionModule } from "../../src/kernel/mod.ts";
import { routes } from "../../src/contract/http.ts";
import { openApiDocument } from "../../src/contract/openapi.ts";
import { directoryChecker } from "../../src/sdk/roots.ts";
import { ConversationStoreKey } from "../conversation-store/api.ts";
import { ModelCatalogKey } from "../credential-store/api.ts";
import { OrchestratorKey } from "../session-orchestrator/api.ts";
import { HttpServerKey } from "./api.ts";
import { LspServiceKey } from "../lsp/api.ts";
import { McpStatusKey } from "../mcp/api.ts";
import { mountConversationRoutes } from "./conversation_routes.ts";
import { mountEventRoutes } from "./event_routes.ts";
import { createServer } from "./server.ts";
import { mountWorkspaceRoutes } from "./workspace_routes.ts";
import { manifest } from "./manifest.ts";

export interface HttpOptions {
  hostname: string;
  port: number;
  token?: string;
  allowedOrigins: string[];
  allowedHosts?: string[];
  maxBodyBytes?: number;
}

/** The token is a secret, so it comes in through the factory, never through ctx.config. */
export function createTransportHttp(options: HttpOptions): ExtensionModule {
  return {
    activate(ctx: ExtensionContext) {
      const shutdown = new AbortController();
      const server = createServer({
        ...options,
        maxBodyBytes: options.maxBodyBytes ?? 2 * 1024 * 1024,
        log: ctx.log,
        signal: shutdown.signal,
      });
      const deps = {
        server,
        store: ctx.services.require(ConversationStoreKey),
        orchestrator: ctx.services.require(OrchestratorKey),
        catalog: ctx.services.require(ModelCatalogKey),
        events: ctx.events,
        checkDir: directoryChecker(ctx.config),
        lspServers: async (cwd: string) =>
          (await ctx.services.get(LspServiceKey)?.status(cwd, { start: true })) ?? [],
        mcpServers: () => ctx.services.get(McpStatusKey)?.servers() ?? [],
      };
      mountConversationRoutes(deps);
      mountEventRoutes(deps);
      mountWorkspaceRoutes(deps);
      // Built on request from what is served then, so routes other extensions add are in it.
      let cached: { count: number; doc: Record<string, unknown> } | undefined;
      server.route(routes.openapi, () => {
        const table = server.routes();
        if (cached?.count !== table.length) {
          cached = {
            count: table.length,
            doc: openApiDocument(table, {
              title: "Dispatch",
              version: manifest.version,
              description: "The Dispatch daemon's HTTP API. Errors are always `{error, code}`.",
            }),
          };
        }
        return cached.doc;
      });
      ctx.services.provide(HttpServerKey, server);
      return () => shutdown.abort();
    },
  };
}
