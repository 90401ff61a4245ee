// Sandboxed extensions: a non-core extension runs in its own process (`dispatch sandbox-host`) under bubblewrap,
// seeing only what its manifest grants, and inside it in a Worker with exactly its manifest's Deno permissions.
// It reaches the daemon only through the message bridge (tools, hooks, events, allow-listed services, logging).
import type { ExtensionContext, ManifestInput } from "../kernel/contracts.ts";
import type { ExtensionEntry } from "../kernel/host.ts";
import { parseProtectedPaths } from "../sdk/workspace.ts";
import type { BridgeOptions, SandboxState } from "./bridge_host.ts";
import { DEFAULT_LIMITS, type HostLimits, type HostSpec } from "./host_link.ts";
import { type BroadKind, type ExpandPermission, sandboxConfig, workerPermissions } from "./permissions.ts";
import { locateExtension } from "./extension_folder.ts";
import { probeBwrap } from "./bwrap.ts";
import { SandboxSupervisor, type SupervisorOptions } from "./supervisor.ts";

export type { SandboxState } from "./bridge_host.ts";
export type { HostLimits } from "./host_link.ts";
export {
  type BroadKind,
  type ExpandPermission,
  PermissionError,
  type PermissionKind,
  sandboxConfig,
  workerPermissions,
} from "./permissions.ts";

/** The setting with which an operator runs sandboxed extensions without bubblewrap. */
export const UNCONFINED_SETTING = "DISPATCH_UNCONFINED_SANDBOX";

export interface SandboxOptions
  extends Partial<Omit<SupervisorOptions, keyof BridgeOptions>>, Partial<BridgeOptions> {
  /** The extension's folder (default: the module's). The worker may read it, to import the extension. */
  folder?: URL;
  /** Expands permission placeholders such as "$WORKSPACE_ROOTS"; the names are the caller's. */
  expand?: ExpandPermission;
  /** The operator's explicit grant for `read: true`, `run: true` or `net: true` in this manifest. */
  allowBroad?: readonly BroadKind[];
  /**
   * Values handed to this one extension at activation, merged into its config after the secret filtering (an
   * operator's grant, e.g. `{ FIRECRAWL_API_KEY: value }`): never through the env permission.
   */
  grantConfig?: Readonly<Record<string, string>>;
  /** Run without bubblewrap (the operator's explicit opt-out, UNCONFINED_SETTING): only Deno's checks remain. */
  unconfined?: boolean;
  limits?: Partial<HostLimits>;
}

export interface SandboxedEntry extends ExtensionEntry {
  sandboxed: true;
  /**
   * "starting" before/while a host process starts, "idle" (declared tools offered, no process), "running",
   * "crashed" (restarting after backoff) or "stopped".
   */
  state(): SandboxState;
  /** How many host processes were started, and the running one's pid. */
  starts(): number;
  pid(): number | undefined;
}

export const DEFAULT_ACTIVATE_TIMEOUT_MS = 10_000;
export const DEFAULT_TOOL_TIMEOUT_MS = 120_000;
export const DEFAULT_IDLE_MS = 5 * 60_000;

/**
 * An ExtensionEntry whose activate() starts the extension's host process (or, when the manifest declares its
 * tools, offers them and starts it on the first call). Refuses, before spawning, permissions that could reach a
 * secret or need the operator's grant, a folder with symlinks leading out, a module outside its folder, and
 * (failing closed) running at all when bubblewrap cannot.
 */
export function sandboxedEntry(
  manifest: ManifestInput,
  moduleUrl: URL,
  opts: SandboxOptions = {},
): SandboxedEntry {
  let supervisor: SandboxSupervisor | undefined;
  const declaresTools = (manifest.tools?.length ?? 0) > 0;
  const supervisorOpts: SupervisorOptions = {
    exposeServices: opts.exposeServices ?? [],
    listenEvents: opts.listenEvents ?? [],
    emitEvents: opts.emitEvents ?? [],
    hooks: opts.hooks ?? [],
    activateTimeoutMs: opts.activateTimeoutMs ?? DEFAULT_ACTIVATE_TIMEOUT_MS,
    hookTimeoutMs: opts.hookTimeoutMs ?? 10_000,
    serviceTimeoutMs: opts.serviceTimeoutMs ?? 30_000,
    deactivateTimeoutMs: opts.deactivateTimeoutMs ?? 5_000,
    pingTimeoutMs: opts.pingTimeoutMs ?? 5_000,
    toolTimeoutMs: opts.toolTimeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS,
    toolGraceMs: opts.toolGraceMs ?? 10_000,
    idleMs: opts.idleMs ?? DEFAULT_IDLE_MS,
    restartBackoffMs: opts.restartBackoffMs ?? 1_000,
    maxBackoffMs: opts.maxBackoffMs ?? 60_000,
    lazy: opts.lazy ?? declaresTools,
  };
  return {
    manifest,
    sandboxed: true,
    state: () => supervisor?.state ?? "starting",
    starts: () => supervisor?.starts ?? 0,
    pid: () => supervisor?.pid,
    async activate(ctx: ExtensionContext) {
      const { moduleUrl: realUrl, folder } = await locateExtension(moduleUrl, opts.folder);
      const permissions = workerPermissions(ctx.manifest.permissions, {
        folder,
        expand: opts.expand,
        allowBroad: opts.allowBroad,
      });
      const protectedPaths = parseProtectedPaths(ctx.config);
      await checkConfinement(ctx, !!opts.unconfined);
      const spec: HostSpec = {
        id: ctx.manifest.id,
        folder,
        permissions,
        protectedPaths,
        confined: !opts.unconfined,
        limits: { ...DEFAULT_LIMITS, ...opts.limits },
      };
      const config = { ...sandboxConfig(ctx.config), ...opts.grantConfig };
      supervisor = new SandboxSupervisor(ctx, supervisorOpts, spec, realUrl, config);
      return await supervisor.activate();
    },
  };
}

/** Fails closed: no bubblewrap, no sandboxed extension, unless the operator said otherwise. */
async function checkConfinement(ctx: ExtensionContext, unconfined: boolean): Promise<void> {
  if (unconfined) {
    ctx.log.warn(
      `running without bubblewrap (${UNCONFINED_SETTING}=1): only Deno's permission checks confine it`,
    );
    return;
  }
  const probe = await probeBwrap();
  if (!probe.ok) {
    throw new Error(
      `sandboxed extensions run under bubblewrap (Debian package bubblewrap), which cannot run here: ` +
        `${probe.reason}. Set ${UNCONFINED_SETTING}=1 to run them without it`,
    );
  }
}
