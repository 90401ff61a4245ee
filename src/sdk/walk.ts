// Walking a folder tree for search tools (grep, glob): sorted, depth first, never leaving the working
// directory and never entering a protected path. Links to files are followed when their target is inside
// the working directory and not protected; links to folders are not followed (no loops, no escapes).
import { join } from "node:path";
import { isInside } from "./roots.ts";
import type { Workspace } from "./workspace.ts";

/** Folders search tools skip unless asked for explicitly. */
export const DEFAULT_SKIP_DIRS: ReadonlySet<string> = new Set([".git", "node_modules"]);
/** How many entries one walk looks at before it stops (and says so). */
export const DEFAULT_MAX_ENTRIES = 200_000;

export interface WalkOptions {
  /** Folder names never entered. */
  skipDirs?: ReadonlySet<string>;
  signal?: AbortSignal;
  maxEntries?: number;
}

export interface WalkedFile {
  /** Absolute path (through the link, for a followed link to a file). */
  path: string;
  /** The file's stat, links followed. */
  info: Deno.FileInfo;
}

/** What a walk saw; read it after the iteration ends. */
export interface WalkReport {
  entries: number;
  /** The walk stopped at maxEntries. */
  truncated: boolean;
  /** Entries left out because they are protected. */
  protected: number;
  /** Folders that could not be listed (permissions). */
  unreadable: number;
}

/**
 * Yields every regular file under `root` (an absolute real path inside `ws`), sorted by path segment.
 * Stops at maxEntries (setting report.truncated) and when the signal aborts (throwing its reason).
 */
export async function* walkFiles(
  ws: Workspace,
  root: string,
  report: WalkReport,
  opts: WalkOptions = {},
): AsyncGenerator<WalkedFile> {
  const skipDirs = opts.skipDirs ?? DEFAULT_SKIP_DIRS;
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;

  async function* visit(dir: string): AsyncGenerator<WalkedFile> {
    opts.signal?.throwIfAborted();
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      report.unreadable++;
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (report.entries >= maxEntries) {
        report.truncated = true;
        return;
      }
      report.entries++;
      const path = join(dir, entry.name);
      if (ws.isProtected(path)) {
        report.protected++;
        continue;
      }
      if (entry.isDirectory) {
        if (skipDirs.has(entry.name)) continue;
        yield* visit(path);
        if (report.truncated) return;
      } else if (entry.isFile) {
        const info = await Deno.stat(path).catch(() => undefined);
        if (!info) continue;
        if (ws.isProtected(path, info)) {
          report.protected++;
          continue;
        }
        yield { path, info };
      } else if (entry.isSymlink) {
        const real = await Deno.realPath(path).catch(() => undefined);
        if (!real || !isInside(real, ws.root)) continue;
        const info = await Deno.stat(real).catch(() => undefined);
        if (!info?.isFile) continue;
        if (ws.isProtected(real, info)) {
          report.protected++;
          continue;
        }
        yield { path, info };
      }
    }
  }

  yield* visit(root);
}

export function newWalkReport(): WalkReport {
  return { entries: 0, truncated: false, protected: 0, unreadable: 0 };
}
