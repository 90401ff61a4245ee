import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { ExtensionHost, type LogRecord, StorageKey } from "../../src/kernel/mod.ts";
import {
  createStorageSqlite,
  databasePath,
  InvalidDatabaseNameError,
  manifest,
  openSqlite,
  SqliteStorage,
} from "./mod.ts";

const pragma = (db: ReturnType<SqliteStorage["openDatabase"]>, name: string) =>
  Object.values(db.prepare(`PRAGMA ${name}`).get() ?? {})[0];

Deno.test("openDatabase creates the data dir 0700 and a 0600 file in WAL mode with the pragmas", async () => {
  const root = await Deno.makeTempDir();
  const dataDir = `${root}/data/nested`;
  const storage = new SqliteStorage(dataDir);
  try {
    const db = storage.openDatabase("things");
    db.exec("CREATE TABLE t (a INTEGER)");
    db.prepare("INSERT INTO t VALUES (?)").run(1);
    assertEquals(pragma(db, "journal_mode"), "wal");
    assertEquals(pragma(db, "synchronous"), 1); // NORMAL
    assertEquals(pragma(db, "foreign_keys"), 1);
    assert(Number(pragma(db, "busy_timeout")) > 0);
    assertEquals((await Deno.stat(dataDir)).mode! & 0o777, 0o700);
    assertEquals((await Deno.stat(`${dataDir}/things.sqlite`)).mode! & 0o777, 0o600);
    // The WAL and shared-memory files inherit the database file's mode.
    assertEquals((await Deno.stat(`${dataDir}/things.sqlite-wal`)).mode! & 0o777, 0o600);
  } finally {
    storage.closeAll();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("bad database names are refused before touching the file system", async () => {
  const root = await Deno.makeTempDir();
  const storage = new SqliteStorage(`${root}/data`);
  try {
    for (
      const name of [
        "",
        "../x",
        "a/b",
        "a.b",
        "Abc",
        "1abc",
        "-a",
        "a b",
        "a\0",
        "x".repeat(64),
        "..",
        "/etc",
      ]
    ) {
      const error = assertThrows(() => storage.openDatabase(name), /invalid database name/);
      assert(error instanceof InvalidDatabaseNameError, `name ${JSON.stringify(name)}`);
    }
    // Nothing was created for the refused names.
    assert(assertThrows(() => Deno.statSync(`${root}/data`)) instanceof Deno.errors.NotFound);
    assertEquals(databasePath("/var/lib/d/", "ok-name2"), "/var/lib/d/ok-name2.sqlite");
    assertEquals(databasePath("/", "a"), "/a.sqlite");
  } finally {
    storage.closeAll();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the same name gives the same connection; prepared statements are cached", async () => {
  const root = await Deno.makeTempDir();
  const storage = new SqliteStorage(root);
  try {
    const a = storage.openDatabase("one");
    assert(storage.openDatabase("one") === a);
    assert(a.prepare("SELECT 1 AS x") === a.prepare("SELECT 1 AS x"));
    assertEquals(a.prepare("SELECT 1 AS x").get(), { x: 1 });
    assert(storage.openDatabase("two") !== a);
  } finally {
    storage.closeAll();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("transactions commit, roll back on throw, and nest as savepoints", async () => {
  const root = await Deno.makeTempDir();
  const storage = new SqliteStorage(root);
  try {
    const db = storage.openDatabase("tx");
    db.exec("CREATE TABLE t (a INTEGER)");
    const insert = (v: number) => db.prepare("INSERT INTO t VALUES (?)").run(v);
    const values = () => db.prepare("SELECT a FROM t ORDER BY a").all().map((r) => r.a);

    assertEquals(db.transaction(() => (insert(1), "result")), "result");
    assertThrows(() =>
      db.transaction(() => {
        insert(2);
        throw new Error("boom");
      }), /boom/);
    assertEquals(values(), [1]);

    // An inner failure caught by the outer undoes only the inner work; the rest commits together.
    db.transaction(() => {
      insert(3);
      try {
        db.transaction(() => {
          insert(4);
          throw new Error("inner");
        });
      } catch { /* handled */ }
      db.transaction(() => insert(5));
    });
    assertEquals(values(), [1, 3, 5]);

    // An outer failure undoes the joined inner work too.
    assertThrows(() =>
      db.transaction(() => {
        db.transaction(() => insert(6));
        throw new Error("outer");
      })
    );
    assertEquals(values(), [1, 3, 5]);

    // Async callbacks cannot hold a transaction open: refused and rolled back.
    assertThrows(
      () =>
        db.transaction(async () => {
          insert(7);
          await Promise.resolve();
        }),
      /synchronous/,
    );
    assertEquals(values(), [1, 3, 5]);
  } finally {
    storage.closeAll();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("data persists across close and reopen; close is idempotent", async () => {
  const root = await Deno.makeTempDir();
  try {
    const first = new SqliteStorage(root);
    const db = first.openDatabase("keep");
    db.exec("CREATE TABLE t (a TEXT)");
    db.prepare("INSERT INTO t VALUES (?)").run("kept");
    first.closeAll();
    db.close();
    assertThrows(() => db.exec("SELECT 1"));

    const second = new SqliteStorage(root);
    assertEquals(second.openDatabase("keep").prepare("SELECT a FROM t").all(), [{ a: "kept" }]);
    second.closeAll();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("openSqlite tightens an existing world-readable file to 0600", async () => {
  const root = await Deno.makeTempDir();
  try {
    const path = `${root}/loose.sqlite`;
    await Deno.writeFile(path, new Uint8Array(), { mode: 0o644 });
    await Deno.chmod(path, 0o644);
    const db = openSqlite(path);
    db.exec("CREATE TABLE t (a)");
    db.close();
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("as an extension: provides StorageKey and closes every database on deactivate", async () => {
  const root = await Deno.makeTempDir();
  const logs: LogRecord[] = [];
  const host = new ExtensionHost({ sink: { write: (r) => logs.push(r) } });
  try {
    await host.boot([{ manifest, ...createStorageSqlite(`${root}/data`) }]);
    assertEquals(host.list().map((s) => [s.id, s.status]), [["storage-sqlite", "active"]]);
    const storage = host.services.require(StorageKey);
    const a = storage.openDatabase("a");
    const b = storage.openDatabase("b");
    a.exec("CREATE TABLE t (x)");
    await host.shutdown();
    assertThrows(() => a.exec("SELECT 1"));
    assertThrows(() => b.exec("SELECT 1"));
    assertEquals(logs.filter((l) => l.level === "error"), []);
  } finally {
    await host.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});
