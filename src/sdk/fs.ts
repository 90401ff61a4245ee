// Atomic file replacement: the new content goes to a temporary file in the same folder, is flushed, then
// takes the target's name in one step, so a crash leaves either the old file or the new one, never half.
import { basename, dirname, join } from "node:path";

export interface AtomicWriteOptions {
  /** Replace an existing file (rename over it). When false, an existing file makes this throw AlreadyExists. */
  overwrite: boolean;
  /** Permission bits for the result (e.g. the replaced file's); default: 0o666 less the umask. */
  mode?: number;
}

/**
 * Writes `data` to `path` (a real path: no symbolic links in it) atomically. The target's folder must exist. Replacing gives the file a new inode
 * (hard links to the old one keep the old content) and the writer's ownership.
 */
export async function atomicWrite(path: string, data: Uint8Array, opts: AtomicWriteOptions): Promise<void> {
  const folder = dirname(path);
  const tmp = join(folder, `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  await assertFolderUnchanged(folder);
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o666 });
  try {
    try {
      // Nothing is written until the new file is known to be in `folder`: with the folder swapped for a link
      // (to the daemon's data, say) between the caller's check and the open, it would have been created there.
      // Once it is in place, the rename can only find it there, so the result lands in `folder` too.
      const opened = await file.stat();
      await assertFolderUnchanged(folder);
      const named = await Deno.lstat(tmp).catch(() => undefined);
      if (!named || named.ino !== opened.ino || named.dev !== opened.dev) throw folderChanged(folder);
      for (let written = 0; written < data.length;) {
        written += await file.write(data.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
    if (opts.mode !== undefined) await Deno.chmod(tmp, opts.mode & 0o7777);
    if (opts.overwrite) {
      await Deno.rename(tmp, path);
    } else {
      await linkNoClobber(tmp, path);
    }
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** `folder` is a real path: throws when it no longer is its own real path (a link swapped in for it). */
async function assertFolderUnchanged(folder: string): Promise<void> {
  if ((await Deno.realPath(folder).catch(() => undefined)) !== folder) throw folderChanged(folder);
}

const folderChanged = (folder: string) =>
  new Error(`the folder ${folder} changed (a symbolic link swapped in?) while writing; nothing written`);

/** Gives `tmp` the name `path` only if nothing has it (a hard link fails when it exists), then drops `tmp`. */
async function linkNoClobber(tmp: string, path: string): Promise<void> {
  try {
    await Deno.link(tmp, path);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw error;
    // No hard links on this file system: check, then rename (a small race instead of a failure).
    const exists = await Deno.lstat(path).then(() => true, () => false);
    if (exists) throw new Deno.errors.AlreadyExists(`${path} already exists`);
    await Deno.rename(tmp, path);
    return;
  }
  await Deno.remove(tmp);
}
