// `dispatch serve`: load config, boot every extension through the host, listen, and shut down cleanly.
import { loadConfig } from "./config.ts";
import { ExtensionHost } from "./kernel/mod.ts";
import { secretValues, stderrSink } from "./log.ts";
import { extensionEntries } from "./extensions.ts";
import { HttpServerKey } from "../extensions/transport-http/api.ts";
import { OrchestratorKey } from "../extensions/session-orchestrator/api.ts";

export async function serve(): Promise<void> {
  const config = loadConfig();
  const sink = stderrSink(config.logLevel, secretValues(config.secrets));
  const host = new ExtensionHost({ sink, config: config.public });
  try {
    await host.boot(extensionEntries(config, { listExtensions: () => host.list() }));
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

  const stopped = Promise.withResolvers<string>();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => stopped.resolve(signal));
  }
  const signal = await stopped.promise;
  host.log.info("shutting down", { signal });
  // Turns end first, while their tools still run, so each is stored as aborted rather than failing its tools.
  await host.services.get(OrchestratorKey)?.stopAll();
  await host.shutdown();
  Deno.exit(0);
}
