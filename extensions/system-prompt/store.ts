// The stored template: one row in the extension's own database (storage service), absent until a PUT.
import type { SqlDatabase } from "../../src/kernel/mod.ts";

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
];

export class TemplateStore {
  constructor(private readonly db: SqlDatabase) {
    db.transaction(() => {
      const found = Number(db.prepare("PRAGMA user_version").get()?.user_version ?? 0);
      if (found > MIGRATIONS.length) {
        throw new Error(
          `the system-prompt database is at schema version ${found}, newer than this build knows`,
        );
      }
      for (let v = found; v < MIGRATIONS.length; v++) {
        db.exec(MIGRATIONS[v]);
        db.exec(`PRAGMA user_version = ${v + 1}`);
      }
    });
  }

  /** The stored template, or undefined when none was ever stored. */
  get(): string | undefined {
    const row = this.db.prepare("SELECT value FROM settings WHERE key = 'template'").get();
    return row === undefined ? undefined : String(row.value);
  }

  set(template: string): void {
    this.db.prepare(
      "INSERT INTO settings (key, value) VALUES ('template', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ).run(template);
  }
}
