// The daemon's log: one JSON object per line on stderr. Known secret values are masked as a last line of
// defence, whatever an extension puts in a message.
import type { LogLevel, LogRecord, LogSink } from "./kernel/mod.ts";
import { looksSecret } from "./secrets.ts";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function stderrSink(level: LogLevel, secrets: string[]): LogSink {
  const encoder = new TextEncoder();
  const mask = secretMasker(secrets);
  return {
    write(record: LogRecord) {
      if (RANK[record.level] < RANK[level]) return;
      Deno.stderr.writeSync(encoder.encode(mask(JSON.stringify(record)) + "\n"));
    },
  };
}

/** Replaces every known secret value (8 characters or more) in a line: the log's and the journal's masking. */
export function secretMasker(secrets: string[]): (line: string) => string {
  const masks = secrets.filter((s) => s.length >= 8);
  return (line) => {
    for (const secret of masks) line = line.replaceAll(secret, "[redacted]");
    return line;
  };
}

/** Values of variables that look secret (keys, tokens, passwords). */
export function secretValues(env: Record<string, string | undefined>): string[] {
  return Object.entries(env)
    .filter(([k, v]) => v && looksSecret(k))
    .map(([, v]) => v!);
}
