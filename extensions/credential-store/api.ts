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
  /** The model used when a request names none (DISPATCH_MODEL under the default credential). */
  defaultModel(): string | undefined;
  info(name: string): Promise<ModelInfo | undefined>;
}

export class UnknownModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnknownModelError";
  }
}

export const ModelCatalogKey = defineKey<ModelCatalog>("credential-store.catalog");
