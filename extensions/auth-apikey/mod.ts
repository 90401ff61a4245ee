// auth-apikey: API-key credentials read from the environment the composition root hands over (process env
// merged over `.env`). Secrets stay here and in the services that ask for them; ctx.config never sees them.
import type { ExtensionContext, ExtensionModule } from "../../src/kernel/mod.ts";
import { type ApiKeyCredential, type Credentials, CredentialsKey } from "./api.ts";

export { manifest } from "./manifest.ts";

export type Env = Record<string, string | undefined>;

export const DEFAULT_CREDENTIAL = "opencode";
/** The credential UMANS_API_KEY makes, served by provider-umans. */
export const UMANS_CREDENTIAL = "umans";
export const UMANS_DEFAULT_BASE_URL = "https://api.code.umans.ai/v1";

/** Thrown for a configuration a person must fix; the message names the variable. */
export class CredentialConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CredentialConfigError";
  }
}

/**
 * The credentials an environment describes:
 * - `DISPATCH_API_KEY` + `DISPATCH_BASE_URL` (+ `DISPATCH_MODEL`, the default model) → `opencode`
 * - `UMANS_API_KEY` (+ `UMANS_BASE_URL`, default https://api.code.umans.ai/v1) → `umans`
 * A key without a base URL is an error; a base URL without a key is allowed (local servers need none).
 */
export function credentialsFromEnv(env: Env): { credentials: ApiKeyCredential[]; warnings: string[] } {
  const get = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const credentials: ApiKeyCredential[] = [];
  const warnings: string[] = [];

  const dispatchKey = get("DISPATCH_API_KEY");
  const umansKey = get("UMANS_API_KEY");
  const secrets = [dispatchKey, umansKey].filter((k): k is string => !!k);
  const dispatchUrl = get("DISPATCH_BASE_URL");
  const dispatchModel = get("DISPATCH_MODEL");
  if (dispatchKey && !dispatchUrl) {
    throw new CredentialConfigError(
      "DISPATCH_API_KEY is set but DISPATCH_BASE_URL is not: set DISPATCH_BASE_URL to the provider's " +
        "OpenAI-compatible base URL (for example https://api.example.com/v1)",
    );
  }
  if (dispatchUrl) {
    if (!dispatchKey) {
      warnings.push("DISPATCH_BASE_URL is set without DISPATCH_API_KEY: requests will carry no API key");
    }
    credentials.push({
      name: DEFAULT_CREDENTIAL,
      apiKey: dispatchKey ?? "",
      baseUrl: checkUrl("DISPATCH_BASE_URL", dispatchUrl, secrets),
      keyEnv: "DISPATCH_API_KEY",
      ...(dispatchModel ? { defaultModel: dispatchModel } : {}),
    });
  } else if (dispatchModel) {
    warnings.push("DISPATCH_MODEL is set but DISPATCH_BASE_URL is not: the default model has no provider");
  }

  const umansUrl = get("UMANS_BASE_URL");
  if (umansKey) {
    credentials.push({
      name: UMANS_CREDENTIAL,
      apiKey: umansKey,
      baseUrl: checkUrl("UMANS_BASE_URL", umansUrl ?? UMANS_DEFAULT_BASE_URL, secrets),
      keyEnv: "UMANS_API_KEY",
    });
  } else if (umansUrl) {
    warnings.push("UMANS_BASE_URL is set without UMANS_API_KEY: no umans credential");
  }
  return { credentials, warnings };
}

function checkUrl(variable: string, value: string, secrets: string[]): string {
  // A key pasted into the URL variable must not end up in an error message (and so in a log).
  const shown = secrets.some((k) => value.includes(k))
    ? "(value hidden: it contains an API key)"
    : `"${value}"`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CredentialConfigError(
      `${variable} is not a URL: ${shown} (expected e.g. https://api.example.com/v1)`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new CredentialConfigError(`${variable} must be an http(s) URL, got ${shown}`);
  }
  if (url.username || url.password) {
    throw new CredentialConfigError(
      `${variable} must not carry credentials in the URL; use the *_API_KEY variable`,
    );
  }
  return value.replace(/\/+$/, "");
}

/** A read-only Credentials service over a fixed list. */
export function credentialsService(list: ApiKeyCredential[]): Credentials {
  const frozen = list.map((c) => Object.freeze({ ...c }));
  const byName = new Map(frozen.map((c) => [c.name, c]));
  return { list: () => [...frozen], get: (name) => byName.get(name) };
}

/** The extension, bound to an environment (process env merged over `.env`, process env winning). */
export function createAuthApiKey(env: Env): ExtensionModule {
  return {
    activate(ctx: ExtensionContext) {
      const { credentials, warnings } = credentialsFromEnv(env);
      for (const w of warnings) ctx.log.warn(w);
      ctx.services.provide(CredentialsKey, credentialsService(credentials));
      ctx.log.info("credentials loaded", {
        credentials: credentials.map((c) => ({ name: c.name, baseUrl: c.baseUrl, hasKey: c.apiKey !== "" })),
      });
    },
  };
}

/** Convenience for loaders that expect a bare `activate`: reads the process environment only (no `.env`). */
export function activate(ctx: ExtensionContext) {
  return createAuthApiKey(Deno.env.toObject()).activate(ctx);
}
