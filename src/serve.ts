// `dispatch serve`: load config, boot every extension through the host, listen, and shut down cleanly.
import { ConfigError, loadConfig } from "./config.ts";
import { ExtensionHost } from "./kernel/mod.ts";
import { secretValues, stderrSink } from "./log.ts";
import { extensionEntries } from "./extensions.ts";
import { externalEntries } from "./extensions_external.ts";
import { HttpServerKey } from "../extensions/transport-http/api.ts";
import { OrchestratorKey } from "../extensions/session-orchestrator/api.ts";
import { Journal, journalSettings, journalSink, teeSink } from "../extensions/journal-sink/mod.ts";

export async function serve(): Promise<void> {
  const config = loadConfig();
  const graceMs = shutdownGraceMs(config.secrets); // a bad value stops the start, not the shutdown
  const journaling = journalSettings(config.secrets);
  const stderr = stderrSink(config.logLevel, secretValues(config.secrets));
  const journal = journaling.enabled
    ? new Journal(config.journalDir, { ...journaling, secrets: secretValues(config.secrets) })
    : undefined;
  const sink = journal
    ? teeSink(
      stderr,
      journalSink(journal, (dropped) =>
        stderr.write({
          time: Date.now(),
          level: "warn",
          msg: "journal not writable; records dropped",
          dropped,
        })),
    )
    : stderr;
  const host = new ExtensionHost({ sink, config: config.public });
  try {
    const entries = extensionEntries(config, {
      listExtensions: () => host.list(),
      journal,
      collector: journaling.collector,
    });
    const taken = new Set(entries.map((e) => e.manifest.id));
    await host.boot([...entries, ...await externalEntries(config, taken, host.log)]);
  } catch (error) {
    await host.shutdown(); // what did start (workers, databases) stops before the error is reported
    throw error;
  }
  for (const ext of host.list()) {
    if (ext.status === "failed") {
      host.log.warn("extension not loaded", { extension: ext.id, error: ext.error });
    }
  }

  const { hostname, port } = await host.services.require(HttpServerKey).listen();
  const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
  // Tests and scripts read this line to find the port (BACKEND_PORT=0 picks a free one).
  console.log(`dispatch listening on http://${shown}:${port}`);

  const signals = signalsOnce();
  const signal = await signals.next();
  await shutDown(host, graceMs, signal, signals.next());
  journal?.close();
  Deno.exit(0);
}

export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/** Aborting, sealing and closing after the grace period are quick; past this something hangs. */
const HARD_STOP_MS = 5_000;

/** DISPATCH_SHUTDOWN_GRACE_MS: how long running turns may take to finish after SIGTERM. */
export function shutdownGraceMs(env: Record<string, string | undefined>): number {
  const raw = env.DISPATCH_SHUTDOWN_GRACE_MS?.trim();
  if (!raw) return DEFAULT_SHUTDOWN_GRACE_MS;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new ConfigError(`DISPATCH_SHUTDOWN_GRACE_MS must be a whole number of milliseconds, got "${raw}"`);
  }
  return Number(raw);
}

/** SIGTERM and SIGINT as a sequence: the first starts the shutdown, a second cuts the grace period short. */
function signalsOnce(): { next(): Promise<string> } {
  let waiting = Promise.withResolvers<string>();
  for (const name of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(name, () => {
      const current = waiting;
      waiting = Promise.withResolvers<string>();
      current.resolve(name);
    });
  }
  return { next: () => waiting.promise };
}

/**
 * Graceful shutdown: running turns get `graceMs` (or until a second signal) to finish; then the rest are
 * aborted, which seals each with what it has so far, while their tools can still report; then every extension
 * stops (the WebSocket closes its sockets with 1001 going away, the HTTP server ends its connections).
 */
async function shutDown(host: ExtensionHost, graceMs: number, signal: string, again: Promise<string>) {
  const log = host.log;
  const hardStop = setTimeout(() => {
    log.error("shutdown hangs; exiting anyway", { afterMs: graceMs + HARD_STOP_MS });
    Deno.exit(1);
  }, graceMs + HARD_STOP_MS);
  const orchestrator = host.services.get(OrchestratorKey);
  log.info("shutting down", { signal, graceMs });
  if (orchestrator) {
    // Turns end first, while their tools still run, so each is stored as interrupted rather than failing its
    // tools; new turns get 503 shutting_down meanwhile.
    const drained = await orchestrator.drain(graceMs, again);
    log.info(drained.interrupted > 0 ? "running turns interrupted" : "running turns finished", {
      why: { finished: "finished", grace: "grace period over", "cut-short": "second signal" }[drained.ended],
      running: drained.running,
      interrupted: drained.interrupted,
    });
  }
  await host.shutdown();
  clearTimeout(hardStop);
  log.info("stopped", { signal });
}
