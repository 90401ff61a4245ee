// Every extension the binary ships, in one list: core ones built with their (secret-bearing) options,
// standard ones sandboxed with exactly their manifest's permissions.
import type { Config } from "./config.ts";
import type { ExtensionEntry, ExtensionState, ManifestInput } from "./kernel/mod.ts";

import { manifest as storageSqlite } from "../extensions/storage-sqlite/manifest.ts";
import { createStorageSqlite } from "../extensions/storage-sqlite/mod.ts";
import { manifest as authApiKey } from "../extensions/auth-apikey/manifest.ts";
import { createAuthApiKey } from "../extensions/auth-apikey/mod.ts";
import { manifest as credentialStore } from "../extensions/credential-store/manifest.ts";
import * as credentialStoreMod from "../extensions/credential-store/mod.ts";
import { manifest as providerOpenAI } from "../extensions/provider-openai-compat/manifest.ts";
import { createProviderOpenAICompat, retryPolicyFromEnv } from "../extensions/provider-openai-compat/mod.ts";
import { manifest as providerUmans } from "../extensions/provider-umans/manifest.ts";
import { createProviderUmans } from "../extensions/provider-umans/mod.ts";
import { manifest as conversationStore } from "../extensions/conversation-store/manifest.ts";
import * as conversationStoreMod from "../extensions/conversation-store/mod.ts";
import { manifest as orchestrator } from "../extensions/session-orchestrator/manifest.ts";
import * as orchestratorMod from "../extensions/session-orchestrator/mod.ts";
import { manifest as transportHttp } from "../extensions/transport-http/manifest.ts";
import { createTransportHttp } from "../extensions/transport-http/mod.ts";
import { manifest as throughputStore } from "../extensions/throughput-store/manifest.ts";
import * as throughputStoreMod from "../extensions/throughput-store/mod.ts";
import { manifest as surfaceRegistry } from "../extensions/surface-registry/manifest.ts";
import * as surfaceRegistryMod from "../extensions/surface-registry/mod.ts";
import { manifest as transportWs } from "../extensions/transport-ws/manifest.ts";
import { createTransportWs, wsOptionsFromEnv } from "../extensions/transport-ws/mod.ts";
import { manifest as surfaceLoadedExtensions } from "../extensions/surface-loaded-extensions/manifest.ts";
import { createSurfaceLoadedExtensions } from "../extensions/surface-loaded-extensions/mod.ts";
import { manifest as todo } from "../extensions/todo/manifest.ts";
import { manifest as messageQueue } from "../extensions/message-queue/manifest.ts";
import * as messageQueueMod from "../extensions/message-queue/mod.ts";
import { manifest as cacheWarming } from "../extensions/cache-warming/manifest.ts";
import { createCacheWarming, warmingOptionsFromEnv } from "../extensions/cache-warming/mod.ts";
import { manifest as systemPrompt } from "../extensions/system-prompt/manifest.ts";
import * as systemPromptMod from "../extensions/system-prompt/mod.ts";
import { manifest as skills } from "../extensions/skills/manifest.ts";
import { createJournalSpans, type Journal, manifest as journalSink } from "../extensions/journal-sink/mod.ts";
import { manifest as collector } from "../extensions/observability-collector/manifest.ts";
import { createCollectorSupervisor } from "../extensions/observability-collector/mod.ts";
import * as skillsMod from "../extensions/skills/mod.ts";
import { manifest as lsp } from "../extensions/lsp/manifest.ts";
import { createLsp, lspOptionsFromEnv } from "../extensions/lsp/mod.ts";
import { manifest as mcpClient } from "../extensions/mcp/manifest.ts";
import { createMcpClient, MCP_CONFIG_SETTING } from "../extensions/mcp/mod.ts";
import { manifest as compaction } from "../extensions/compaction/manifest.ts";
import * as compactionMod from "../extensions/compaction/mod.ts";

import { sandboxedEntry, type SandboxOptions, UNCONFINED_SETTING } from "./sandbox/mod.ts";
import { ConfigError } from "./config.ts";
import { extensionModuleUrl } from "./build_layout.ts";
import { manifest as toolReadFile } from "../extensions/tool-read-file/manifest.ts";
import { manifest as toolWriteFile } from "../extensions/tool-write-file/manifest.ts";
import { manifest as toolEditFile } from "../extensions/tool-edit-file/manifest.ts";
import { manifest as toolShell } from "../extensions/tool-shell/manifest.ts";
import { manifest as toolGrep } from "../extensions/tool-grep/manifest.ts";
import { manifest as toolGlob } from "../extensions/tool-glob/manifest.ts";
import { manifest as toolWebSearch } from "../extensions/tool-web-search/manifest.ts";
import { firecrawlSettings } from "../extensions/tool-web-search/settings.ts";
import { manifest as toolYoutubeTranscript } from "../extensions/tool-youtube-transcript/manifest.ts";
import { transcriberSettings } from "../extensions/tool-youtube-transcript/settings.ts";

/** A setting that is on when "1" or "true". */
const on = (config: Config, name: string) => ["1", "true"].includes(config.secrets[name] ?? "");

/** Placeholders in sandboxed manifests' permissions, and what they stand for here. */
function expansions(config: Config): Record<string, string[]> {
  return {
    $WORKSPACE_ROOTS: config.workspaceRoots,
    $PROTECTED_PATHS: [config.dataDir, ...(config.envFile ? [config.envFile] : []), config.journalDir],
    $UNCONFINED_SHELL: on(config, "DISPATCH_UNCONFINED_SHELL") ? ["bash"] : [],
  };
}

/** A setting holding a whole number, or undefined when unset. */
function wholeNumber(config: Config, name: string, unit: string): number | undefined {
  const raw = config.secrets[name];
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d{1,9}$/.test(raw)) throw new ConfigError(`${name} must be a whole number of ${unit}`);
  return Number(raw);
}

/** How long a sandbox started for a tool call stays up without calls, and how much memory one may hold. */
function sandboxSettings(config: Config): SandboxOptions {
  const idleMs = wholeNumber(config, "DISPATCH_SANDBOX_IDLE_MS", "milliseconds");
  const memoryMb = wholeNumber(config, "DISPATCH_SANDBOX_MEMORY_MB", "MiB");
  if (memoryMb !== undefined && memoryMb < 256) {
    throw new ConfigError("DISPATCH_SANDBOX_MEMORY_MB must be at least 256 (a sandbox host needs about 80)");
  }
  return {
    ...(idleMs !== undefined ? { idleMs } : {}),
    // Resident memory of one sandbox host process; its V8 heap gets half (array buffers live outside it).
    ...(memoryMb !== undefined
      ? { limits: { rssLimitBytes: memoryMb * 1048576, heapMb: memoryMb >> 1 } }
      : {}),
  };
}

/**
 * A standard extension in its own sandbox host process. Bubblewrap confines it unless the operator opted out
 * (DISPATCH_UNCONFINED_SANDBOX=1); an extension declaring its tools starts on its first call. `folder` names one
 * in extensions/, or is an external extension's module URL.
 */
export function sandboxed(
  config: Config,
  manifest: ManifestInput,
  folder: string | URL,
  opts: SandboxOptions = {},
) {
  const placeholders = expansions(config);
  const moduleUrl = typeof folder === "string" ? extensionModuleUrl(folder) : folder;
  return sandboxedEntry(manifest, moduleUrl, {
    expand: (placeholder) => placeholders[placeholder] ?? [],
    unconfined: on(config, UNCONFINED_SETTING),
    ...sandboxSettings(config),
    ...opts,
  });
}

/**
 * The web tools, each only when its service is configured: the service's URL (and key) granted as config at
 * activation, its host:port as the sandbox's only `net` entry.
 */
function webTools(config: Config): ExtensionEntry[] {
  const firecrawl = firecrawlSettings(config.secrets);
  const transcriber = transcriberSettings(config.secrets);
  return [
    ...(firecrawl
      ? [sandboxed(config, toolWebSearch, "tool-web-search", {
        expand: (p) => (p === "$FIRECRAWL_HOST" ? [firecrawl.net] : []),
        grantConfig: firecrawl.grant,
      })]
      : []),
    ...(transcriber
      ? [sandboxed(config, toolYoutubeTranscript, "tool-youtube-transcript", {
        expand: (p) => (p === "$YOUTUBE_TRANSCRIPT_HOST" ? [transcriber.net] : []),
        grantConfig: transcriber.grant,
      })]
      : []),
  ];
}

/** What the composition root knows that no config does. */
export interface EntryExtras {
  /** The host's extension list, for the loaded-extensions surface (`() => host.list()`). */
  listExtensions?: () => ExtensionState[];
  /** The journal the daemon's log sink writes; turns' spans are added to it, and `collector` reads it. */
  journal?: Journal;
  collector?: boolean;
}

export function extensionEntries(config: Config, extras: EntryExtras = {}): ExtensionEntry[] {
  return [
    { manifest: storageSqlite, ...createStorageSqlite(config.dataDir) },
    { manifest: authApiKey, ...createAuthApiKey(config.secrets) },
    { manifest: credentialStore, activate: credentialStoreMod.activate },
    { manifest: providerOpenAI, ...createProviderOpenAICompat(retryPolicyFromEnv(config.secrets)) },
    ...(config.secrets.UMANS_API_KEY?.trim()
      ? [{ manifest: providerUmans, ...createProviderUmans(retryPolicyFromEnv(config.secrets)) }]
      : []),
    { manifest: conversationStore, activate: conversationStoreMod.activate },
    { manifest: orchestrator, activate: orchestratorMod.activate },
    {
      manifest: transportHttp,
      ...createTransportHttp({
        hostname: config.hostname,
        port: config.port,
        token: config.token,
        allowedOrigins: config.allowedOrigins,
        allowedHosts: config.allowedHosts,
      }),
    },
    { manifest: throughputStore, activate: throughputStoreMod.activate },
    { manifest: surfaceRegistry, activate: surfaceRegistryMod.activate },
    {
      manifest: transportWs,
      ...createTransportWs({
        hostname: config.hostname,
        surfaceWsPort: config.surfaceWsPort,
        token: config.token,
        allowedOrigins: config.allowedOrigins,
        allowedHosts: config.allowedHosts,
        ...wsOptionsFromEnv(config.secrets),
      }),
    },
    {
      manifest: surfaceLoadedExtensions,
      ...createSurfaceLoadedExtensions({
        list: extras.listExtensions ?? (() => []),
        warnings: on(config, "DISPATCH_UNCONFINED_SHELL")
          ? { "tool-shell": "UNCONFINED: commands run without bubblewrap (DISPATCH_UNCONFINED_SHELL=1)" }
          : {},
      }),
    },
    sandboxed(config, todo, "todo", { exposeServices: ["surface-registry"] }),
    { manifest: messageQueue, activate: messageQueueMod.activate },
    { manifest: cacheWarming, ...createCacheWarming(warmingOptionsFromEnv(config.secrets)) },
    { manifest: systemPrompt, activate: systemPromptMod.activate },
    { manifest: skills, activate: skillsMod.activate },
    { manifest: lsp, ...createLsp(lspOptionsFromEnv(config.secrets)) },
    {
      manifest: mcpClient,
      ...createMcpClient({
        configPath: config.secrets[MCP_CONFIG_SETTING] || undefined,
        unconfined: on(config, "DISPATCH_UNCONFINED_SHELL"),
      }),
    },
    { manifest: compaction, activate: compactionMod.activate },
    ...(extras.journal ? [{ manifest: journalSink, ...createJournalSpans(extras.journal) }] : []),
    ...(extras.collector
      ? [{
        manifest: collector,
        ...createCollectorSupervisor({ writable: [config.dataDir, config.journalDir] }),
      }]
      : []),
    sandboxed(config, toolReadFile, "tool-read-file"),
    sandboxed(config, toolWriteFile, "tool-write-file"),
    sandboxed(config, toolEditFile, "tool-edit-file"),
    sandboxed(config, toolShell, "tool-shell"),
    sandboxed(config, toolGrep, "tool-grep"),
    sandboxed(config, toolGlob, "tool-glob"),
    ...webTools(config),
  ];
}
