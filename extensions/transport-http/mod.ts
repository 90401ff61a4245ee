import type { ExtensionContext, ExtensionModule } from "../../src/kernel/mod.ts";
import { ConversationStoreKey } from "../conversation-store/api.ts";
import { ModelCatalogKey } from "../credential-store/api.ts";
import { OrchestratorKey } from "../session-orchestrator/api.ts";
import { HttpServerKey } from "./api.ts";
import { mountConversationRoutes } from "./conversation_routes.ts";
import { createServer } from "./server.ts";

export interface HttpOptions {
  hostname: string;
  port: number;
  token?: string;
  allowedOrigins: string[];
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
      mountConversationRoutes({
        server,
        store: ctx.services.require(ConversationStoreKey),
        orchestrator: ctx.services.require(OrchestratorKey),
        catalog: ctx.services.require(ModelCatalogKey),
      });
      ctx.services.provide(HttpServerKey, server);
      return () => shutdown.abort();
    },
  };
}
