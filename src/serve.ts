// `dispatch serve`: load config, boot every extension through the host, listen, and shut down cleanly.
import { loadConfig } from "./config.ts";
import { ExtensionHost } from "./kernel/mod.ts";
import { secretValues, stderrSink } from "./log.ts";
import { extensionEntries } from "./extensions.ts";
import { HttpServerKey } from "../extensions/transport-http/api.ts";

export async function serve(): Promise<void> {
  const config = loadConfig();
  const sink = stderrSink(config.logLevel, secretValues(config.secrets));
  const host = new ExtensionHost({ sink, config: config.public });
  await host.boot(extensionEntries(config, { listExtensions: () => host.list() }));
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
  await host.shutdown();
  Deno.exit(0);
}
