// One daemon per data directory: an exclusive advisory lock (flock) on `<dataDir>/daemon.lock`, held for as
// long as the storage is open. A second daemon on the same data would otherwise take the first one's running
// turns for crashed ones (and mark them interrupted mid-stream). The kernel drops the lock when the process
// ends, however it ends, so a lock left by a dead daemon is simply taken over. The file holds the holder's pid,
// only to name it in the refusal.

export const LOCK_FILE = "daemon.lock";

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string, readonly pid: number | undefined) {
    super(
      `the data directory ${dataDir} is in use by another dispatch daemon (${
        pid ? `pid ${pid}` : "pid unknown"
      }); stop it first, or give this one its own DISPATCH_DATA_DIR`,
    );
    this.name = "DataDirLockedError";
  }
}

/** Takes the data directory's lock (the directory must exist); returns its release. Throws DataDirLockedError. */
export function lockDataDir(dataDir: string): () => void {
  const path = `${dataDir}/${LOCK_FILE}`;
  const file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
  try {
    if (!file.tryLockSync(true)) throw new DataDirLockedError(dataDir, holder(path));
    file.truncateSync(0);
    file.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
  } catch (error) {
    file.close();
    throw error;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    file.close(); // closing the last descriptor releases the lock
  };
}

function holder(path: string): number | undefined {
  try {
    const pid = Number(Deno.readTextFileSync(path).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
