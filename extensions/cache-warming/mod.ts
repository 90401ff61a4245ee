// cache-warming: per-conversation warming timers, POST /chat/warm, and the per-conversation `cache-warming`
// surface (toggle, interval, state, last cache %, warm-now button, next/last warm times).
import { z } from "zod";
import { BootError, type ExtensionContext, type ExtensionModule, invalid } from "../../src/kernel/mod.ts";
import { sessionRoutes } from "../../src/contract/session_routes.ts";
import { ConversationStoreKey } from "../conversation-store/api.ts";
import { ConversationStatusChanged, OrchestratorKey } from "../session-orchestrator/api.ts";
import { contributeConversationSurface, SurfaceRegistryKey } from "../surface-registry/api.ts";
import { HttpServerKey } from "../transport-http/api.ts";
import { CacheWarmingKey } from "./api.ts";
import { ACTIONS, SURFACE_ID, Warmer, type WarmerOptions } from "./warmer.ts";

export * from "./api.ts";
export { manifest } from "./manifest.ts";
export { ACTIONS, SETTING_KEY, SURFACE_ID, WARM_PROMPT, Warmer, type WarmerOptions } from "./warmer.ts";

export const DEFAULT_TTL_MS = 5 * 60_000;
export const DEFAULT_MAX_IDLE_WARMS = 12;

const ms = (name: string) => z.string().regex(/^\d{1,10}$/, `${name} must be a whole number of milliseconds`);
const EnvSchema = z.object({
  DISPATCH_WARM_TTL_MS: ms("DISPATCH_WARM_TTL_MS").optional(),
  DISPATCH_WARM_INTERVAL_MS: ms("DISPATCH_WARM_INTERVAL_MS").optional(),
  DISPATCH_WARM_DEFAULT: z.enum(["on", "off", "1", "0", "true", "false"]).optional(),
  DISPATCH_WARM_MAX_IDLE: z.string().regex(/^\d{1,6}$/, "DISPATCH_WARM_MAX_IDLE must be a whole number")
    .optional(),
});

/**
 * Options from the environment: DISPATCH_WARM_TTL_MS (the provider's cache lifetime, default 5 min),
 * DISPATCH_WARM_INTERVAL_MS (default 90% of the TTL), DISPATCH_WARM_DEFAULT (on/off for conversations that
 * have not chosen; default off), DISPATCH_WARM_MAX_IDLE (automatic warms without a turn before the timer rests;
 * default 12, 0 = no limit). Throws with the variable's name when one is malformed.
 */
export function warmingOptionsFromEnv(env: Record<string, string | undefined>): WarmerOptions {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    // As a BootError the daemon reports it in one line and exits, like any core extension that cannot start.
    throw new BootError(
      `cache-warming: ${parsed.error.issues[0].path.join(".")}: ${parsed.error.issues[0].message}`,
    );
  }
  const e = parsed.data;
  // No 1 s floor here (that is for intervals people choose on the surface): tests run on short ones.
  const ttlMs = Math.max(10, Number(e.DISPATCH_WARM_TTL_MS ?? DEFAULT_TTL_MS));
  return {
    ttlMs,
    intervalMs: Math.max(10, Number(e.DISPATCH_WARM_INTERVAL_MS ?? Math.round(ttlMs * 0.9))),
    defaultEnabled: ["on", "1", "true"].includes(e.DISPATCH_WARM_DEFAULT ?? "off"),
    maxIdleWarms: Number(e.DISPATCH_WARM_MAX_IDLE ?? DEFAULT_MAX_IDLE_WARMS),
  };
}

const TogglePayload = z.union([z.boolean(), z.object({ value: z.boolean() }).transform((p) => p.value)])
  .optional();
const IntervalPayload = z.union([
  z.number().positive(),
  z.object({ value: z.number().positive() }).transform((p) => p.value),
]);

export function createCacheWarming(options: Partial<WarmerOptions> = {}): ExtensionModule {
  return {
    activate(ctx: ExtensionContext) {
      const registry = ctx.services.require(SurfaceRegistryKey);
      const store = ctx.services.require(ConversationStoreKey);
      const defaults = warmingOptionsFromEnv({});
      const warmer = new Warmer({
        orchestrator: ctx.services.require(OrchestratorKey),
        store,
        hooks: ctx.hooks,
        clock: ctx.clock,
        log: ctx.log,
        options: { ...defaults, ...options },
        changed: (conversationId) => void registry.refresh(SURFACE_ID, conversationId).catch(() => {}),
      });

      const removeSurface = contributeConversationSurface(registry, {
        id: SURFACE_ID,
        title: "Cache Warming",
        fields: (conversationId) => warmer.fields(conversationId),
        invoke: ({ actionId, payload, conversationId }) => {
          const id = conversationId!;
          switch (actionId) {
            case ACTIONS.toggle: {
              const value = TogglePayload.safeParse(payload);
              if (!value.success) {
                throw invalid("invalid_payload", `${actionId} takes a boolean (or nothing, to flip)`);
              }
              return warmer.setSettings(id, { enabled: value.data ?? !warmer.settings(id).enabled });
            }
            case ACTIONS.setInterval: {
              const value = IntervalPayload.safeParse(payload);
              if (!value.success) {
                throw invalid("invalid_payload", `${actionId} takes a number of seconds (> 0)`);
              }
              return warmer.setSettings(id, { intervalMs: value.data * 1000 });
            }
            case ACTIONS.warmNow:
              return warmer.warm(id);
            default:
              throw invalid(
                "unknown_action",
                `surface ${SURFACE_ID} has no action ${actionId}; use ${Object.values(ACTIONS).join(", ")}`,
              );
          }
        },
      });
      const off = ctx.events.on(
        ConversationStatusChanged,
        ({ conversationId, status }) => warmer.statusChanged(conversationId, status),
      );

      ctx.services.require(HttpServerKey).route(
        sessionRoutes.warm,
        ({ body }) =>
          warmer.warm(body.conversationId, {
            ...(body.model ? { model: body.model } : {}),
            ...(body.cwd ? { cwd: body.cwd } : {}),
            ...(body.reasoningEffort ? { reasoningEffort: body.reasoningEffort } : {}),
          }),
      );
      ctx.services.provide(CacheWarmingKey, warmer);
      warmer.start();
      return () => {
        off();
        warmer.stop();
        removeSurface();
      };
    },
  };
}
