// A manifest's permission descriptors → the Worker's `deno.permissions`. Every kind is set explicitly: a kind
// left out of the Worker options is *inherited* from the daemon, which runs with --allow-all.
import { isAbsolute, resolve } from "node:path";
import type { Permissions } from "../kernel/contracts.ts";
import { envGrantRefusal, looksSecret } from "../secrets.ts";

export type PermissionKind = "read" | "write" | "net" | "env" | "run" | "sys" | "import";
const KINDS: PermissionKind[] = ["read", "write", "net", "env", "run", "sys", "import"];

/** Expands a placeholder entry such as "$WORKSPACE_ROOTS" (the names are the caller's) into concrete entries. */
export type ExpandPermission = (placeholder: string, kind: PermissionKind) => string[];

/** Kinds whose `true` (everything) a manifest may ask for only when the operator grants it explicitly. */
export type BroadKind = "read" | "run" | "net";
const BROAD: readonly PermissionKind[] = ["read", "run", "net"];

export interface WorkerPermissionOptions {
  /** The extension's folder, absolute: always readable, because the bootstrap imports the extension from it. */
  folder: string;
  expand?: ExpandPermission;
  /** The kinds this extension may have as `true` (the composition root's explicit grant); none by default. */
  allowBroad?: readonly BroadKind[];
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
      if (BROAD.includes(kind) && !opts.allowBroad?.includes(kind as BroadKind)) {
        throw new PermissionError(
          `permissions.${kind}: true needs the operator's explicit grant (sandboxedEntry option ` +
            `allowBroad: ["${kind}"]); list what the extension needs instead`,
        );
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
  const refusal = envGrantRefusal(name);
  if (refusal) throw new PermissionError(`permissions.env: ${refusal}`);
}

/**
 * The sandbox host process's own Deno flags: the Worker's permissions (a Worker may not exceed its parent's),
 * plus reading the program (the Worker's entry is checked against the parent's read permission).
 */
export function hostFlags(worker: Deno.PermissionOptionsObject, programRead: readonly string[]): string[] {
  const flags: string[] = [];
  for (const kind of KINDS) {
    let grant = worker[kind] as boolean | string[] | undefined;
    if (kind === "read" && grant !== true) grant = [...(Array.isArray(grant) ? grant : []), ...programRead];
    if (grant === true) flags.push(`--allow-${kind}`);
    else if (Array.isArray(grant) && grant.length > 0) {
      const bad = grant.find((entry) => entry.includes(","));
      if (bad) throw new PermissionError(`permissions.${kind}: "${bad}" contains a comma`);
      flags.push(`--allow-${kind}=${grant.join(",")}`);
    }
  }
  return flags;
}

/** Config handed to a sandbox: the host's non-secret settings, minus anything named like a secret. */
export function sandboxConfig(config: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config).filter(([k]) => !looksSecret(k)),
  );
}
