// trace-store: the SQLite database the collector fills and `dispatch trace` reads (traces.sqlite in the data
// directory). Not activated in the daemon: the collector process owns the writes.
import { databasePath, openSqlite } from "../storage-sqlite/mod.ts";
import { TraceStore } from "./store.ts";

export { DEFAULT_RETENTION, TraceStore } from "./store.ts";
export type { Position, Retention, SpanRow, TurnSummary } from "./store.ts";

export const TRACE_DATABASE = "traces";

export function openTraceStore(dataDir: string): TraceStore {
  Deno.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return new TraceStore(openSqlite(databasePath(dataDir, TRACE_DATABASE)));
}
