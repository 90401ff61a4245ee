// `dispatch collector`: the out-of-process collector the daemon supervises. It follows the journal into the
// trace store, prunes the store by age and size, optionally exports spans over OTLP/HTTP, and on SIGTERM
// reads what is left (drains) before it exits. `--supervised` (how the daemon starts it) also stops it when
// its standard input ends: the daemon holds the other end, so a daemon that dies, even by SIGKILL, leaves no
// collector behind.
import { loadConfig } from "../../src/config.ts";
import { DEFAULT_RETENTION, openTraceStore, type Retention } from "../trace-store/mod.ts";
import { collectOnce } from "./collector.ts";
import { otlpExporter } from "./otlp.ts";
import { journalSettings } from "../journal-sink/settings.ts";

const POLL_MS = 200;
const PRUNE_EVERY_MS = 10 * 60_000;

function log(level: string, msg: string, fields: Record<string, unknown> = {}) {
  console.error(JSON.stringify({ time: Date.now(), level, msg, ext: "observability-collector", ...fields }));
}

function whole(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d{1,15}$/.test(raw)) throw new Error(`${name} must be a whole number`);
  return Number(raw);
}

export function retentionFromEnv(env: Record<string, string | undefined>): Retention {
  return {
    maxAgeMs: whole(env, "DISPATCH_TRACE_MAX_AGE_MS", DEFAULT_RETENTION.maxAgeMs),
    maxBytes: whole(env, "DISPATCH_TRACE_MAX_BYTES", DEFAULT_RETENTION.maxBytes),
  };
}

export async function runCollector(args: string[]): Promise<number> {
  const config = loadConfig();
  const retention = retentionFromEnv(config.secrets);
  const { otlpEndpoint } = journalSettings(config.secrets);
  const store = openTraceStore(config.dataDir);
  const exporter = otlpEndpoint ? otlpExporter(otlpEndpoint) : undefined;
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  for (const name of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(name, stop);
  if (args.includes("--supervised")) {
    (async () => {
      for await (const _ of Deno.stdin.readable) { /* the daemon never writes; the end is what counts */ }
    })().catch(() => {}).finally(stop);
  }
  log("info", "collector started", { journalDir: config.journalDir, pid: Deno.pid });
  let prunedAt = 0;
  while (true) {
    const last = stopping; // one full pass after the signal: the drain
    try {
      const pass = await collectOnce(store, config.journalDir);
      if (pass.skippedFiles > 0) {
        log("warn", "journal files removed before they were read", { files: pass.skippedFiles });
      }
      if (exporter && pass.spans.length > 0) await exporter.export(pass.spans);
      if (Date.now() - prunedAt > PRUNE_EVERY_MS) {
        prunedAt = Date.now();
        store.prune(retention);
      }
    } catch (error) {
      log("error", "collector pass failed", { error: String(error) });
    }
    if (last) break;
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, POLL_MS);
    });
  }
  await exporter?.shutdown();
  store.db.close();
  log("info", "collector stopped");
  return 0;
}
