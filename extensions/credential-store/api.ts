// What credential-store offers: named credentials' providers and the `<credential>/<model>` catalog.
import { defineKey, type ModelInfo, type Provider } from "../../src/kernel/mod.ts";

export interface ResolvedModel {
  /** The full catalog name, `<credential>/<model>`. */
  name: string;
  provider: Provider;
  /** The provider's own model id (the part after the first slash). */
  model: string;
}

export interface CatalogListing {
  models: string[];
  modelInfo: Record<string, { contextWindow?: number }>;
  /** Credentials whose provider could not be listed, with why (the others still answer). */
  unavailable: { credential: string; error: string }[];
}

export interface ModelCatalog {
  /** A provider answers for every model of one credential name. */
  registerProvider(credential: string, provider: Provider): () => void;
  /** `<credential>/<model>`, or a bare model id for the default credential. Throws UnknownModelError. */
  resolve(name: string): ResolvedModel;
  list(signal?: AbortSignal): Promise<CatalogListing>;
  /**
   * `resolve`, then the model must be in its provider's list: UnknownModelError naming the listed ones when it
   * is not. When the list cannot be read the model is tried as named (and the log says which list failed, why).
   */
  check(name: string, signal?: AbortSignal): Promise<ResolvedModel>;
  /** The model used when a request names none (DISPATCH_MODEL under the default credential). */
  defaultModel(): string | undefined;
  /** The model's context window: its provider's figure, else the configured default (DISPATCH_CONTEXT_WINDOW). */
  info(name: string): Promise<ModelInfo | undefined>;
}

/** The context window assumed for a model its provider gives none for (DISPATCH_CONTEXT_WINDOW unset). */
export const DEFAULT_CONTEXT_WINDOW = 128_000;

export class UnknownModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnknownModelError";
  }
}

export const ModelCatalogKey = defineKey<ModelCatalog>("credential-store.catalog");
