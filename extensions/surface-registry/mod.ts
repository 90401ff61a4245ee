// surface-registry: the in-process registry of UI surfaces, provided as SurfaceRegistryKey. See api.ts for how
// sandboxed contributors answer actions (a provided handler service named in `contribute`).
import type { ExtensionContext } from "../../src/kernel/mod.ts";
import { SurfaceRegistryKey } from "./api.ts";
import { Registry } from "./registry.ts";

export * from "./api.ts";
export { manifest } from "./manifest.ts";
export { MAX_CONVERSATIONS_PER_SURFACE, Registry } from "./registry.ts";

export function activate(ctx: ExtensionContext): void {
  ctx.services.provide(
    SurfaceRegistryKey,
    new Registry({ events: ctx.events, services: ctx.services, log: ctx.log }),
  );
}
