// provider-umans: the `umans` credential (UMANS_API_KEY, UMANS_BASE_URL) as its own provider, on the same
// OpenAI-compatible stream library as provider-openai-compat. The composition root adds it only when
// UMANS_API_KEY is set.
import type { ExtensionContext, ExtensionModule } from "../../src/kernel/mod.ts";
import { CredentialsKey } from "../auth-apikey/api.ts";
import { UMANS_CREDENTIAL } from "../auth-apikey/mod.ts";
import { ModelCatalogKey } from "../credential-store/api.ts";
import { createOpenAICompatProvider } from "../provider-openai-compat/openai_stream.ts";
import type { RetryPolicy } from "../provider-openai-compat/retry.ts";

export { manifest } from "./manifest.ts";

export function createProviderUmans(retry: Partial<RetryPolicy> = {}): ExtensionModule {
  return {
    activate(ctx: ExtensionContext): (() => void) | void {
      const credential = ctx.services.require(CredentialsKey).get(UMANS_CREDENTIAL);
      if (!credential) return; // no UMANS_API_KEY: nothing to serve
      return ctx.services.require(ModelCatalogKey).registerProvider(
        credential.name,
        createOpenAICompatProvider({
          id: credential.name,
          baseUrl: credential.baseUrl,
          apiKey: credential.apiKey,
          keyEnv: credential.keyEnv,
          retry,
        }),
      );
    },
  };
}
