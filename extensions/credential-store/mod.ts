// credential-store: provides the model catalog. Providers register under credential names; the default
// model is the default credential's (DISPATCH_MODEL under `opencode`).
import type { ExtensionContext } from "../../src/kernel/mod.ts";
import { CredentialsKey } from "../auth-apikey/api.ts";
import { DEFAULT_CREDENTIAL } from "../auth-apikey/mod.ts";
import { ModelCatalogKey } from "./api.ts";
import { createModelCatalog } from "./catalog.ts";

export { manifest } from "./manifest.ts";

export function activate(ctx: ExtensionContext): void {
  const credentials = ctx.services.require(CredentialsKey);
  ctx.services.provide(
    ModelCatalogKey,
    createModelCatalog({
      defaultCredential: DEFAULT_CREDENTIAL,
      defaultModel: () => credentials.get(DEFAULT_CREDENTIAL)?.defaultModel,
      clock: ctx.clock,
      log: ctx.log,
      ...(ctx.config.DISPATCH_CONTEXT_WINDOW
        ? { contextWindow: Number(ctx.config.DISPATCH_CONTEXT_WINDOW) }
        : {}),
    }),
  );
}
