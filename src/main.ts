// The one entry point: `dispatch serve` is the daemon, every other command is a client of it. Each command
// imports its code when chosen, so a sandbox host process (internal `sandbox-host`) loads only its own graph.
if (import.meta.main) {
  const [command] = Deno.args;
  if (command === "sandbox-host") {
    const { runSandboxHost } = await import("./sandbox/host_process.ts");
    await runSandboxHost();
  } else if (command === "read-manifest") {
    const { runManifestReader } = await import("./extensions_external_reader.ts");
    await runManifestReader(Deno.args[1] ?? "");
  } else if (command === "collector") {
    const { runCollector } = await import("../extensions/observability-collector/main.ts");
    Deno.exit(await runCollector(Deno.args.slice(1)));
  } else if (command === "serve") {
    const { serve } = await import("./serve.ts");
    const { ConfigError } = await import("./config.ts");
    const { BootError } = await import("./kernel/mod.ts");
    try {
      await serve();
    } catch (error) {
      if (error instanceof ConfigError || error instanceof BootError) {
        console.error(`dispatch: ${error.message}`);
        Deno.exit(1);
      }
      throw error;
    }
  } else {
    const { runCli } = await import("./cli/main.ts");
    const encoder = new TextEncoder();
    const code = await runCli(Deno.args, {
      out: (text) => Deno.stdout.writeSync(encoder.encode(text)),
      err: (text) => Deno.stderr.writeSync(encoder.encode(text)),
      env: Deno.env.toObject(),
      cwd: Deno.cwd(),
    });
    Deno.exit(code);
  }
}
