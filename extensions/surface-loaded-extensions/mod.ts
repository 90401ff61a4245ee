// surface-loaded-extensions: one `stat` per extension the host was given, rendered when a client subscribes (so
// extensions activated after this one, and later failures, show). The host's list comes in through the
// factory: the composition root passes `() => host.list()`.
import type { ExtensionContext, ExtensionModule, ExtensionState, Permissions } from "../../src/kernel/mod.ts";
import type { SurfaceField } from "../../src/contract/ui.ts";
import { SurfaceRegistryKey } from "../surface-registry/api.ts";

export { manifest } from "./manifest.ts";

export const SURFACE_ID = "loaded-extensions";

export interface LoadedExtensionsOptions {
  /** The host's extension list (`ExtensionHost.list`). */
  list: () => ExtensionState[];
  /** What an operator must see about an extension, by id (e.g. its confinement switched off). */
  warnings?: Readonly<Record<string, string>>;
}

export function createSurfaceLoadedExtensions(options: LoadedExtensionsOptions): ExtensionModule {
  return {
    activate(ctx: ExtensionContext) {
      const registry = ctx.services.require(SurfaceRegistryKey);
      registry.contribute({ id: SURFACE_ID, region: "side", title: "Loaded Extensions", scope: "global" });
      const detach = registry.attach(SURFACE_ID, {
        render: () => extensionFields(options.list(), options.warnings),
      });
      return () => {
        detach();
        registry.withdraw(SURFACE_ID);
      };
    },
  };
}

/** Label `<id>`, value e.g. `active · sandboxed · v0.1.0 · permissions: read: $WORKSPACE_ROOTS; net: x.com`. */
export function extensionFields(
  states: ExtensionState[],
  warnings: Readonly<Record<string, string>> = {},
): SurfaceField[] {
  return states.map((s) => {
    const core = s.manifest?.core ?? false;
    const declared = describePermissions(s.manifest?.permissions);
    const parts = [
      s.status === "failed" ? `failed: ${s.error ?? "unknown error"}` : s.status,
      ...(Object.hasOwn(warnings, s.id) ? [`⚠ ${warnings[s.id]}`] : []),
      s.sandboxed ? "sandboxed" : core ? "core" : "in-process (not sandboxed)",
      ...(s.manifest ? [`v${s.manifest.version}`] : []),
      s.sandboxed
        ? `permissions: ${declared}`
        : core
        ? "permissions: all (core)"
        : `permissions: ${declared} (declared, not enforced)`,
    ];
    return { kind: "stat", id: s.id, label: s.id, value: parts.join(" · ") };
  });
}

export function describePermissions(permissions: Permissions | undefined): string {
  const granted = Object.entries(permissions ?? {})
    .filter(([, grant]) => grant !== undefined && grant !== false)
    .map(([kind, grant]) => grant === true ? `${kind}: all` : `${kind}: ${(grant as string[]).join(", ")}`);
  return granted.length ? granted.join("; ") : "none";
}
