// Workspace roots: the folders conversations may work in (DISPATCH_WORKSPACE_ROOTS, default the user's home).
import { isAbsolute, relative, resolve } from "node:path";

/** True when `path` is `root` or lies below it (both absolute, already resolved). */
export function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

export function workspaceRoots(config: Readonly<Record<string, string>>): string[] {
  const raw = config.DISPATCH_WORKSPACE_ROOTS ?? "";
  return raw.split(":").filter(Boolean).map((r) => resolve(r));
}
