// Workspaces in the conversation store: the default one, create/update, delete (moves and closes), migration.
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import type { Clock } from "../../src/kernel/mod.ts";
import { SqliteStorage } from "../storage-sqlite/mod.ts";
import {
  ConflictError,
  InvalidInputError,
  NotFoundError,
  openConversationStore,
  SCHEMA_VERSION,
} from "./mod.ts";

function tickingClock(start = 1_000_000): Clock {
  let t = start;
  return { now: () => t++ };
}

async function open() {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-ws-" });
  const storage = new SqliteStorage(dir);
  const db = storage.openDatabase("conversations");
  const { store } = openConversationStore(db, { clock: tickingClock() });
  return {
    store,
    db,
    dir,
    reopen() {
      storage.closeAll();
      const again = new SqliteStorage(dir);
      return { store: openConversationStore(again.openDatabase("conversations")).store, storage: again };
    },
    async [Symbol.asyncDispose]() {
      storage.closeAll();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("the default workspace always exists and is listed", async () => {
  await using f = await open();
  const list = f.store.listWorkspaces();
  assertEquals(list.map((w) => w.id), ["default"]);
  assertEquals(list[0], {
    id: "default",
    title: "default",
    defaultCwd: null,
    createdAt: 0,
    lastActivityAt: 0,
    conversationCount: 0,
  });
  assertEquals(f.store.getWorkspace("default")?.id, "default");
  assertEquals(f.store.getWorkspace("nope"), undefined);
  assertEquals(f.store.getWorkspace("NOT A SLUG"), undefined);
});

Deno.test("putWorkspace creates with defaults, then updates only the fields given", async () => {
  await using f = await open();
  const first = f.store.putWorkspace("my-work");
  assertEquals(first.created, true);
  assertEquals(first.workspace.title, "my-work");
  assertEquals(first.workspace.defaultCwd, null);
  const second = f.store.putWorkspace("my-work", { defaultCwd: "/tmp" });
  assertEquals(second.created, false);
  assertEquals(second.workspace.title, "my-work");
  assertEquals(second.workspace.defaultCwd, "/tmp");
  assertEquals(f.store.updateWorkspace("my-work", { title: "Mine" }).defaultCwd, "/tmp");
  assertEquals(f.store.updateWorkspace("my-work", { defaultCwd: null }).defaultCwd, null);
  assertEquals(f.store.getWorkspace("my-work")?.title, "Mine");
  assertThrows(() => f.store.updateWorkspace("other", { title: "x" }), /does not exist/);
  assert(f.store.listWorkspaces().map((w) => w.id).includes("my-work"));
});

Deno.test("bad workspace ids and patches are refused", async () => {
  await using f = await open();
  for (const id of ["", "Upper", "-dash", "dash-", "a".repeat(41), "sp ace", "é"]) {
    const e = assertThrows(() => f.store.putWorkspace(id));
    assert(e instanceof InvalidInputError, id);
  }
  assertThrows(() => f.store.putWorkspace("ok", { title: "" }), /title/);
  assertThrows(() => f.store.putWorkspace("ok", { title: 5 as unknown as string }), /title/);
  assertThrows(() => f.store.putWorkspace("ok", { defaultCwd: "" }), /defaultCwd/);
  assertThrows(() => f.store.putWorkspace("ok", { bogus: 1 } as never), /bogus/);
  assertEquals(f.store.getWorkspace("ok"), undefined);
});

Deno.test("conversations naming a new workspace create it; counts and activity follow them", async () => {
  await using f = await open();
  const c = f.store.create({ id: "c1", workspaceId: "auto" });
  const ws = f.store.getWorkspace("auto")!;
  assertEquals(ws.conversationCount, 1);
  assertEquals(ws.lastActivityAt, c.lastActivityAt);
  f.store.create({ id: "c2" });
  f.store.update("c2", { workspaceId: "moved-here" });
  assertEquals(f.store.getWorkspace("moved-here")?.conversationCount, 1);
  assertEquals(f.store.getWorkspace("default")?.conversationCount, 0);
  // newest activity first, default (no activity) last
  assertEquals(f.store.listWorkspaces().map((w) => w.id), ["moved-here", "auto", "default"]);
});

Deno.test("deleting a workspace moves its conversations to default and closes them", async () => {
  await using f = await open();
  f.store.create({ id: "a1", workspaceId: "work-a" });
  f.store.create({ id: "a2", workspaceId: "work-a" });
  f.store.update("a2", { status: "closed" });
  f.store.create({ id: "d1" });
  const out = f.store.deleteWorkspace("work-a");
  assertEquals(out, { moved: ["a1", "a2"], closed: ["a1"] });
  assertEquals(f.store.get("a1")?.status, "closed");
  assertEquals(f.store.get("a1")?.workspaceId, "default");
  assertEquals(f.store.get("d1")?.status, "idle");
  assertEquals(f.store.getWorkspace("work-a"), undefined);
  assertThrows(() => f.store.deleteWorkspace("work-a"), /does not exist/);
  const refused = assertThrows(() => f.store.deleteWorkspace("default"));
  assert(refused instanceof ConflictError);
  assert(assertThrows(() => f.store.deleteWorkspace("nobody")) instanceof NotFoundError);
});

Deno.test("workspaces persist across a reopen", async () => {
  await using f = await open();
  f.store.putWorkspace("keep", { title: "Keep me", defaultCwd: "/tmp" });
  const { store, storage } = f.reopen();
  try {
    assertEquals(store.getWorkspace("keep")?.title, "Keep me");
    assertEquals(store.getWorkspace("keep")?.defaultCwd, "/tmp");
  } finally {
    storage.closeAll();
  }
});

Deno.test("migration 2 adds workspaces for the conversations a version-1 database has", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-ws-mig-" });
  const storage = new SqliteStorage(dir);
  try {
    const db = storage.openDatabase("conversations");
    // A version-1 database: only the first migration's tables, and a conversation in a named workspace.
    db.exec(`CREATE TABLE conversations (
      id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'idle',
      created_at INTEGER NOT NULL, last_activity_at INTEGER NOT NULL,
      workspace_id TEXT NOT NULL DEFAULT 'default', cwd TEXT, model TEXT, reasoning_effort TEXT,
      settings TEXT NOT NULL DEFAULT '{}');
      CREATE TABLE turns (conversation_id TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'running',
      model TEXT, started_at INTEGER NOT NULL, ended_at INTEGER, usage TEXT, duration_ms INTEGER,
      context_size INTEGER, event_seq_base INTEGER NOT NULL DEFAULT 0, open_seq INTEGER,
      PRIMARY KEY (conversation_id, id));
      CREATE TABLE steps (conversation_id TEXT NOT NULL, turn_id TEXT NOT NULL, step_id TEXT NOT NULL,
      usage TEXT, ttft_ms REAL, decode_ms REAL, gen_total_ms REAL, PRIMARY KEY (conversation_id, turn_id, step_id));
      CREATE TABLE chunks (conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, turn_id TEXT, role TEXT NOT NULL,
      kind TEXT NOT NULL, chunk TEXT NOT NULL, PRIMARY KEY (conversation_id, seq));
      CREATE TABLE events (conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, turn_id TEXT, type TEXT NOT NULL,
      at INTEGER NOT NULL, event TEXT NOT NULL, PRIMARY KEY (conversation_id, seq)) WITHOUT ROWID;
      INSERT INTO conversations (id, created_at, last_activity_at, workspace_id) VALUES ('old', 5, 7, 'legacy');
      PRAGMA user_version = 1;`);
    const { store } = openConversationStore(db);
    assertEquals(db.prepare("PRAGMA user_version").get(), { user_version: SCHEMA_VERSION });
    assertEquals(store.getWorkspace("legacy")?.conversationCount, 1);
    assertEquals(store.getWorkspace("legacy")?.lastActivityAt, 7);
    assertEquals(store.getWorkspace("default")?.title, "default");
  } finally {
    storage.closeAll();
    await Deno.remove(dir, { recursive: true });
  }
});
