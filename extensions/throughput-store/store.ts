// Throughput samples on their own database: one row per finished turn, aggregated per model over a window
// computed in the daemon's local time zone (a day, the ISO week holding a date, or a month).
import { type Clock, invalid, type SqlDatabase } from "../../src/kernel/mod.ts";
import type { ThroughputPeriod, ThroughputReport, ThroughputSample, ThroughputStore } from "./api.ts";

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE samples (
    id            INTEGER PRIMARY KEY,
    model         TEXT NOT NULL,
    at            INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    gen_ms        REAL NOT NULL
  );
  CREATE INDEX samples_by_time ON samples (at);
  `,
];

export function migrate(db: SqlDatabase): void {
  db.transaction(() => {
    const found = Number(db.prepare("PRAGMA user_version").get()?.user_version ?? 0);
    if (found > MIGRATIONS.length) {
      throw new Error(`the throughput database is at schema version ${found}, newer than this build knows`);
    }
    for (let v = found; v < MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v]);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    }
  });
}

export class SqliteThroughputStore implements ThroughputStore {
  constructor(private readonly db: SqlDatabase, private readonly clock: Clock = { now: () => Date.now() }) {
    migrate(db);
  }

  record(sample: ThroughputSample): void {
    const ok = (n: number) => Number.isFinite(n) && n >= 0;
    if (!sample.model || !ok(sample.at) || !ok(sample.outputTokens) || !ok(sample.genMs)) return;
    this.db.prepare("INSERT INTO samples (model, at, output_tokens, gen_ms) VALUES (?, ?, ?, ?)")
      .run(sample.model, Math.round(sample.at), Math.round(sample.outputTokens), sample.genMs);
  }

  aggregate(query: { period: ThroughputPeriod; date?: string }): ThroughputReport {
    const { date, start, end } = periodWindow(query.period, query.date, new Date(this.clock.now()));
    const rows = this.db.prepare(
      `SELECT model, SUM(output_tokens) AS tokens, SUM(gen_ms) AS ms, COUNT(*) AS turns FROM samples
        WHERE at >= ? AND at < ? GROUP BY model`,
    ).all(start, end);
    const models = rows.map((r) => {
      const tokens = Number(r.tokens);
      const ms = Number(r.ms);
      return {
        model: String(r.model),
        tokensPerSecond: ms > 0 ? Math.round((tokens / (ms / 1000)) * 100) / 100 : 0,
        totalOutputTokens: tokens,
        totalGenMs: Math.round(ms),
        turns: Number(r.turns),
      };
    }).sort((a, b) => b.tokensPerSecond - a.tokensPerSecond || a.model.localeCompare(b.model));
    return { period: query.period, date, start, end, models };
  }
}

const pad = (n: number) => String(n).padStart(2, "0");

/**
 * The `[start, end)` window of a period in local time. `date` is `YYYY-MM-DD` (day, week) or `YYYY-MM` (month;
 * a full date names its month); omitted, it is today's.
 */
export function periodWindow(
  period: ThroughputPeriod,
  date: string | undefined,
  now: Date,
): { date: string; start: number; end: number } {
  let y = now.getFullYear(), m = now.getMonth() + 1, d = now.getDate();
  if (date !== undefined) {
    const match = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(date);
    if (!match || (match[3] === undefined && period !== "month")) {
      throw invalid(
        "invalid_date",
        `date must be ${period === "month" ? "YYYY-MM" : "YYYY-MM-DD"} for period=${period}, got "${date}"`,
      );
    }
    [y, m, d] = [Number(match[1]), Number(match[2]), match[3] === undefined ? 1 : Number(match[3])];
    const probe = new Date(y, m - 1, d);
    if (y < 1970 || probe.getFullYear() !== y || probe.getMonth() !== m - 1 || probe.getDate() !== d) {
      throw invalid("invalid_date", `"${date}" is not a calendar date`);
    }
  }
  switch (period) {
    case "day":
      return {
        date: `${y}-${pad(m)}-${pad(d)}`,
        start: +new Date(y, m - 1, d),
        end: +new Date(y, m - 1, d + 1),
      };
    case "week": {
      const monday = d - ((new Date(y, m - 1, d).getDay() + 6) % 7);
      return {
        date: `${y}-${pad(m)}-${pad(d)}`,
        start: +new Date(y, m - 1, monday),
        end: +new Date(y, m - 1, monday + 7),
      };
    }
    case "month":
      return { date: `${y}-${pad(m)}`, start: +new Date(y, m - 1, 1), end: +new Date(y, m, 1) };
  }
}
