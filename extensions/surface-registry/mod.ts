// surface-registry: the in-process registry of UI surfaces, provided as SurfaceRegistryKey. See api.ts for how
// sandboxed contributors answer actions (a provided handler service named in `contribute`).
import { type ExtensionContext, perCaller } from "../../src/kernel/mod.ts";
import { SurfaceClientsKey, SurfaceRegistryKey } from "./api.ts";
import { Registry } from "./registry.ts";

export * from "./api.ts";
export { manifest } from "./manifest.ts";
export { MAX_CONVERSATIONS_PER_SURFACE, Registry } from "./registry.ts";

export function activate(ctx: ExtensionContext): void {
  const registry = new Registry({ events: ctx.events, services: ctx.services, log: ctx.log });
  // Each extension works on its own surfaces; the host's own code (no caller) and the transports see all.
  ctx.services.provide(
    SurfaceRegistryKey,
    perCaller((caller) => caller === undefined ? registry : registry.viewFor(caller)),
  );
  ctx.services.provide(SurfaceClientsKey, registry);
}
