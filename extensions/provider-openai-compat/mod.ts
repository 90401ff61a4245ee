// provider-openai-compat: one OpenAI-compatible Provider per API-key credential, registered in the catalog
// under the credential's name. The streaming, conversion and error logic lives in openai_stream.ts.
import type { ExtensionContext } from "../../src/kernel/mod.ts";
import { CredentialsKey } from "../auth-apikey/api.ts";
import { ModelCatalogKey } from "../credential-store/api.ts";
import { createOpenAICompatProvider } from "./openai_stream.ts";

export { manifest } from "./manifest.ts";

export function activate(ctx: ExtensionContext): () => void {
  const catalog = ctx.services.require(ModelCatalogKey);
  const unregister = ctx.services.require(CredentialsKey).list().map((c) =>
    catalog.registerProvider(
      c.name,
      createOpenAICompatProvider({ id: c.name, baseUrl: c.baseUrl, apiKey: c.apiKey, keyEnv: c.keyEnv }),
    )
  );
  return () => unregister.forEach((fn) => fn());
}
