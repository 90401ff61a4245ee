// What surface-registry offers: extensions contribute surfaces (global, or one spec per conversation), update
// them, and answer their actions; transports read the catalog and specs and forward updates to clients.
//
// Sandboxed contributors reach this service through the sandbox bridge, which clones arguments and answers and
// cannot carry functions. So every method but `attach` takes and returns plain data, and a contributor's
// action (and render) handler is found in one of two ways:
// - in-process: `attach(surfaceId, {invoke, render})`, functions called directly;
// - across the bridge: the contributor *provides a service* implementing `SurfaceHandler` under a key of its own
//   starting with `surface-handler:` (e.g. `surface-handler:my-surface`) and names that key in
//   `contribute({handlerService})`. The bridge mirrors a sandbox's provided service into the host's registry as
//   a proxy whose calls cross into the worker, so the registry calls it like any other. The prefix keeps a
//   contribution from routing client actions to an unrelated service.
// Each extension gets its own view of SurfaceRegistryKey (the kernel's `perCaller`): surface ids are first come,
// first served (contributing a taken id is refused), what it contributes is its own, and it may update,
// withdraw and invoke only its own surfaces; its handlerService must be one of its own keys. The transports,
// which act for the user on every surface, use SurfaceClientsKey, which sandboxes are never exposed.
// Updates reach transports as `SurfaceUpdated` events on the bus.
import { defineKey } from "../../src/kernel/mod.ts";
import type {
  SurfaceCatalogEntry,
  SurfaceField,
  SurfaceScope,
  SurfaceSpec,
  SurfaceUpdate,
} from "../../src/contract/ui.ts";

export type { SurfaceCatalogEntry, SurfaceField, SurfaceScope, SurfaceSpec, SurfaceUpdate };

export interface SurfaceContribution {
  id: string;
  /** Placement hint, e.g. `side`. */
  region: string;
  title: string;
  /** Default `global`. A `conversation` surface has one spec per conversation. */
  scope?: SurfaceScope;
  /** Fields shown until `update` sets others (for a conversation surface: for every conversation). */
  fields?: SurfaceField[];
  /** Key (`surface-handler:...`) of a service implementing `SurfaceHandler`: how a sandboxed contributor answers. */
  handlerService?: string;
}

export interface InvokeRequest {
  surfaceId: string;
  actionId: string;
  payload?: unknown;
  /** Required for a conversation surface. */
  conversationId?: string;
}

export interface RenderRequest {
  surfaceId: string;
  conversationId?: string;
}

/** A contributor's side of its surface. Both methods are optional. */
export interface SurfaceHandler {
  /** Runs an action; the answer (plain JSON data) goes back to the client. Throw to refuse. */
  invoke?(request: InvokeRequest): unknown;
  /** The current fields, computed on demand (on subscribe, on `refresh`); undefined falls back to stored ones. */
  render?(request: RenderRequest): SurfaceField[] | undefined | Promise<SurfaceField[] | undefined>;
}

export interface SurfaceRegistry {
  /** Adds a surface. Throws DispatchError: invalid (malformed), conflict (the id is taken: withdraw it first). */
  contribute(surface: SurfaceContribution): void;
  /** Removes a surface, its stored fields and its handler. */
  withdraw(surfaceId: string): void;
  /**
   * Sets a surface's fields and pushes them to subscribers. `conversationId` is required for a conversation
   * surface and refused for a global one.
   */
  update(surfaceId: string, fields: SurfaceField[], conversationId?: string): void;
  /** Re-renders (the handler's `render`, else the stored fields) and pushes the result to subscribers. */
  refresh(surfaceId: string, conversationId?: string): Promise<void>;
  /** Drops a conversation's stored fields (back to the surface's defaults). */
  forget(surfaceId: string, conversationId: string): void;
  catalog(): SurfaceCatalogEntry[];
  /** The spec a subscriber gets. Throws DispatchError not_found for an unknown surface. */
  spec(surfaceId: string, conversationId?: string): Promise<SurfaceSpec>;
  /** Runs an action through the surface's handler. Throws DispatchError (not_found, invalid) or the handler's error. */
  invoke(request: InvokeRequest): Promise<unknown>;
  /** In-process contributors only (functions do not cross the sandbox bridge). Returns a detach function. */
  attach(surfaceId: string, handler: SurfaceHandler): () => void;
}

/** For contributors: each caller sees its own surfaces (see above). Defined where sandboxes may import it. */
export { SurfaceRegistryKey } from "../../src/sdk/keys.ts";

/** For transports, acting for the user: every surface's spec and actions. Never expose it to a sandbox. */
export const SurfaceClientsKey = defineKey<SurfaceRegistry>("surface-registry.clients");

/** What an in-process extension gives `contributeConversationSurface`. */
export interface ConversationSurface {
  id: string;
  title: string;
  /** The fields shown for a conversation; for `undefined`, the defaults of conversations not yet rendered. */
  fields(conversationId: string | undefined): SurfaceField[];
  invoke(request: InvokeRequest): unknown;
}

/**
 * Contributes a per-conversation side surface and attaches its handler (in-process contributors only). Returns
 * the function that removes it again: detached, then withdrawn.
 */
export function contributeConversationSurface(
  registry: SurfaceRegistry,
  surface: ConversationSurface,
): () => void {
  registry.contribute({
    id: surface.id,
    region: "side",
    title: surface.title,
    scope: "conversation",
    fields: surface.fields(undefined),
  });
  const detach = registry.attach(surface.id, {
    render: ({ conversationId }) => surface.fields(conversationId),
    invoke: (request) => surface.invoke(request),
  });
  return () => {
    detach();
    registry.withdraw(surface.id);
  };
}

/** Every `handlerService` key starts with this. */
export const HANDLER_SERVICE_PREFIX = "surface-handler:";

/** A surface's spec changed (for one conversation when `conversationId` is set). */
export const SurfaceUpdated = defineKey<SurfaceUpdate>("surface.updated");

/** Surfaces were added or removed. */
export const SurfaceCatalogChanged = defineKey<{ catalog: SurfaceCatalogEntry[] }>("surface.catalog-changed");
