// The registry itself: surfaces by id, per-conversation fields, handlers; every contribution validated (it may
// come from a sandboxed extension).
import { z } from "zod";
import {
  conflict,
  describeZodError,
  errorMessage,
  type Events,
  invalid,
  type Logger,
  notFound,
  type Services,
} from "../../src/kernel/mod.ts";
import {
  RegionSchema,
  type SurfaceCatalogEntry,
  type SurfaceField,
  SurfaceFieldsSchema,
  type SurfaceScope,
  SurfaceScopeSchema,
  type SurfaceSpec,
  SurfaceSpecSchema,
} from "../../src/contract/ui.ts";
import {
  HANDLER_SERVICE_PREFIX,
  type InvokeRequest,
  SurfaceCatalogChanged,
  type SurfaceContribution,
  type SurfaceHandler,
  type SurfaceRegistry,
  SurfaceUpdated,
} from "./api.ts";

const ContributionSchema = z.object({
  id: SurfaceSpecSchema.shape.id,
  region: RegionSchema,
  title: SurfaceSpecSchema.shape.title,
  scope: SurfaceScopeSchema.default("global"),
  fields: SurfaceFieldsSchema.default([]),
  handlerService: z.string().max(200).regex(
    /^surface-handler:[A-Za-z0-9._:-]+$/,
    `handler service keys start with "${HANDLER_SERVICE_PREFIX}" (so no other service can be named)`,
  ).optional(),
}).strict();

const ConversationIdSchema = z.string().min(1).max(128);

/** Stored fields kept per conversation surface; the least recently updated go first past this. */
export const MAX_CONVERSATIONS_PER_SURFACE = 5000;

interface Surface {
  id: string;
  region: string;
  title: string;
  scope: SurfaceScope;
  fields: SurfaceField[];
  handlerService?: string;
  /** The extension that contributed it; undefined for the host's own code (the composition root, tests). */
  owner?: string;
  /** Per-conversation fields of a conversation surface. */
  perConversation: Map<string, SurfaceField[]>;
}

export interface RegistryDeps {
  events: Events;
  services: Services;
  log: Logger;
  maxConversations?: number;
}

export class Registry implements SurfaceRegistry {
  #surfaces = new Map<string, Surface>();
  #attached = new Map<string, SurfaceHandler>();

  constructor(private readonly deps: RegistryDeps) {}

  contribute(surface: SurfaceContribution, owner?: string): void {
    const c = parse(ContributionSchema, surface, "surface");
    if (owner !== undefined && c.handlerService && !ownHandlerKey(c.handlerService, owner)) {
      throw invalid(
        "foreign_handler",
        `handlerService ${c.handlerService} is not ${owner}'s: use a key starting with ` +
          `"${HANDLER_SERVICE_PREFIX}${owner}"`,
      );
    }
    const taken = this.#surfaces.get(c.id);
    // An extension contributing again what it already owns (a sandbox restarted after a crash, which never
    // withdrew) replaces it; anyone else's id stays taken.
    if (taken && owner !== undefined && taken.owner === owner) this.withdraw(c.id);
    else if (taken) {
      throw conflict(
        "surface_exists",
        `surface ${c.id} is already contributed; withdraw it first to replace it`,
      );
    }
    this.#surfaces.set(c.id, {
      id: c.id,
      region: c.region,
      title: c.title,
      scope: c.scope,
      fields: c.fields,
      handlerService: c.handlerService,
      owner,
      perConversation: new Map(),
    });
    this.#catalogChanged();
  }

  withdraw(surfaceId: string): void {
    this.#attached.delete(surfaceId);
    if (this.#surfaces.delete(surfaceId)) this.#catalogChanged();
  }

  update(surfaceId: string, fields: SurfaceField[], conversationId?: string): void {
    const surface = this.#surface(surfaceId);
    const checked = parse(SurfaceFieldsSchema, fields, "fields");
    const cid = this.#scopeCheck(surface, conversationId);
    if (cid === undefined) {
      surface.fields = checked;
    } else {
      surface.perConversation.delete(cid); // re-inserted last: the map's order is recency
      surface.perConversation.set(cid, checked);
      const max = this.deps.maxConversations ?? MAX_CONVERSATIONS_PER_SURFACE;
      while (surface.perConversation.size > max) {
        surface.perConversation.delete(surface.perConversation.keys().next().value!);
      }
    }
    this.#emit(surface, checked, cid);
  }

  async refresh(surfaceId: string, conversationId?: string): Promise<void> {
    const surface = this.#surface(surfaceId);
    const cid = this.#scopeCheck(surface, conversationId);
    const fields = await this.#fields(surface, cid);
    if (this.#surfaces.get(surfaceId) === surface) this.#emit(surface, fields, cid);
  }

  forget(surfaceId: string, conversationId: string): void {
    this.#surfaces.get(surfaceId)?.perConversation.delete(conversationId);
  }

  catalog(): SurfaceCatalogEntry[] {
    return [...this.#surfaces.values()].map((s) => ({
      id: s.id,
      region: s.region,
      title: s.title,
      scope: s.scope,
    }));
  }

  async spec(surfaceId: string, conversationId?: string): Promise<SurfaceSpec> {
    const surface = this.#surface(surfaceId);
    // A conversation surface asked without a conversation (no tab focused) shows its defaults.
    const cid = surface.scope === "conversation" ? conversationId : undefined;
    return specOf(surface, await this.#fields(surface, cid));
  }

  async invoke(request: InvokeRequest): Promise<unknown> {
    const surface = this.#surface(request.surfaceId);
    if (surface.scope === "conversation" && request.conversationId === undefined) {
      throw invalid(
        "conversation_required",
        `surface ${surface.id} is per conversation: invoke it with a conversationId`,
      );
    }
    const handler = this.#handler(surface);
    if (!handler?.invoke) throw invalid("no_actions", `surface ${surface.id} has no actions`);
    const out = await handler.invoke({
      surfaceId: surface.id,
      actionId: request.actionId,
      ...(request.payload !== undefined ? { payload: request.payload } : {}),
      ...(surface.scope === "conversation" ? { conversationId: request.conversationId } : {}),
    });
    return out ?? null;
  }

  attach(surfaceId: string, handler: SurfaceHandler): () => void {
    this.#surface(surfaceId);
    this.#attached.set(surfaceId, handler);
    return () => {
      if (this.#attached.get(surfaceId) === handler) this.#attached.delete(surfaceId);
    };
  }

  /**
   * The registry as extension `caller` sees it: what it contributes is its own, and it may update, withdraw,
   * refresh, forget, attach to, read the spec of and invoke only its own surfaces (the catalog lists all).
   * Another extension's surface, a core one included, is refused with `foreign_surface`.
   */
  viewFor(caller: string): SurfaceRegistry {
    const own = (surfaceId: string) => {
      const surface = this.#surface(surfaceId);
      if (surface.owner !== caller) {
        throw invalid(
          "foreign_surface",
          `surface ${surface.id} was contributed by ${surface.owner ?? "the daemon"}, not ${caller}: ` +
            `an extension may only change or invoke the surfaces it contributed`,
        );
      }
      return surface.id;
    };
    return {
      contribute: (surface) => this.contribute(surface, caller),
      withdraw: (surfaceId) => {
        if (this.#surfaces.has(surfaceId)) this.withdraw(own(surfaceId));
      },
      update: (surfaceId, fields, conversationId) => this.update(own(surfaceId), fields, conversationId),
      refresh: (surfaceId, conversationId) => this.refresh(own(surfaceId), conversationId),
      forget: (surfaceId, conversationId) => this.forget(own(surfaceId), conversationId),
      catalog: () => this.catalog(),
      spec: async (surfaceId, conversationId) => await this.spec(own(surfaceId), conversationId),
      invoke: async (request) => await this.invoke({ ...request, surfaceId: own(request?.surfaceId) }),
      attach: (surfaceId, handler) => this.attach(own(surfaceId), handler),
    };
  }

  // ---------------------------------------------------------------- internals

  #surface(surfaceId: string): Surface {
    const surface = typeof surfaceId === "string" ? this.#surfaces.get(surfaceId) : undefined;
    if (!surface) throw notFound("unknown_surface", `no surface ${String(surfaceId)}`);
    return surface;
  }

  /** The conversation id a call addresses: required for conversation surfaces, refused for global ones. */
  #scopeCheck(surface: Surface, conversationId: string | undefined): string | undefined {
    if (surface.scope === "global") {
      if (conversationId !== undefined) {
        throw invalid("global_surface", `surface ${surface.id} is global: call it without a conversationId`);
      }
      return undefined;
    }
    if (conversationId === undefined) {
      throw invalid(
        "conversation_required",
        `surface ${surface.id} is per conversation: give a conversationId`,
      );
    }
    return parse(ConversationIdSchema, conversationId, "conversationId");
  }

  #handler(surface: Surface): SurfaceHandler | undefined {
    const attached = this.#attached.get(surface.id);
    if (attached) return attached;
    if (!surface.handlerService) return undefined;
    return this.deps.services.get<SurfaceHandler>({ id: surface.handlerService });
  }

  async #fields(surface: Surface, conversationId: string | undefined): Promise<SurfaceField[]> {
    const stored = (conversationId !== undefined ? surface.perConversation.get(conversationId) : undefined) ??
      surface.fields;
    const render = this.#handler(surface)?.render;
    if (!render) return stored;
    try {
      const rendered = await render({
        surfaceId: surface.id,
        ...(conversationId !== undefined ? { conversationId } : {}),
      });
      return rendered === undefined || rendered === null
        ? stored
        : parse(SurfaceFieldsSchema, rendered, "fields");
    } catch (error) {
      this.deps.log.warn("surface render failed; showing its stored fields", {
        surfaceId: surface.id,
        conversationId,
        error: errorMessage(error),
      });
      return stored;
    }
  }

  #emit(surface: Surface, fields: SurfaceField[], conversationId: string | undefined): void {
    this.deps.events.emit(SurfaceUpdated, {
      surfaceId: surface.id,
      spec: specOf(surface, fields),
      ...(conversationId !== undefined ? { conversationId } : {}),
    });
  }

  #catalogChanged(): void {
    this.deps.events.emit(SurfaceCatalogChanged, { catalog: this.catalog() });
  }
}

/** `surface-handler:<owner>` or `surface-handler:<owner>...`: the keys the sandbox bridge lets `owner` provide. */
function ownHandlerKey(key: string, owner: string): boolean {
  return key.startsWith(`${HANDLER_SERVICE_PREFIX}${owner}`);
}

function specOf(surface: Surface, fields: SurfaceField[]): SurfaceSpec {
  return { id: surface.id, region: surface.region, title: surface.title, fields };
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const out = schema.safeParse(value);
  if (!out.success) throw invalid("invalid_surface", `invalid ${what}: ${describeZodError(out.error)}`);
  return out.data;
}
