// The conversations database's schema, as numbered migrations tracked in `PRAGMA user_version`.
// Append new migrations; never edit one that has shipped.
import type { SqlDatabase } from "../../src/kernel/mod.ts";

const MIGRATIONS: readonly string[] = [
  // 1: conversations, turns, steps, the chunk history and the event log.
  `
  CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    title            TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'idle' CHECK (status IN ('active', 'idle', 'closed')),
    created_at       INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    workspace_id     TEXT NOT NULL DEFAULT 'default',
    cwd              TEXT,
    model            TEXT,
    reasoning_effort TEXT,
    settings         TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX conversations_by_activity ON conversations (last_activity_at DESC);

  CREATE TABLE turns (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'done', 'aborted', 'error', 'interrupted')),
    model           TEXT,
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    usage           TEXT,
    duration_ms     INTEGER,
    context_size    INTEGER,
    -- the conversation's last event seq when the turn began: all the turn's events come after it
    event_seq_base  INTEGER NOT NULL DEFAULT 0,
    -- seq of the text/thinking chunk the turn's deltas are streaming into, NULL when none is open
    open_seq        INTEGER,
    PRIMARY KEY (conversation_id, id)
  );
  CREATE INDEX turns_running ON turns (status) WHERE status = 'running';

  CREATE TABLE steps (
    conversation_id TEXT NOT NULL,
    turn_id         TEXT NOT NULL,
    step_id         TEXT NOT NULL,
    usage           TEXT,
    ttft_ms         REAL,
    decode_ms       REAL,
    gen_total_ms    REAL,
    PRIMARY KEY (conversation_id, turn_id, step_id),
    FOREIGN KEY (conversation_id, turn_id) REFERENCES turns (conversation_id, id) ON DELETE CASCADE
  );

  CREATE TABLE chunks (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    turn_id         TEXT,
    role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    kind            TEXT NOT NULL,
    chunk           TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
  );
  CREATE INDEX chunks_by_turn ON chunks (conversation_id, turn_id, seq);

  -- WITHOUT ROWID: one b-tree, so appending an event dirties one page (this is the hot path).
  CREATE TABLE events (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    turn_id         TEXT,
    type            TEXT NOT NULL,
    at              INTEGER NOT NULL,
    event           TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
  ) WITHOUT ROWID;
  `,
  // 2: workspaces (ids are slugs). "default" always exists; every workspace a conversation names gets a row.
  `
  CREATE TABLE workspaces (
    id               TEXT PRIMARY KEY,
    title            TEXT NOT NULL,
    default_cwd      TEXT,
    created_at       INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL
  );
  INSERT INTO workspaces (id, title, default_cwd, created_at, last_activity_at)
    VALUES ('default', 'default', NULL, 0, 0);
  INSERT OR IGNORE INTO workspaces (id, title, default_cwd, created_at, last_activity_at)
    SELECT workspace_id, workspace_id, NULL, MIN(created_at), MAX(last_activity_at)
    FROM conversations GROUP BY workspace_id;
  CREATE INDEX conversations_by_workspace ON conversations (workspace_id);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export class SchemaTooNewError extends Error {
  constructor(found: number) {
    super(
      `the conversations database is at schema version ${found}, newer than this build knows ` +
        `(${SCHEMA_VERSION}); refusing to open it rather than risk corrupting it`,
    );
    this.name = "SchemaTooNewError";
  }
}

/** Brings the database to SCHEMA_VERSION in one transaction. Returns the version it found. */
export function migrate(db: SqlDatabase): number {
  return db.transaction(() => {
    const found = Number(db.prepare("PRAGMA user_version").get()?.user_version ?? 0);
    if (found > SCHEMA_VERSION) throw new SchemaTooNewError(found);
    for (let v = found; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v]);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    }
    return found;
  });
}
