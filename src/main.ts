// The one entry point: `dispatch serve` is the daemon, every other command is a client of it.
import { runCli } from "./cli/main.ts";
import { ConfigError } from "./config.ts";
import { serve } from "./serve.ts";
import { BootError } from "./kernel/mod.ts";

if (import.meta.main) {
  const [command] = Deno.args;
  if (command === "serve") {
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
