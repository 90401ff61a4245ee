// Sandboxed extensions: a non-core extension runs in a Worker with exactly its manifest's Deno permissions and
// reaches the host only through the message bridge (tools, hooks, events, allow-listed services, logging).
import type { ExtensionContext, ManifestInput } from "../kernel/contracts.ts";
import type { ExtensionEntry } from "../kernel/host.ts";
import { type BridgeOptions, SandboxBridge, type SandboxState } from "./bridge_host.ts";
import { type ExpandPermission, workerPermissions } from "./permissions.ts";
import { locateExtension } from "./extension_folder.ts";
import { sandboxWorkerUrl } from "../build_layout.ts";

export type { SandboxState } from "./bridge_host.ts";
export {
  type ExpandPermission,
  PermissionError,
  type PermissionKind,
  sandboxConfig,
  workerPermissions,
} from "./permissions.ts";

export interface SandboxOptions extends Partial<BridgeOptions> {
  /** The extension's folder (default: the module's). The worker may read it, to import the extension. */
  folder?: URL;
  /** Expands permission placeholders such as "$WORKSPACE_ROOTS"; the names are the caller's. */
  expand?: ExpandPermission;
}

export interface SandboxedEntry extends ExtensionEntry {
  sandboxed: true;
  /** The worker's state: "starting" before/while activating, then "running", "crashed" or "stopped". */
  state(): SandboxState;
}

const WORKER_ENTRY = sandboxWorkerUrl();
export const DEFAULT_ACTIVATE_TIMEOUT_MS = 10_000;

/**
 * An ExtensionEntry whose activate() spawns the extension's Worker. Refuses, before spawning, permissions that
 * could reach a secret, a folder with symlinks leading out, and a module outside its folder.
 */
export function sandboxedEntry(
  manifest: ManifestInput,
  moduleUrl: URL,
  opts: SandboxOptions = {},
): SandboxedEntry {
  let bridge: SandboxBridge | undefined;
  const bridgeOpts: BridgeOptions = {
    exposeServices: opts.exposeServices ?? [],
    listenEvents: opts.listenEvents ?? [],
    emitEvents: opts.emitEvents ?? [],
    hooks: opts.hooks ?? [],
    activateTimeoutMs: opts.activateTimeoutMs ?? DEFAULT_ACTIVATE_TIMEOUT_MS,
    hookTimeoutMs: opts.hookTimeoutMs ?? 10_000,
    serviceTimeoutMs: opts.serviceTimeoutMs ?? 30_000,
    deactivateTimeoutMs: opts.deactivateTimeoutMs ?? 5_000,
    pingTimeoutMs: opts.pingTimeoutMs ?? 5_000,
  };
  return {
    manifest,
    sandboxed: true,
    state: () => bridge?.state ?? "starting",
    async activate(ctx: ExtensionContext) {
      const { moduleUrl: realUrl, folder } = await locateExtension(moduleUrl, opts.folder);
      const permissions = workerPermissions(ctx.manifest.permissions, { folder, expand: opts.expand });
      bridge = new SandboxBridge(ctx, bridgeOpts);
      return await bridge.start(WORKER_ENTRY, realUrl, permissions);
    },
  };
}
