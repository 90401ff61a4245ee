// What auth-apikey offers: API-key credentials resolved from the environment. Core-only: holds secrets.
import { defineKey } from "../../src/kernel/mod.ts";

export interface ApiKeyCredential {
  /** The credential's name, the prefix of its catalog models (`opencode` for the DISPATCH_* one). */
  name: string;
  apiKey: string;
  baseUrl: string;
  defaultModel?: string;
  /** The environment variable the key came from (`DISPATCH_API_KEY`), named in errors so a person can fix it. */
  keyEnv?: string;
}

export interface Credentials {
  list(): ApiKeyCredential[];
  get(name: string): ApiKeyCredential | undefined;
}

export const CredentialsKey = defineKey<Credentials>("auth-apikey.credentials");
