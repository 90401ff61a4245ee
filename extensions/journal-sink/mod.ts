// journal-sink: the journal the daemon's log sink writes (journal.ts, sink.ts), and this extension, which adds
// the spans of every turn to it. The hook runs last (highest priority number), so it sees the request as sent.
import type { ExtensionContext, ExtensionModule } from "../../src/kernel/mod.ts";
import { PrepareStepHook } from "../../src/kernel/mod.ts";
import { SessionEvent } from "../session-orchestrator/api.ts";
import type { Journal } from "./journal.ts";
import { SpanBuilder } from "./spans.ts";

export { manifest } from "./manifest.ts";
export { Journal, journalFileName, journalFiles } from "./journal.ts";
export { journalSink, teeSink } from "./sink.ts";
export type { JournalRecord, LogEntry, SpanRecord } from "./records.ts";
export { parseRecord } from "./records.ts";
export { type JournalSettings, journalSettings } from "./settings.ts";

const LAST = Number.MAX_SAFE_INTEGER;

export function createJournalSpans(journal: Journal): ExtensionModule {
  return {
    activate(ctx: ExtensionContext) {
      const spans = new SpanBuilder(() => ctx.clock.now(), (span) => journal.write(span));
      const unhook = ctx.hooks.register(PrepareStepHook, (plan) => {
        spans.stepStarting(plan);
        return plan;
      }, { priority: LAST });
      const off = ctx.events.on(SessionEvent, ({ event }) => spans.event(event));
      return () => {
        unhook();
        off();
      };
    },
  };
}
