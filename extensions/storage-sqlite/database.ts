// node:sqlite's DatabaseSync behind the kernel's SqlDatabase contract: cached statements, transactions that
// nest as savepoints, an idempotent close. One file, one connection, the pragmas every Dispatch database uses.
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { SqlDatabase, SqlStatement, SqlValue } from "../../src/kernel/mod.ts";

/** How long a writer waits for another connection's lock before SQLITE_BUSY (another process, say a CLI). */
export const BUSY_TIMEOUT_MS = 5000;
/** Prepared statements kept per connection; SQL comes from code, so this bound is never reached in practice. */
const STATEMENT_CACHE_SIZE = 512;

/**
 * Opens (creating if needed) the SQLite file at `path`, readable and writable by the owner only (0600; the
 * `-wal`/`-shm` files SQLite creates beside it inherit that mode), in WAL mode with `synchronous=NORMAL`
 * (a committed transaction survives a crash of the process), a busy timeout and foreign keys on.
 */
export function openSqlite(path: string): SqliteDatabase {
  ensurePrivateFile(path);
  // SQLite silently reuses a short file that is not a database (a few bytes of anything) as a new one.
  if (!hasSqliteHeader(path)) throw notADatabase(path, "it does not start with the SQLite header");
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
  } catch (error) {
    throw new Error(`cannot open database file ${path}: ${errorText(error)}`);
  }
  try {
    // The first read of the file: a corrupt or foreign one fails here, named, rather than later, anonymously.
    db.prepare("PRAGMA schema_version").get();
  } catch (error) {
    db.close();
    throw notADatabase(path, errorText(error));
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const mode = db.prepare("PRAGMA journal_mode = WAL").get()?.journal_mode;
    if (mode !== "wal") throw new Error(`could not switch ${path} to WAL mode (journal_mode is ${mode})`);
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    // Keep the WAL file from staying at its high-water mark after a checkpoint.
    db.exec("PRAGMA journal_size_limit = 67108864");
  } catch (error) {
    db.close();
    throw error;
  }
  return new SqliteDatabase(db, path);
}

function ensurePrivateFile(path: string): void {
  try {
    const file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
    file.close();
    if (Deno.build.os !== "windows") {
      const mode = Deno.statSync(path).mode;
      if (mode !== null && (mode & 0o077) !== 0) Deno.chmodSync(path, 0o600);
    }
  } catch (error) {
    throw new Error(`cannot open database file ${path}: ${errorText(error)}`);
  }
}

const HEADER = new TextEncoder().encode("SQLite format 3\0");

/** True for an empty file (a new database; SQLite writes the header with the first page) or a SQLite one. */
function hasSqliteHeader(path: string): boolean {
  const file = Deno.openSync(path, { read: true });
  try {
    const head = new Uint8Array(HEADER.length);
    let got = 0;
    while (got < head.length) {
      const n = file.readSync(head.subarray(got));
      if (n === null) break;
      got += n;
    }
    return got === 0 || (got === head.length && head.every((b, i) => b === HEADER[i]));
  } finally {
    file.close();
  }
}

function notADatabase(path: string, why: string): Error {
  return new Error(
    `database file ${path} is not a usable SQLite database (${why}): it is corrupt or was overwritten; ` +
      `move it aside (the daemon then starts with an empty one) or restore it from a backup`,
  );
}

const errorText = (error: unknown) => error instanceof Error ? error.message : String(error);

class CachedStatement implements SqlStatement {
  constructor(private readonly stmt: StatementSync) {}
  run(...params: SqlValue[]): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.stmt.run(...params);
  }
  // node:sqlite returns null-prototype rows; callers get plain objects.
  get(...params: SqlValue[]): Record<string, SqlValue> | undefined {
    const row = this.stmt.get(...params);
    return row === undefined ? undefined : { ...row } as Record<string, SqlValue>;
  }
  all(...params: SqlValue[]): Record<string, SqlValue>[] {
    return this.stmt.all(...params).map((row) => ({ ...row }) as Record<string, SqlValue>);
  }
}

export class SqliteDatabase implements SqlDatabase {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, CachedStatement>();
  #savepoints = 0;
  #closed = false;

  constructor(db: DatabaseSync, readonly path: string) {
    this.#db = db;
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  /** Prepared once per SQL text and reused (the cache is per connection). */
  prepare(sql: string): SqlStatement {
    let stmt = this.#statements.get(sql);
    if (stmt) return stmt;
    stmt = new CachedStatement(this.#db.prepare(sql));
    if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
      this.#statements.delete(this.#statements.keys().next().value!);
    }
    this.#statements.set(sql, stmt);
    return stmt;
  }

  /**
   * Runs `fn` in a transaction: BEGIN IMMEDIATE (the write lock up front, so no deadlock upgrading a read),
   * COMMIT when it returns, ROLLBACK when it throws. A call inside another transaction joins it as a
   * savepoint: its work commits with the outer one, and if it throws only its own work is undone.
   * `fn` must be synchronous: a transaction cannot stay open across an await.
   */
  transaction<T>(fn: () => T): T {
    if (this.#db.isTransaction) return this.#nested(fn);
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = synchronous(fn());
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  #nested<T>(fn: () => T): T {
    const name = `sp_${++this.#savepoints}`;
    this.#db.exec(`SAVEPOINT ${name}`);
    try {
      const result = synchronous(fn());
      this.#db.exec(`RELEASE ${name}`);
      return result;
    } catch (error) {
      if (this.#db.isTransaction) {
        this.#db.exec(`ROLLBACK TO ${name}`);
        this.#db.exec(`RELEASE ${name}`);
      }
      throw error;
    } finally {
      this.#savepoints--;
    }
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#statements.clear();
    this.#db.close();
  }
}

function synchronous<T>(result: T): T {
  if (
    result !== null && typeof result === "object" && typeof (result as { then?: unknown }).then === "function"
  ) {
    (result as unknown as Promise<unknown>).then(undefined, () => {});
    throw new TypeError("transaction callback returned a promise; transactions must be synchronous");
  }
  return result;
}
