// Workspace roots: the folders conversations may work in (DISPATCH_WORKSPACE_ROOTS; src/config.ts defaults it
// to the user's home), and the protected paths no conversation may work in (DISPATCH_PROTECTED_PATHS: the
// daemon's data directory and env file; see workspace.ts for how tools keep out of them).
import { isAbsolute, relative, resolve } from "node:path";
import { invalid } from "../kernel/errors.ts";

export const PROTECTED_PATHS_KEY = "DISPATCH_PROTECTED_PATHS";

/** True when `path` is `root` or lies below it (both absolute, already resolved). */
export function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

export function workspaceRoots(config: Readonly<Record<string, string>>): string[] {
  const raw = config.DISPATCH_WORKSPACE_ROOTS ?? "";
  return raw.split(":").filter(Boolean).map((r) => resolve(r));
}

/**
 * The protected paths in an extension's config: key DISPATCH_PROTECTED_PATHS, a JSON array of absolute paths,
 * e.g. `["/home/me/.dispatch", "/home/me/dispatch/.env"]` (what src/config.ts produces); [] when the key is
 * absent or empty. Any other value throws, so a misconfigured extension fails to activate instead of running
 * unprotected.
 */
export function parseProtectedPaths(config: Readonly<Record<string, string>>): string[] {
  const raw = config[PROTECTED_PATHS_KEY]?.trim();
  if (!raw) return [];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error(`${PROTECTED_PATHS_KEY} must be a JSON array of absolute paths`);
  }
  if (!Array.isArray(value) || !value.every((p) => typeof p === "string" && isAbsolute(p))) {
    throw new Error(`${PROTECTED_PATHS_KEY} must be a JSON array of absolute paths`);
  }
  return value.map((p) => resolve(p));
}

/**
 * Checks a working directory a client names: absolute, existing, inside a workspace root and not inside a
 * protected path (symlinks resolved; both from `config`). Resolves to its real path; throws a DispatchError
 * (400 `bad_cwd`) a person can act on.
 */
export function directoryChecker(
  config: Readonly<Record<string, string>>,
): (path: string) => Promise<string> {
  const roots = workspaceRoots(config);
  const protectedPaths = parseProtectedPaths(config);
  return async (path) => {
    if (!path.startsWith("/")) throw invalid("bad_cwd", `"${path}" is not an absolute path`);
    let real: string;
    try {
      real = await Deno.realPath(path);
      if (!(await Deno.stat(real)).isDirectory) throw new Error("not a directory");
    } catch {
      throw invalid("bad_cwd", `"${path}" is not an existing directory`);
    }
    if (!roots.some((root) => isInside(real, root))) {
      throw invalid("bad_cwd", `"${path}" is outside the workspace roots (${roots.join(", ")})`);
    }
    // Both as configured and through links: the data directory may itself be reached by a symlink.
    const lexical = resolve(path);
    for (const guarded of protectedPaths) {
      const forms = [guarded, await Deno.realPath(guarded).catch(() => guarded)];
      if (forms.some((p) => isInside(real, p) || isInside(lexical, p))) {
        throw invalid(
          "bad_cwd",
          `"${path}" is inside ${guarded}, the daemon's own data (data directory or env file): ` +
            `no conversation may work there`,
        );
      }
    }
    return real;
  };
}

/**
 * The workspace root `path` lies in, when the model could write it there (outside every protected path):
 * configuration that runs code (MCP servers, extensions and their grants) must not be read from such a place.
 * Both sides are compared by their real paths; a path that does not exist is not inside anything.
 */
export async function modelWritableRoot(
  path: string,
  config: Readonly<Record<string, string>>,
): Promise<string | undefined> {
  const real = async (p: string) => await Deno.realPath(p).catch(() => undefined);
  const target = await real(path);
  if (!target) return undefined;
  for (const p of parseProtectedPaths(config)) {
    const guarded = await real(p);
    if (guarded && isInside(target, guarded)) return undefined;
  }
  for (const root of workspaceRoots(config)) {
    const r = await real(root);
    if (r && isInside(target, r)) return root;
  }
  return undefined;
}
