// Every extension the binary ships, in one list: core ones built with their (secret-bearing) options,
// standard ones sandboxed with exactly their manifest's permissions.
import type { Config } from "./config.ts";
import type { ExtensionEntry } from "./kernel/mod.ts";

import { manifest as storageSqlite } from "../extensions/storage-sqlite/manifest.ts";
import { createStorageSqlite } from "../extensions/storage-sqlite/mod.ts";
import { manifest as authApiKey } from "../extensions/auth-apikey/manifest.ts";
import { createAuthApiKey } from "../extensions/auth-apikey/mod.ts";
import { manifest as credentialStore } from "../extensions/credential-store/manifest.ts";
import * as credentialStoreMod from "../extensions/credential-store/mod.ts";
import { manifest as providerOpenAI } from "../extensions/provider-openai-compat/manifest.ts";
import * as providerOpenAIMod from "../extensions/provider-openai-compat/mod.ts";
import { manifest as conversationStore } from "../extensions/conversation-store/manifest.ts";
import * as conversationStoreMod from "../extensions/conversation-store/mod.ts";
import { manifest as orchestrator } from "../extensions/session-orchestrator/manifest.ts";
import * as orchestratorMod from "../extensions/session-orchestrator/mod.ts";
import { manifest as transportHttp } from "../extensions/transport-http/manifest.ts";
import { createTransportHttp } from "../extensions/transport-http/mod.ts";

export function extensionEntries(config: Config): ExtensionEntry[] {
  return [
    { manifest: storageSqlite, ...createStorageSqlite(config.dataDir) },
    { manifest: authApiKey, ...createAuthApiKey(config.secrets) },
    { manifest: credentialStore, activate: credentialStoreMod.activate },
    { manifest: providerOpenAI, activate: providerOpenAIMod.activate },
    { manifest: conversationStore, activate: conversationStoreMod.activate },
    { manifest: orchestrator, activate: orchestratorMod.activate },
    {
      manifest: transportHttp,
      ...createTransportHttp({
        hostname: config.hostname,
        port: config.port,
        token: config.token,
        allowedOrigins: config.allowedOrigins,
      }),
    },
  ];
}
