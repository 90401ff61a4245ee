// The trace store: spans and logs from the journal in SQLite, inserted idempotently (a record's journal id is
// its key), with provider bodies stored once by content hash, the collector's read position kept in the same
// transaction as what it read (so a crash between them cannot happen), and retention by age and size.
import type { SqlDatabase, SqlValue } from "../../src/kernel/mod.ts";
import type { JournalRecord, SpanRecord } from "../journal-sink/records.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS spans (
  id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, parent_id TEXT, kind TEXT NOT NULL, name TEXT NOT NULL,
  start_ms REAL NOT NULL, end_ms REAL NOT NULL, duration_ms REAL NOT NULL, status TEXT NOT NULL,
  conversation_id TEXT, turn_id TEXT, model TEXT, input_tokens INTEGER, output_tokens INTEGER,
  attrs TEXT, request_hash TEXT, response_hash TEXT, size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_trace ON spans (trace_id);
CREATE INDEX IF NOT EXISTS spans_kind_start ON spans (kind, start_ms);
CREATE TABLE IF NOT EXISTS logs (
  id TEXT PRIMARY KEY, time_ms REAL NOT NULL, level TEXT NOT NULL, msg TEXT NOT NULL, ext TEXT, fields TEXT,
  size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_time ON logs (time_ms);
CREATE TABLE IF NOT EXISTS bodies (hash TEXT PRIMARY KEY, content TEXT NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS positions (name TEXT PRIMARY KEY, file_seq INTEGER NOT NULL, offset INTEGER NOT NULL);
`;

export interface Position {
  fileSeq: number;
  offset: number;
}

export interface TurnSummary {
  turnId: string;
  conversationId: string | null;
  model: string | null;
  start: number;
  durationMs: number;
  inputTokens: number | null;
  outputTokens: number | null;
  status: string;
}

export interface SpanRow {
  id: string;
  parentId: string | null;
  kind: string;
  name: string;
  start: number;
  durationMs: number;
  status: string;
  model: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  attrs: Record<string, unknown>;
  hasExchange: boolean;
}

export interface Retention {
  /** Records older than this are deleted. */
  maxAgeMs: number;
  /** Past this many bytes of records and bodies, the oldest turns (and logs) are deleted. */
  maxBytes: number;
}

export const DEFAULT_RETENTION: Retention = { maxAgeMs: 14 * 86_400_000, maxBytes: 512 * 1024 * 1024 };

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export class TraceStore {
  constructor(readonly db: SqlDatabase) {
    db.exec(SCHEMA);
  }

  position(name = "journal"): Position {
    const row = this.db.prepare("SELECT file_seq, offset FROM positions WHERE name = ?").get(name);
    return row ? { fileSeq: Number(row.file_seq), offset: Number(row.offset) } : { fileSeq: 0, offset: 0 };
  }

  /**
   * Inserts `records` (those already stored are skipped) and moves the read position to `to`, atomically.
   * Returns how many were new.
   */
  async ingest(records: JournalRecord[], to: Position, name = "journal"): Promise<number> {
    const prepared = await Promise.all(records.map((r) => this.#prepare(r)));
    return this.db.transaction(() => {
      let inserted = 0;
      for (const p of prepared) {
        for (const body of p.bodies) {
          this.db.prepare("INSERT OR IGNORE INTO bodies (hash, content, size) VALUES (?, ?, ?)").run(
            body.hash,
            body.content,
            body.content.length,
          );
        }
        inserted += Number(this.db.prepare(p.sql).run(...p.params).changes);
      }
      this.db.prepare(
        "INSERT INTO positions (name, file_seq, offset) VALUES (?, ?, ?) " +
          "ON CONFLICT (name) DO UPDATE SET file_seq = excluded.file_seq, offset = excluded.offset",
      ).run(name, to.fileSeq, to.offset);
      return inserted;
    });
  }

  async #prepare(r: JournalRecord) {
    if (r.type === "log") {
      const fields = r.fields ? JSON.stringify(r.fields) : null;
      return {
        bodies: [],
        sql:
          "INSERT OR IGNORE INTO logs (id, time_ms, level, msg, ext, fields, size) VALUES (?, ?, ?, ?, ?, ?, ?)",
        params: [
          r.id,
          r.time,
          String(r.level),
          r.msg,
          r.ext ?? null,
          fields,
          r.msg.length + (fields?.length ?? 0),
        ],
      };
    }
    const bodies: { hash: string; content: string }[] = [];
    const body = async (value: unknown) => {
      if (value === undefined) return null;
      const content = JSON.stringify(value);
      const hash = await sha256(content);
      bodies.push({ hash, content });
      return hash;
    };
    const [requestHash, responseHash] = [await body(r.request), await body(r.response)];
    const attrs = r.attrs ? JSON.stringify(r.attrs) : null;
    const params: SqlValue[] = [
      r.id,
      r.traceId,
      r.parentId ?? null,
      r.kind,
      r.name,
      r.start,
      r.end,
      r.durationMs,
      r.status,
      r.conversationId ?? null,
      r.turnId ?? null,
      r.model ?? null,
      r.usage?.inputTokens ?? null,
      r.usage?.outputTokens ?? null,
      attrs,
      requestHash,
      responseHash,
      200 + (attrs?.length ?? 0),
    ];
    return {
      bodies,
      sql:
        "INSERT OR IGNORE INTO spans (id, trace_id, parent_id, kind, name, start_ms, end_ms, duration_ms, " +
        "status, conversation_id, turn_id, model, input_tokens, output_tokens, attrs, request_hash, " +
        "response_hash, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      params,
    };
  }

  /** The most recent turns, newest first. */
  turns(limit = 20): TurnSummary[] {
    return this.db.prepare(
      "SELECT * FROM spans WHERE kind = 'turn' ORDER BY start_ms DESC LIMIT ?",
    ).all(limit).map((r) => ({
      turnId: String(r.id),
      conversationId: r.conversation_id as string | null,
      model: r.model as string | null,
      start: Number(r.start_ms),
      durationMs: Number(r.duration_ms),
      inputTokens: r.input_tokens === null ? null : Number(r.input_tokens),
      outputTokens: r.output_tokens === null ? null : Number(r.output_tokens),
      status: String(r.status),
    }));
  }

  /** Every span of one turn (a turn id, or a unique prefix of one), oldest first; [] when unknown. */
  spans(turnId: string): SpanRow[] {
    const ids = this.db.prepare("SELECT id FROM spans WHERE kind = 'turn' AND id LIKE ? ESCAPE '\\' LIMIT 2")
      .all(`${turnId.replace(/[\\%_]/g, "\\$&")}%`);
    const id = ids.length === 1 ? String(ids[0].id) : turnId;
    return this.db.prepare("SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ms, id").all(id).map(
      toSpanRow,
    );
  }

  /** A provider span's request and response (a span id, or a unique prefix of one). */
  exchange(spanId: string): { spanId: string; request: unknown; response: unknown } | undefined {
    const rows = this.db.prepare(
      "SELECT id, request_hash, response_hash FROM spans WHERE id LIKE ? ESCAPE '\\' AND request_hash IS NOT NULL LIMIT 2",
    ).all(`${spanId.replace(/[\\%_]/g, "\\$&")}%`);
    if (rows.length !== 1) return undefined;
    const body = (hash: SqlValue) => {
      const row = hash === null
        ? undefined
        : this.db.prepare("SELECT content FROM bodies WHERE hash = ?").get(hash);
      return row ? JSON.parse(String(row.content)) : undefined;
    };
    return {
      spanId: String(rows[0].id),
      request: body(rows[0].request_hash),
      response: body(rows[0].response_hash),
    };
  }

  counts(): { spans: number; logs: number; bodies: number } {
    const n = (table: string) => Number(this.db.prepare(`SELECT count(*) AS n FROM ${table}`).get()!.n);
    return { spans: n("spans"), logs: n("logs"), bodies: n("bodies") };
  }

  /** Bytes of records and bodies stored (as counted at insertion). */
  size(): number {
    const n = (table: string) =>
      Number(this.db.prepare(`SELECT coalesce(sum(size), 0) AS n FROM ${table}`).get()!.n);
    return n("spans") + n("logs") + n("bodies");
  }

  /** Deletes what is past `retention` (whole traces, oldest first), then bodies nothing refers to. */
  prune(retention: Retention, now = Date.now()): { spans: number; logs: number; bodies: number } {
    return this.db.transaction(() => {
      const cutoff = now - retention.maxAgeMs;
      const before = this.counts();
      this.db.prepare(
        "DELETE FROM spans WHERE trace_id IN (SELECT trace_id FROM spans GROUP BY trace_id HAVING max(end_ms) < ?)",
      ).run(cutoff);
      this.db.prepare("DELETE FROM logs WHERE time_ms < ?").run(cutoff);
      this.#dropOrphanBodies();
      while (this.size() > retention.maxBytes) {
        const oldestTrace = this.db.prepare(
          "SELECT trace_id, min(start_ms) AS t FROM spans GROUP BY trace_id ORDER BY t LIMIT 1",
        ).get();
        const oldestLog = this.db.prepare("SELECT min(time_ms) AS t FROM logs").get();
        const traceT = oldestTrace ? Number(oldestTrace.t) : Infinity;
        const logT = oldestLog?.t === null || oldestLog === undefined ? Infinity : Number(oldestLog.t);
        if (traceT === Infinity && logT === Infinity) break;
        if (traceT <= logT) {
          this.db.prepare("DELETE FROM spans WHERE trace_id = ?").run(oldestTrace!.trace_id);
          this.db.prepare("DELETE FROM logs WHERE time_ms <= ?").run(traceT);
        } else {
          this.db.prepare("DELETE FROM logs WHERE time_ms <= ?").run(Math.min(logT + 60_000, traceT));
        }
        this.#dropOrphanBodies();
      }
      const after = this.counts();
      return {
        spans: before.spans - after.spans,
        logs: before.logs - after.logs,
        bodies: before.bodies - after.bodies,
      };
    });
  }

  #dropOrphanBodies(): void {
    this.db.exec(
      "DELETE FROM bodies WHERE hash NOT IN (SELECT request_hash FROM spans WHERE request_hash IS NOT NULL " +
        "UNION SELECT response_hash FROM spans WHERE response_hash IS NOT NULL)",
    );
  }
}

function toSpanRow(r: Record<string, SqlValue>): SpanRow {
  return {
    id: String(r.id),
    parentId: r.parent_id as string | null,
    kind: String(r.kind),
    name: String(r.name),
    start: Number(r.start_ms),
    durationMs: Number(r.duration_ms),
    status: String(r.status),
    model: r.model as string | null,
    inputTokens: r.input_tokens === null ? null : Number(r.input_tokens),
    outputTokens: r.output_tokens === null ? null : Number(r.output_tokens),
    attrs: r.attrs ? JSON.parse(String(r.attrs)) : {},
    hasExchange: r.request_hash !== null,
  };
}

export type { SpanRecord };
