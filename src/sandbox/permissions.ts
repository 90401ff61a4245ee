// A manifest's permission descriptors → the Worker's `deno.permissions`. Every kind is set explicitly: a kind
// left out of the Worker options is *inherited* from the daemon, which runs with --allow-all.
import { isAbsolute, resolve } from "node:path";
import type { Permissions } from "../kernel/contracts.ts";
import { looksSecret } from "../secrets.ts";

export type PermissionKind = "read" | "write" | "net" | "env" | "run" | "sys" | "import";
const KINDS: PermissionKind[] = ["read", "write", "net", "env", "run", "sys", "import"];

/** Expands a placeholder entry such as "$WORKSPACE_ROOTS" (the names are the caller's) into concrete entries. */
export type ExpandPermission = (placeholder: string, kind: PermissionKind) => string[];

export interface WorkerPermissionOptions {
  /** The extension's folder, absolute: always readable, because the bootstrap imports the extension from it. */
  folder: string;
  expand?: ExpandPermission;
}

const PLACEHOLDER = /^\$[A-Za-z0-9_]+$/;

export class PermissionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermissionError";
  }
}

/**
 * Exactly the declared permissions, placeholders expanded, relative paths resolved against the extension's
 * folder; undeclared kinds are `false`, ffi is always `false`. Throws PermissionError for an env grant that
 * could reach a secret (`true`, a secret-looking name, or a wildcard such as `DISPATCH_*`).
 */
export function workerPermissions(
  declared: Permissions,
  opts: WorkerPermissionOptions,
): Deno.PermissionOptionsObject {
  if (!isAbsolute(opts.folder)) {
    throw new PermissionError(`extension folder must be absolute: ${opts.folder}`);
  }
  const out: Record<PermissionKind, boolean | string[]> = {
    read: false,
    write: false,
    net: false,
    env: false,
    run: false,
    sys: false,
    import: false,
  };
  for (const kind of KINDS) {
    const grant = declared[kind];
    if (grant === undefined || grant === false) continue;
    if (grant === true) {
      if (kind === "env") {
        throw new PermissionError("permissions.env: true would expose the daemon's secrets; list the names");
      }
      out[kind] = true;
      continue;
    }
    let entries = grant.flatMap((entry) => expandEntry(entry, kind, opts.expand));
    if (kind === "read" || kind === "write") entries = entries.map((p) => resolve(opts.folder, p));
    if (kind === "env") entries.forEach(assertNotSecret);
    out[kind] = entries.length > 0 ? [...new Set(entries)] : false;
  }
  if (out.read !== true) out.read = [...new Set([opts.folder, ...(out.read || [])])];
  return { ...out, ffi: false };
}

function expandEntry(entry: string, kind: PermissionKind, expand?: ExpandPermission): string[] {
  if (!PLACEHOLDER.test(entry)) return [entry];
  if (!expand) throw new PermissionError(`permissions.${kind}: placeholder ${entry} but no expansion is set`);
  const expanded = expand(entry, kind);
  if (!Array.isArray(expanded)) {
    throw new PermissionError(`permissions.${kind}: unknown placeholder ${entry}`);
  }
  return expanded;
}

function assertNotSecret(name: string): void {
  if (name.includes("*")) {
    throw new PermissionError(`permissions.env: wildcard "${name}" could match a secret; list the names`);
  }
  if (looksSecret(name)) {
    throw new PermissionError(`permissions.env: "${name}" looks like a secret; sandboxes may not read it`);
  }
}

/** Config handed to a sandbox: the host's non-secret settings, minus anything named like a secret. */
export function sandboxConfig(config: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config).filter(([k]) => !looksSecret(k)),
  );
}
