// storage-sqlite: the Storage service on node:sqlite. Each owner opens a named database, one file per name
// under the data directory (created 0700; files 0600). The extension holds the data directory's lock (one
// daemon per data directory, lock.ts) from activation until deactivation closes every database it opened.
import { type ExtensionModule, type SqlDatabase, type Storage, StorageKey } from "../../src/kernel/mod.ts";
import { openSqlite, type SqliteDatabase } from "./database.ts";
import { lockDataDir } from "./lock.ts";

export { BUSY_TIMEOUT_MS, openSqlite, SqliteDatabase } from "./database.ts";
export { DataDirLockedError, LOCK_FILE, lockDataDir } from "./lock.ts";
export { manifest } from "./manifest.ts";

const NAME = /^[a-z][a-z0-9-]{0,62}$/;

export class InvalidDatabaseNameError extends Error {
  constructor(name: string) {
    super(
      `invalid database name ${JSON.stringify(name)}: use lower-case letters, digits and dashes, ` +
        `starting with a letter (at most 63 characters)`,
    );
    this.name = "InvalidDatabaseNameError";
  }
}

/** The file a database name maps to; throws InvalidDatabaseNameError for anything that is not a plain name. */
export function databasePath(dataDir: string, name: string): string {
  if (typeof name !== "string" || !NAME.test(name)) throw new InvalidDatabaseNameError(String(name));
  const dir = dataDir.length > 1 ? dataDir.replace(/\/+$/, "") : dataDir;
  return dir === "/" ? `/${name}.sqlite` : `${dir}/${name}.sqlite`;
}

/**
 * A Storage over `dataDir`. Opening the same name twice returns the same open connection (one connection
 * per file in this process, so writers never wait on each other's locks); `closeAll` closes them all.
 */
export class SqliteStorage implements Storage {
  readonly #open = new Map<string, SqliteDatabase>();

  constructor(readonly dataDir: string) {}

  openDatabase(name: string): SqlDatabase {
    const path = databasePath(this.dataDir, name);
    const existing = this.#open.get(name);
    if (existing?.isOpen) return existing;
    Deno.mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    const db = openSqlite(path);
    this.#open.set(name, db);
    return db;
  }

  closeAll(): void {
    const errors: unknown[] = [];
    for (const db of this.#open.values()) {
      try {
        db.close();
      } catch (error) {
        errors.push(error);
      }
    }
    this.#open.clear();
    if (errors.length > 0) throw new AggregateError(errors, "some databases failed to close");
  }
}

export function createStorageSqlite(dataDir: string): ExtensionModule {
  return {
    activate(ctx) {
      Deno.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      // Before anything reads the databases: a second daemon must not touch the first one's turns.
      const unlock = lockDataDir(dataDir);
      const storage = new SqliteStorage(dataDir);
      ctx.services.provide(StorageKey, { openDatabase: (name) => storage.openDatabase(name) });
      ctx.log.debug("sqlite storage ready", { dataDir });
      return () => {
        try {
          storage.closeAll();
        } finally {
          unlock();
        }
      };
    },
  };
}
