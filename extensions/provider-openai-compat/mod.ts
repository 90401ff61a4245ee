// provider-openai-compat: one OpenAI-compatible Provider per API-key credential, registered in the catalog
// under the credential's name (but umans': provider-umans serves that one on the same library). The streaming,
// conversion and error logic lives in openai_stream.ts, the retry policy in retry.ts.
import type { ExtensionContext, ExtensionModule } from "../../src/kernel/mod.ts";
import { CredentialsKey } from "../auth-apikey/api.ts";
import { UMANS_CREDENTIAL } from "../auth-apikey/mod.ts";
import { ModelCatalogKey } from "../credential-store/api.ts";
import { createOpenAICompatProvider } from "./openai_stream.ts";
import type { RetryPolicy } from "./retry.ts";

export { manifest } from "./manifest.ts";
export { retryPolicyFromEnv } from "./retry.ts";

/** The extension with a retry policy (the composition root reads it from the environment). */
export function createProviderOpenAICompat(retry: Partial<RetryPolicy> = {}): ExtensionModule {
  return {
    activate(ctx: ExtensionContext): () => void {
      const catalog = ctx.services.require(ModelCatalogKey);
      // The umans credential is provider-umans' (on the same stream library).
      const credentials = ctx.services.require(CredentialsKey).list().filter((c) =>
        c.name !== UMANS_CREDENTIAL
      );
      const unregister = credentials.map((c) =>
        catalog.registerProvider(
          c.name,
          createOpenAICompatProvider({
            id: c.name,
            baseUrl: c.baseUrl,
            apiKey: c.apiKey,
            keyEnv: c.keyEnv,
            retry,
          }),
        )
      );
      return () => unregister.forEach((fn) => fn());
    },
  };
}

/** With the default retry policy. */
export const activate: ExtensionModule["activate"] = (ctx) => createProviderOpenAICompat().activate(ctx);
