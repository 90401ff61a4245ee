// The daemon's log: one JSON object per line on stderr. Known secret values are masked as a last line of
// defence, whatever an extension puts in a message.
import type { LogLevel, LogRecord, LogSink } from "./kernel/mod.ts";
import { looksSecret } from "./secrets.ts";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function stderrSink(level: LogLevel, secrets: string[]): LogSink {
  const encoder = new TextEncoder();
  const masks = secrets.filter((s) => s.length >= 8);
  return {
    write(record: LogRecord) {
      if (RANK[record.level] < RANK[level]) return;
      let line = JSON.stringify(record);
      for (const secret of masks) line = line.replaceAll(secret, "[redacted]");
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    },
  };
}

/** Values of variables that look secret (keys, tokens, passwords). */
export function secretValues(env: Record<string, string | undefined>): string[] {
  return Object.entries(env)
    .filter(([k, v]) => v && looksSecret(k))
    .map(([, v]) => v!);
}
