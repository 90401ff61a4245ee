// transport-ws: one WebSocket for surfaces and chat. Served on the HTTP port at `/surface` (a public route: the
// socket checks the token itself, since browsers cannot set headers on it) and, when SURFACE_WS_PORT is set, on
// its own port at any path (non-upgrade requests there get 426), both by the same handler.
import { z } from "zod";
import { BootError, type ExtensionContext, type ExtensionModule } from "../../src/kernel/mod.ts";
import { sessionRoutes } from "../../src/contract/session_routes.ts";
import { ConversationStoreKey } from "../conversation-store/api.ts";
import { MessageQueueKey } from "../message-queue/api.ts";
import { OrchestratorKey } from "../session-orchestrator/api.ts";
import { SurfaceClientsKey } from "../surface-registry/api.ts";
import { HttpServerKey } from "../transport-http/api.ts";
import { Hub, type HubOptions } from "./hub.ts";
import { upgrade } from "./upgrade.ts";

export { manifest } from "./manifest.ts";
export { Hub, type HubOptions } from "./hub.ts";
export { upgrade } from "./upgrade.ts";

export interface WsOptions extends Partial<HubOptions> {
  hostname: string;
  /** A dedicated WebSocket port (SURFACE_WS_PORT; 0 picks a free one, logged as "surface socket listening"). */
  surfaceWsPort?: number;
  /** DISPATCH_TOKEN: a secret, so it comes through the factory, never ctx.config. */
  token?: string;
  allowedOrigins: string[];
  /** Host names served (DNS-rebinding guard), as on the HTTP port; undefined accepts any. */
  allowedHosts?: string[];
  /** Seconds a client may leave a ping unanswered before Deno closes it (default 60; 0: never). */
  idleTimeoutSec?: number;
}

export const DEFAULTS: HubOptions & { idleTimeoutSec: number } = {
  heartbeatMs: 20_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxFrameChars: 2 * 1024 * 1024,
  maxReplayEvents: 10_000,
  idleTimeoutSec: 60,
};

const whole = (name: string) =>
  z.string().regex(/^\d{1,10}$/, `${name} must be a whole number`).transform(Number);
const EnvSchema = z.object({
  DISPATCH_WS_HEARTBEAT_MS: whole("DISPATCH_WS_HEARTBEAT_MS").pipe(z.number().min(10)).optional(),
  DISPATCH_WS_MAX_BUFFER_BYTES: whole("DISPATCH_WS_MAX_BUFFER_BYTES").pipe(z.number().min(1024)).optional(),
  DISPATCH_WS_IDLE_TIMEOUT_S: whole("DISPATCH_WS_IDLE_TIMEOUT_S").optional(),
  DISPATCH_WS_SLOW_CLIENT_MS: whole("DISPATCH_WS_SLOW_CLIENT_MS").pipe(z.number().min(100)).optional(),
});

/**
 * Tuning from the environment: DISPATCH_WS_HEARTBEAT_MS (heartbeat frame interval, default 20 s),
 * DISPATCH_WS_MAX_BUFFER_BYTES (per-client send buffer before disconnect, default 4 MiB),
 * DISPATCH_WS_IDLE_TIMEOUT_S (unanswered-ping timeout, default 60 s), DISPATCH_WS_SLOW_CLIENT_MS (how long a
 * client may leave its send buffer over half full before it is disconnected, default 30 s). Throws naming a malformed variable.
 */
export function wsOptionsFromEnv(env: Record<string, string | undefined>): Partial<WsOptions> {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    // As a BootError the daemon reports it in one line and exits, like any core extension that cannot start.
    throw new BootError(
      `transport-ws: ${parsed.error.issues[0].path.join(".")}: ${parsed.error.issues[0].message}`,
    );
  }
  const e = parsed.data;
  return {
    ...(e.DISPATCH_WS_HEARTBEAT_MS !== undefined ? { heartbeatMs: e.DISPATCH_WS_HEARTBEAT_MS } : {}),
    ...(e.DISPATCH_WS_MAX_BUFFER_BYTES !== undefined
      ? { maxBufferedBytes: e.DISPATCH_WS_MAX_BUFFER_BYTES }
      : {}),
    ...(e.DISPATCH_WS_IDLE_TIMEOUT_S !== undefined ? { idleTimeoutSec: e.DISPATCH_WS_IDLE_TIMEOUT_S } : {}),
    ...(e.DISPATCH_WS_SLOW_CLIENT_MS !== undefined ? { slowClientMs: e.DISPATCH_WS_SLOW_CLIENT_MS } : {}),
  };
}

export function createTransportWs(options: WsOptions): ExtensionModule {
  return {
    async activate(ctx: ExtensionContext) {
      const o = { ...DEFAULTS, ...stripUndefined(options), allowedOrigins: options.allowedOrigins };
      const hub = new Hub({
        registry: ctx.services.require(SurfaceClientsKey),
        orchestrator: ctx.services.require(OrchestratorKey),
        store: ctx.services.require(ConversationStoreKey),
        events: ctx.events,
        log: ctx.log,
        queue: () => ctx.services.get(MessageQueueKey),
        options: o,
      });
      const door = {
        token: o.token,
        allowedOrigins: o.allowedOrigins,
        allowedHosts: o.allowedHosts,
        idleTimeoutSec: o.idleTimeoutSec,
      };
      const handle = (request: Request) => upgrade(request, door, (socket) => hub.accept(socket));

      ctx.services.require(HttpServerKey).route(
        sessionRoutes.surfaceSocket,
        ({ request }) => handle(request),
      );

      const shutdown = new AbortController();
      let server: Deno.HttpServer | undefined;
      if (o.surfaceWsPort !== undefined) {
        const listening = Promise.withResolvers<void>();
        server = Deno.serve({
          hostname: o.hostname,
          port: o.surfaceWsPort,
          signal: shutdown.signal,
          onListen: ({ hostname, port }) => {
            const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
            ctx.log.info("surface socket listening", { url: `ws://${shown}:${port}/`, port });
            listening.resolve();
          },
          onError: (error) => {
            ctx.log.error("surface socket request failed", { error: String(error) });
            return new Response(JSON.stringify({ error: "internal error", code: "internal" }), {
              status: 500,
            });
          },
        }, handle);
        await listening.promise;
      }
      return async () => {
        // Before the servers stop: the close frames (1001) go out on both ports while connections are up.
        await hub.close();
        shutdown.abort();
        // A client that stopped reading never finishes its close handshake: do not wait on it for long.
        if (server) await Promise.race([server.finished, new Promise((r) => setTimeout(r, 1000))]);
      };
    },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
