// The journal's record shapes: one definition, read by the collector, the trace store and the OTLP export.
import type { Usage } from "../../src/kernel/mod.ts";

export type SpanKind = "turn" | "step" | "provider" | "tool" | "http";

export interface SpanRecord {
  /** The span's id; the record's id too, so a span journaled twice is stored once. */
  id: string;
  type: "span";
  kind: SpanKind;
  name: string;
  /** The turn's id for a turn's spans; the span's own id for an HTTP request. */
  traceId: string;
  parentId?: string;
  /** Epoch milliseconds. */
  start: number;
  end: number;
  durationMs: number;
  status: string;
  conversationId?: string;
  turnId?: string;
  model?: string;
  usage?: Usage;
  attrs?: Record<string, string | number | boolean>;
  /** A provider call's request and response (large: the trace store keeps each body once, by hash). */
  request?: unknown;
  response?: unknown;
}

export interface LogEntry {
  id: string;
  type: "log";
  time: number;
  level: string;
  msg: string;
  ext?: string;
  fields?: Record<string, unknown>;
}

export type JournalRecord = SpanRecord | LogEntry;

/** A parsed journal line, or undefined when it is not one of ours (a torn or foreign line). */
export function parseRecord(line: string): JournalRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const r = value as Record<string, unknown>;
  if (typeof r.id !== "string" || r.id.length === 0) return undefined;
  if (r.type === "log" && typeof r.time === "number" && typeof r.msg === "string") {
    return r as unknown as LogEntry;
  }
  if (
    r.type === "span" && typeof r.kind === "string" && typeof r.start === "number" &&
    typeof r.end === "number" && typeof r.traceId === "string"
  ) return r as unknown as SpanRecord;
  return undefined;
}
