// Workspace roots: the folders conversations may work in (DISPATCH_WORKSPACE_ROOTS; src/config.ts defaults it
// to the user's home).
import { isAbsolute, relative, resolve } from "node:path";
import { invalid } from "../kernel/errors.ts";

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
 * Checks a working directory a client names: absolute, existing, inside a workspace root (symlinks resolved).
 * Resolves to its real path; throws a DispatchError (400 `bad_cwd`) a person can act on.
 */
export function directoryChecker(roots: string[]): (path: string) => Promise<string> {
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
    return real;
  };
}
