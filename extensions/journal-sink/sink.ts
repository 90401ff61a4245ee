// The journal as the kernel's log sink: every log record (all levels: the journal is for looking back), and
// the HTTP access log line as an `http` span. Another sink (stderr) gets the same records.
import type { LogRecord, LogSink } from "../../src/kernel/mod.ts";
import type { Journal } from "./journal.ts";
import type { SpanRecord } from "./records.ts";

export function journalSink(journal: Journal, onDrop?: (dropped: number) => void): LogSink {
  let reported = 0;
  const write = (record: object) => {
    if (journal.write(record) === undefined && journal.dropped > reported) {
      reported = journal.dropped;
      if (reported === 1 || reported % 1000 === 0) onDrop?.(reported);
    }
  };
  return {
    write(record: LogRecord) {
      const { time, level, msg, ext, ...fields } = record;
      write({ type: "log", time, level, msg, ...(ext ? { ext } : {}), fields });
      if (ext === "transport-http" && msg === "request") write(httpSpan(journal.nextId(), record));
    },
  };
}

function httpSpan(id: string, r: LogRecord): SpanRecord {
  const durationMs = typeof r.durationMs === "number" ? r.durationMs : 0;
  const status = typeof r.status === "number" ? r.status : 0;
  return {
    id,
    type: "span",
    kind: "http",
    name: `${r.method} ${r.path}`,
    traceId: id,
    start: r.time - durationMs,
    end: r.time,
    durationMs,
    status: status >= 500 ? "error" : "ok",
    ...(typeof r.conversationId === "string" ? { conversationId: r.conversationId } : {}),
    attrs: { "http.method": String(r.method), "http.path": String(r.path), "http.status": status },
  };
}

/** Several sinks as one (the journal and stderr). */
export function teeSink(...sinks: LogSink[]): LogSink {
  return { write: (record) => sinks.forEach((s) => s.write(record)) };
}
