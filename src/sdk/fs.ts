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
  const tmp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o666 });
  try {
    try {
      for (let written = 0; written < data.length;) {
        written += await file.write(data.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
    if (opts.mode !== undefined) await Deno.chmod(tmp, opts.mode & 0o7777);
    // `path` is a real path: a folder swapped for a link since the caller checked it would send the rename
    // elsewhere. This narrows that race to the rename itself; it cannot close it (no renameat in Deno).
    const folder = dirname(path);
    if ((await Deno.realPath(folder).catch(() => undefined)) !== folder) {
      throw new Error(
        `the folder ${folder} changed (a symbolic link swapped in?) while writing; nothing written`,
      );
    }
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
