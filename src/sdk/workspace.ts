// Path containment for tools. Every path a tool touches must resolve, symbolic links included, inside the
// conversation's working directory, and never at or below one of the daemon's protected paths (its data
// directory and env file).
//
// Protected paths reach a tool through its extension config (DISPATCH_PROTECTED_PATHS; `parseProtectedPaths`
// in roots.ts reads it and throws on a malformed value, so a misconfigured tool fails to activate).
//
// A path is refused when (a) it is lexically outside the working directory (`../x`, `/etc/passwd`), (b) its
// real path (symbolic links followed; for a path that does not exist yet, its nearest existing ancestor's real
// path, and a dangling link's target) is outside the working directory's real path, or (c) its lexical or
// real path is, or lies below, a protected path (taken both as given and through realPath), or it is the
// same file (device + inode) as a protected file or a file directly inside a protected folder (hard links).
// A regular file with more than one hard link is refused outright. Checks happen before the file is opened;
// `readFile` checks the opened handle again (device + inode against the path's, real path unchanged), so a
// link swapped in between check and read is refused. A write (fs.ts atomicWrite) writes only once its
// temporary file is known to be in the checked folder, so a folder swapped for a link gets at most an empty
// temporary file. Only a view without the protected paths (the tools' bubblewrap host) rules that out too.
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { isInside, parseProtectedPaths } from "./roots.ts";
import { fail } from "./tool.ts";

export { parseProtectedPaths, PROTECTED_PATHS_KEY } from "./roots.ts";

/** The protected paths as the file system sees them at one moment. */
export class ProtectedSet {
  private constructor(readonly forms: readonly string[], readonly inodes: ReadonlySet<string>) {}

  static async load(paths: readonly string[]): Promise<ProtectedSet> {
    const forms = new Set<string>();
    const inodes = new Set<string>();
    for (const path of paths) {
      forms.add(path);
      const real = await realPathLenient(path);
      if (real) forms.add(real);
      const info = await Deno.stat(path).catch(() => undefined);
      if (info?.isFile) addInode(inodes, info);
      if (info?.isDirectory) {
        // Files directly inside a protected folder (its databases), so a hard link to one is refused too.
        let n = 0;
        try {
          for await (const entry of Deno.readDir(path)) {
            if (!entry.isFile || ++n > 256) continue;
            const child = await Deno.stat(join(path, entry.name)).catch(() => undefined);
            if (child) addInode(inodes, child);
          }
        } catch {
          // unreadable here (e.g. outside a sandbox's read roots): then it is unreachable too
        }
      }
    }
    return new ProtectedSet([...forms], inodes);
  }

  /** True when `path` (absolute) is a protected path or lies below one. */
  covers(path: string): boolean {
    return this.forms.some((p) => isInside(path, p));
  }

  /** True when `info` describes the same file as a protected one (a hard link to it). */
  coversFile(info: Deno.FileInfo): boolean {
    return info.dev !== null && info.ino !== null && this.inodes.has(`${info.dev}:${info.ino}`);
  }
}

function addInode(set: Set<string>, info: Deno.FileInfo): void {
  if (info.dev !== null && info.ino !== null) set.add(`${info.dev}:${info.ino}`);
}

/** The real path of `path`, its parent's real path joined with its name when it does not exist, else undefined. */
async function realPathLenient(path: string): Promise<string | undefined> {
  try {
    return await Deno.realPath(path);
  } catch {
    try {
      return join(await Deno.realPath(dirname(path)), basename(path));
    } catch {
      return undefined;
    }
  }
}

export interface ResolvedPath {
  /** The path as the tool was given it. */
  input: string;
  /** Absolute real path (links resolved), inside the working directory. Operate on this. */
  path: string;
  /** How to show it: relative to the working directory ("." for the directory itself). */
  display: string;
  /** The file's stat (links followed), or undefined when it does not exist. */
  info?: Deno.FileInfo;
}

const MAX_LINK_HOPS = 40;

/** One tool call's view of the working directory and the protected paths. */
export class Workspace {
  private constructor(
    /** The working directory as configured (absolute, normalized). */
    readonly cwd: string,
    /** Its real path: what every resolved path must lie in. */
    readonly root: string,
    readonly protection: ProtectedSet,
  ) {}

  /** Checks the conversation's working directory; fails (ToolFailure) when there is none or it is unusable. */
  static async open(cwd: string | undefined, protectedPaths: readonly string[]): Promise<Workspace> {
    if (!cwd) fail("this conversation has no working directory; set one before using this tool");
    if (!isAbsolute(cwd)) fail(`the working directory ${cwd} is not an absolute path`);
    const normalized = resolve(cwd);
    let root: string;
    try {
      root = await Deno.realPath(normalized);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) fail(`the working directory ${normalized} does not exist`);
      if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
        fail(`the working directory ${normalized} is not accessible (is it inside the workspace roots?)`);
      }
      throw error;
    }
    const info = await Deno.stat(root);
    if (!info.isDirectory) fail(`the working directory ${normalized} is not a folder`);
    const protection = await ProtectedSet.load(protectedPaths);
    if (protection.covers(normalized) || protection.covers(root)) {
      fail(`the working directory ${normalized} is inside a protected path (the daemon's own data); refused`);
    }
    return new Workspace(normalized, root, protection);
  }

  /**
   * Resolves a tool's path argument (relative to the working directory, or absolute inside it) to a real path
   * inside it, refusing escapes and protected paths with a ToolFailure. The path need not exist.
   */
  async resolve(input: string): Promise<ResolvedPath> {
    if (input.trim() === "") fail("the path is empty");
    if (input.includes("\0")) fail("the path contains a NUL character");
    const lexical = resolve(this.cwd, input);
    if (!isInside(lexical, this.cwd) && !isInside(lexical, this.root)) {
      fail(
        `path "${input}" is outside the working directory ${this.cwd}; tools may only use paths inside it`,
      );
    }
    if (this.protection.covers(lexical)) fail(protectedMessage(input));
    const real = await this.#realPath(lexical, 0);
    if (!isInside(real, this.root)) {
      fail(
        `path "${input}" leads outside the working directory ${this.cwd} through a symbolic link (to ${real}); refused`,
      );
    }
    if (this.protection.covers(real)) fail(protectedMessage(input));
    const info = await Deno.stat(real).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
    if (info && this.protection.coversFile(info)) fail(protectedMessage(input));
    if (info?.isFile && (info.nlink ?? 1) > 1) fail(hardLinkMessage(input, info.nlink!));
    return { input, path: real, display: this.display(real), info };
  }

  /**
   * A resolved regular file's bytes (at most `maxBytes`), read through one handle that is checked after it
   * was opened: the opened file must be what the resolved path names now (same device and inode, the path's
   * real path unchanged), a single-link file, and no protected file. So a symbolic link swapped in between
   * `resolve` and the open (to .env, say) is refused instead of read. Returns the opened file's stat too.
   */
  async readFile(
    target: ResolvedPath,
    maxBytes = Infinity,
  ): Promise<{ bytes: Uint8Array; info: Deno.FileInfo }> {
    const file = await Deno.open(target.path, { read: true }).catch((error) => {
      if (error instanceof Deno.errors.NotFound) fail(`${target.input} does not exist (any more)`);
      throw error;
    });
    try {
      const info = await file.stat();
      await this.#checkOpened(target, info);
      if (info.size > maxBytes) return { bytes: new Uint8Array(), info };
      // What the file held when it was checked: a writer appending meanwhile cannot push it past the limit.
      const bytes = new Uint8Array(info.size);
      let got = 0;
      while (got < bytes.length) {
        const n = await file.read(bytes.subarray(got));
        if (n === null) break;
        got += n;
      }
      return { bytes: bytes.subarray(0, got), info };
    } finally {
      file.close();
    }
  }

  async #checkOpened(target: ResolvedPath, opened: Deno.FileInfo): Promise<void> {
    if (this.protection.coversFile(opened)) fail(protectedMessage(target.input));
    if (!opened.isFile) fail(`${target.input} is not a regular file`);
    if ((opened.nlink ?? 1) > 1) fail(hardLinkMessage(target.input, opened.nlink!));
    const now = await Deno.realPath(target.path).catch(() => undefined);
    const named = now === target.path ? await Deno.stat(target.path).catch(() => undefined) : undefined;
    if (!named || named.dev !== opened.dev || named.ino !== opened.ino) {
      fail(
        `${target.input} changed while it was being opened (a symbolic link or file swapped in); refused. ` +
          "Try again once nothing else is changing it",
      );
    }
  }

  /** True when an absolute real path must not be touched (walkers use this on every entry). */
  isProtected(path: string, info?: Deno.FileInfo): boolean {
    return this.protection.covers(path) || (info !== undefined && this.protection.coversFile(info));
  }

  /** `path` relative to the working directory, with `/` separators ("." for the directory itself). */
  display(path: string): string {
    if (!isInside(path, this.root)) return path;
    return slashedRelative(this.root, path) || ".";
  }

  /**
   * Real path of an absolute path inside the working directory. Where it does not exist: the real path of
   * its parent joined with its name, following a dangling link's target while that stays inside.
   */
  async #realPath(path: string, hops: number): Promise<string> {
    try {
      return await Deno.realPath(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const parent = dirname(path);
    if (parent === path) return path;
    const candidate = join(await this.#realPath(parent, hops), basename(path));
    let link: string;
    try {
      const info = await Deno.lstat(candidate);
      if (!info.isSymlink) return candidate;
      link = await Deno.readLink(candidate);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return candidate;
      // lstat said link, readlink found something else: another process is swapping it right now.
      if (error instanceof TypeError) fail(`path "${path}" changed while it was being checked; refused`);
      throw error;
    }
    // A dangling link: where a write would land is its target.
    const target = resolve(dirname(candidate), link);
    if (!isInside(target, this.root)) return target;
    if (hops >= MAX_LINK_HOPS) fail(`path "${path}" has too many levels of symbolic links`);
    return await this.#realPath(target, hops + 1);
  }
}

/** `to` relative to `from` with `/` separators ("" when they are the same). */
export function slashedRelative(from: string, to: string): string {
  const rel = relative(from, to);
  return sep === "/" ? rel : rel.split(sep).join("/");
}

function hardLinkMessage(input: string, links: number): string {
  return `path "${input}" is a file with ${links} hard links; the file tools refuse those, because another ` +
    "name of the same file may lie outside the working directory or be one of the daemon's own files. " +
    "Copy it (run_shell cp) and work on the copy";
}

function protectedMessage(input: string): string {
  return `path "${input}" is a protected path (the daemon's own data directory or env file); no tool may read or change it`;
}

/** What a tool's `activate` captures: the protected paths, checked once, and a per-call Workspace opener. */
export function workspaceOpener(
  config: Readonly<Record<string, string>>,
): (cwd: string | undefined) => Promise<Workspace> {
  const protectedPaths = parseProtectedPaths(config);
  return (cwd) => Workspace.open(cwd, protectedPaths);
}
