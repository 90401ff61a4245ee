// The optional OpenTelemetry export: the journal's spans, as the collector reads them, sent over OTLP/HTTP
// with the OpenTelemetry SDK's exporter (DISPATCH_OTLP_ENDPOINT; off when unset). Span and trace ids are
// derived from the journal's, so a parent exported later still links.
import { createHash } from "node:crypto";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import type { JournalRecord, SpanRecord } from "../journal-sink/records.ts";
import { DISPATCH_VERSION } from "../../src/build_layout.ts";

export interface SpanExporterLike {
  export(spans: JournalRecord[]): Promise<void>;
  shutdown(): Promise<void>;
}

const hex = (text: string, chars: number) => createHash("sha256").update(text).digest("hex").slice(0, chars);
const hr = (ms: number): [number, number] => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

function toOtel(r: SpanRecord, resource: ReadableSpan["resource"]): ReadableSpan {
  const traceId = hex(r.traceId, 32);
  const attributes: Record<string, string | number | boolean> = {
    "dispatch.kind": r.kind,
    ...(r.conversationId ? { "dispatch.conversation_id": r.conversationId } : {}),
    ...(r.turnId ? { "dispatch.turn_id": r.turnId } : {}),
    ...(r.model ? { "gen_ai.request.model": r.model } : {}),
    ...(r.usage
      ? {
        "gen_ai.usage.input_tokens": r.usage.inputTokens,
        "gen_ai.usage.output_tokens": r.usage.outputTokens,
      }
      : {}),
    ...r.attrs,
  };
  return {
    name: `${r.kind} ${r.name}`,
    kind: r.kind === "http" ? SpanKind.SERVER : r.kind === "provider" ? SpanKind.CLIENT : SpanKind.INTERNAL,
    spanContext: () => ({ traceId, spanId: hex(r.id, 16), traceFlags: 1 }),
    parentSpanContext: r.parentId ? { traceId, spanId: hex(r.parentId, 16), traceFlags: 1 } : undefined,
    startTime: hr(r.start),
    endTime: hr(r.end),
    duration: hr(r.durationMs),
    status: { code: r.status === "error" ? SpanStatusCode.ERROR : SpanStatusCode.OK },
    attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: { name: "dispatch", version: DISPATCH_VERSION },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** The exporter for `url` (DISPATCH_OTLP_ENDPOINT, checked by journal-sink's settings). */
export function otlpExporter(url: string): SpanExporterLike {
  const exporter = new OTLPTraceExporter({ url });
  const resource = resourceFromAttributes({
    "service.name": "dispatch",
    "service.version": DISPATCH_VERSION,
  });
  return {
    export: (records) =>
      new Promise<void>((resolve) => {
        const spans = records.filter((r): r is SpanRecord => r.type === "span").map((r) =>
          toOtel(r, resource)
        );
        // A failed export is dropped (the trace store has the spans); the collector goes on.
        exporter.export(spans, () => resolve());
      }),
    shutdown: () => exporter.shutdown(),
  };
}
