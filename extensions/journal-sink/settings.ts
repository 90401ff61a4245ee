// The journal's settings: DISPATCH_JOURNAL=0 turns it (and the collector) off; DISPATCH_JOURNAL_MAX_BYTES and
// DISPATCH_JOURNAL_MAX_FILES bound each file and how many are kept; DISPATCH_COLLECTOR=0 keeps the journal but
// starts no collector (another process reads it, or nobody); DISPATCH_OTLP_ENDPOINT (an http(s) URL, e.g.
// http://127.0.0.1:4318/v1/traces) has the collector export the spans over OTLP/HTTP too (off when unset).
import { ConfigError } from "../../src/config.ts";
import { DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILES } from "./journal.ts";

export interface JournalSettings {
  enabled: boolean;
  collector: boolean;
  maxFileBytes: number;
  maxFiles: number;
  otlpEndpoint?: string;
}

const off = (v: string | undefined) => v === "0" || v === "false";

function whole(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  least: number,
): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d{1,12}$/.test(raw) || Number(raw) < least) {
    throw new ConfigError(`${name} must be a whole number, at least ${least}, got "${raw}"`);
  }
  return Number(raw);
}

export function journalSettings(env: Record<string, string | undefined>): JournalSettings {
  const enabled = !off(env.DISPATCH_JOURNAL?.trim());
  const otlpEndpoint = env.DISPATCH_OTLP_ENDPOINT?.trim() || undefined;
  if (otlpEndpoint !== undefined && (!/^https?:\/\//.test(otlpEndpoint) || !URL.canParse(otlpEndpoint))) {
    throw new ConfigError(`DISPATCH_OTLP_ENDPOINT must be an http(s) URL, got "${otlpEndpoint}"`);
  }
  return {
    enabled,
    collector: enabled && !off(env.DISPATCH_COLLECTOR?.trim()),
    maxFileBytes: whole(env, "DISPATCH_JOURNAL_MAX_BYTES", DEFAULT_MAX_FILE_BYTES, 4096),
    maxFiles: whole(env, "DISPATCH_JOURNAL_MAX_FILES", DEFAULT_MAX_FILES, 2),
    ...(otlpEndpoint ? { otlpEndpoint } : {}),
  };
}
