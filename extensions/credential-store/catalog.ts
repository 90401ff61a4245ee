// The model catalog: providers registered per credential name, models named `<credential>/<model>`.
import {
  type Clock,
  type Logger,
  type ModelInfo,
  type ModelRequest,
  type ModelStreamPart,
  type Provider,
  ProviderError,
} from "../../src/kernel/mod.ts";
import {
  type CatalogListing,
  DEFAULT_CONTEXT_WINDOW,
  type ModelCatalog,
  type ResolvedModel,
  UnknownModelError,
} from "./api.ts";

export interface CatalogOptions {
  /** The credential a bare model id (no `<credential>/` prefix) belongs to. Default `opencode`. */
  defaultCredential?: string;
  /** The default credential's default model id (DISPATCH_MODEL), read on every call. */
  defaultModel?: () => string | undefined;
  /** How long one provider's `listModels` may take before it counts as unavailable. Default 5 s. */
  listTimeoutMs?: number;
  /** How long a successful listing is reused. Failures are never cached. Default 60 s. */
  cacheTtlMs?: number;
  clock?: Clock;
  /** The context window of a model its provider's list gives none for. Default 128000. */
  contextWindow?: number;
  /** Says when a model is tried without its provider's list (the list failed). */
  log?: Logger;
}

/** At most this many names are quoted in an unknown model's error. */
const NAMES_QUOTED = 30;

interface Entry {
  provider: Provider;
  cached?: { at: number; models: ModelInfo[] };
  inflight?: Promise<ModelInfo[]>;
}

export function createModelCatalog(opts: CatalogOptions = {}): ModelCatalog {
  const defaultCredential = opts.defaultCredential ?? "opencode";
  const listTimeoutMs = opts.listTimeoutMs ?? 5_000;
  const cacheTtlMs = opts.cacheTtlMs ?? 60_000;
  const clock = opts.clock ?? { now: () => Date.now() };
  const entries = new Map<string, Entry>();
  const contextWindow = opts.contextWindow ?? DEFAULT_CONTEXT_WINDOW;

  const known = () => [...entries.keys()].join(", ") || "none";

  /** One provider's models: cached, shared while in flight, bounded by the timeout. */
  const modelsOf = (credential: string, entry: Entry, signal?: AbortSignal): Promise<ModelInfo[]> => {
    if (entry.cached && clock.now() - entry.cached.at < cacheTtlMs) {
      return Promise.resolve(entry.cached.models);
    }
    if (!entry.inflight) {
      const timeout = AbortSignal.timeout(listTimeoutMs);
      const call = withTimeout(entry.provider.listModels(timeout), listTimeoutMs, credential);
      entry.inflight = call.then(
        (models) => {
          if (entries.get(credential) === entry) entry.cached = { at: clock.now(), models };
          return models;
        },
      ).finally(() => {
        entry.inflight = undefined;
      });
    }
    return raceSignal(entry.inflight, signal);
  };

  const catalog: ModelCatalog = {
    registerProvider(credential, provider) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(credential)) {
        throw new Error(`credential name "${credential}" must be letters, digits, "_", "." or "-" (no "/")`);
      }
      if (entries.has(credential)) throw new Error(`credential "${credential}" already has a provider`);
      const entry: Entry = { provider: withEffortFallback(credential, provider, opts.log) };
      entries.set(credential, entry);
      return () => {
        if (entries.get(credential) === entry) entries.delete(credential);
      };
    },

    resolve(name) {
      const full = name.trim();
      if (!full) throw new UnknownModelError("no model given");
      const slash = full.indexOf("/");
      if (slash === -1) {
        const entry = entries.get(defaultCredential);
        if (!entry) {
          throw new UnknownModelError(
            `model "${full}" names no credential and the default credential "${defaultCredential}" is not ` +
              `configured; write <credential>/<model> (known credentials: ${known()})`,
          );
        }
        return { name: `${defaultCredential}/${full}`, provider: entry.provider, model: full };
      }
      const credential = full.slice(0, slash);
      const model = full.slice(slash + 1);
      const entry = entries.get(credential);
      if (!entry) {
        throw new UnknownModelError(
          `unknown credential "${credential}" in model "${full}" (known credentials: ${known()})`,
        );
      }
      if (!model) throw new UnknownModelError(`model "${full}" names a credential but no model`);
      return { name: full, provider: entry.provider, model } satisfies ResolvedModel;
    },

    async list(signal) {
      const listing: CatalogListing = { models: [], modelInfo: {}, unavailable: [] };
      const results = await Promise.all(
        [...entries].map(async ([credential, entry]) => {
          try {
            return { credential, models: await modelsOf(credential, entry, signal) };
          } catch (error) {
            return { credential, error: error instanceof Error ? error.message : String(error) };
          }
        }),
      );
      for (const r of results) {
        if ("error" in r) {
          listing.unavailable.push({ credential: r.credential, error: r.error ?? "unknown error" });
          if (!signal?.aborted) {
            opts.log?.warn("a provider's model list could not be read; its models are tried as named", {
              credential: r.credential,
              error: r.error,
            });
          }
          continue;
        }
        for (const m of r.models) {
          const name = `${r.credential}/${m.id}`;
          if (name in listing.modelInfo) continue;
          listing.models.push(name);
          listing.modelInfo[name] = { contextWindow: m.contextWindow ?? contextWindow };
        }
      }
      return listing;
    },

    async check(name, signal) {
      const resolved = catalog.resolve(name);
      const credential = credentialOf(resolved);
      let models: ModelInfo[];
      try {
        models = await modelsOf(credential, entries.get(credential)!, signal);
      } catch (error) {
        if (signal?.aborted) throw error;
        opts.log?.warn("the model list could not be read; the model is tried as named", {
          credential,
          model: resolved.name,
          error: error instanceof Error ? error.message : String(error),
        });
        return resolved;
      }
      if (models.some((m) => m.id === resolved.model)) return resolved;
      const names = models.map((m) => `${credential}/${m.id}`);
      const shown = names.slice(0, NAMES_QUOTED).join(", ") || "none";
      throw new UnknownModelError(
        `unknown model "${resolved.name}": ${credential} lists ${shown}` +
          (names.length > NAMES_QUOTED ? ` and ${names.length - NAMES_QUOTED} more (GET /models)` : ""),
      );
    },

    defaultModel() {
      const model = opts.defaultModel?.()?.trim();
      if (!model) return undefined;
      return model.startsWith(`${defaultCredential}/`) ? model : `${defaultCredential}/${model}`;
    },

    async info(name) {
      let resolved: ResolvedModel;
      try {
        resolved = catalog.resolve(name);
      } catch (error) {
        if (error instanceof UnknownModelError) return undefined;
        throw error;
      }
      const credential = credentialOf(resolved);
      const entry = entries.get(credential);
      if (!entry) return undefined;
      let models: ModelInfo[];
      try {
        models = await modelsOf(credential, entry);
      } catch {
        return { id: resolved.name, contextWindow }; // tried as named (see `check`)
      }
      const found = models.find((m) => m.id === resolved.model);
      if (!found) return undefined;
      return { id: resolved.name, contextWindow: found.contextWindow ?? contextWindow };
    },
  };
  return catalog;
}

/** A provider's refusal of the reasoning-effort parameter (a 4xx naming it). */
const EFFORT_REFUSED = /reasoning[_ .-]?effort|\beffort\b/i;

/**
 * A model whose provider refuses the reasoning-effort parameter gets the request again without it, once, and
 * from then on without it (said in the log once per model).
 */
function withEffortFallback(credential: string, provider: Provider, log?: Logger): Provider {
  const refusing = new Set<string>();
  const without = ({ reasoningEffort: _, ...rest }: ModelRequest): ModelRequest => rest;
  return {
    id: provider.id,
    listModels: (signal) => provider.listModels(signal),
    async *stream(request, signal): AsyncIterable<ModelStreamPart> {
      if (request.reasoningEffort === undefined || refusing.has(request.model)) {
        yield* provider.stream(without(request), signal);
        return;
      }
      let yielded = false;
      try {
        for await (const part of provider.stream(request, signal)) {
          yielded = true;
          yield part;
        }
        return;
      } catch (error) {
        const refused = !yielded && error instanceof ProviderError && error.status !== undefined &&
          error.status >= 400 && error.status < 500 && error.status !== 429 &&
          EFFORT_REFUSED.test(error.message);
        if (!refused) throw error;
        refusing.add(request.model);
        log?.warn("the provider refused the reasoning effort; the request goes again without it", {
          credential,
          model: request.model,
          reasoningEffort: request.reasoningEffort,
          error: error.message,
        });
      }
      yield* provider.stream(without(request), signal);
    },
  };
}

/** The credential part of a resolved name. */
const credentialOf = (r: ResolvedModel) => r.name.slice(0, r.name.length - r.model.length - 1);

/** Rejects after `ms` even if the provider ignores its abort signal. */
function withTimeout<T>(promise: Promise<T>, ms: number, credential: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${credential}: listing models timed out after ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function raceSignal<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new Error("aborted"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
