// `dispatch trace`: reads the trace store the collector fills (no daemon needed). Lists recent turns, shows
// one turn as a tree of spans with timings and token counts, and prints a provider exchange's request and
// response. Errors are one line and exit 1, like the rest of the CLI.
import { ConfigError, loadConfig } from "../config.ts";
import { databasePath } from "../../extensions/storage-sqlite/mod.ts";
import { openTraceStore, type SpanRow, TRACE_DATABASE } from "../../extensions/trace-store/mod.ts";
import type { CliIO } from "./main.ts";
import { failWith, parseSubcommand } from "./subcommand.ts";

export const TRACE_USAGE = `Usage: dispatch trace [--limit N] [--json]       recent turns
       dispatch trace TURN-ID [--json]            one turn as a tree of spans (an id prefix will do)
       dispatch trace exchange SPAN-ID            a provider call's request and response (JSON)`;

/** Runs `dispatch trace ...`; undefined when `args` is another command. */
export function runTraceCommand(args: string[], io: CliIO): number | undefined {
  if (args[0] !== "trace") return undefined;
  const fail = failWith(io);
  const parsed = parseSubcommand(
    args,
    {
      limit: { type: "string" },
      json: { type: "boolean" },
    },
    TRACE_USAGE,
    io,
  );
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    return fail(`--limit must be a whole number from 1 to 10000, got "${values.limit}"`);
  }
  if (positionals.length > 2 || (positionals.length === 2 && positionals[0] !== "exchange")) {
    return fail(`unexpected argument "${positionals.at(-1)}"; see dispatch trace --help`);
  }
  let dataDir;
  try {
    dataDir = loadConfig(io.env, io.cwd).dataDir;
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  try {
    Deno.statSync(databasePath(dataDir, TRACE_DATABASE));
  } catch {
    return fail(`no trace store in ${dataDir} (the collector has not run yet)`);
  }
  const store = openTraceStore(dataDir);
  try {
    if (positionals[0] === "exchange") {
      if (!positionals[1]) return fail("which exchange? dispatch trace exchange SPAN-ID");
      const exchange = store.exchange(positionals[1]);
      if (!exchange) return fail(`no provider call "${positionals[1]}" (or the prefix is not unique)`);
      io.out(JSON.stringify(exchange, null, 2) + "\n");
      return 0;
    }
    if (positionals.length === 0) {
      const turns = store.turns(limit);
      if (values.json) {
        io.out(JSON.stringify(turns) + "\n");
        return 0;
      }
      if (turns.length === 0) io.out("no turns traced yet\n");
      for (const t of turns) {
        io.out(
          [
            t.turnId,
            t.conversationId ?? "-",
            t.model ?? "-",
            ms(t.durationMs),
            `${t.inputTokens ?? 0} in / ${t.outputTokens ?? 0} out`,
            t.status,
            new Date(t.start).toISOString(),
          ].join("  ") + "\n",
        );
      }
      return 0;
    }
    const spans = store.spans(positionals[0]);
    if (spans.length === 0) return fail(`no turn "${positionals[0]}" in the trace store`);
    if (values.json) {
      io.out(JSON.stringify(spans) + "\n");
      return 0;
    }
    io.out(tree(spans));
    return 0;
  } finally {
    store.db.close();
  }
}

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)}s` : `${Math.round(value * 10) / 10}ms`;
}

/** The spans as an indented tree, children in start order, each with its duration and tokens. */
function tree(spans: SpanRow[]): string {
  const ids = new Set(spans.map((s) => s.id));
  const children = new Map<string | null, SpanRow[]>();
  for (const s of spans) {
    const parent = s.parentId && ids.has(s.parentId) ? s.parentId : null;
    children.set(parent, [...children.get(parent) ?? [], s]);
  }
  const t0 = Math.min(...spans.map((s) => s.start));
  let out = "";
  const walk = (parent: string | null, depth: number) => {
    for (const s of children.get(parent) ?? []) {
      const tokens = s.inputTokens !== null || s.outputTokens !== null
        ? `  ${s.inputTokens ?? 0} in / ${s.outputTokens ?? 0} out`
        : "";
      const extra = s.hasExchange ? `  [exchange ${s.id}]` : "";
      out +=
        `${"  ".repeat(depth)}${s.kind} ${s.name}  ${ms(s.durationMs)}  +${ms(s.start - t0)}  ${s.status}` +
        `${s.model && s.kind === "turn" ? `  ${s.model}` : ""}${tokens}${extra}\n`;
      walk(s.id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}
