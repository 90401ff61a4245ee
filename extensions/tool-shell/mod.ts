// run_shell: `bash -c command` in the conversation's working directory, output streamed live.
//
// Containment: the command runs as the daemon's user with a scrubbed environment (only SHELL_ENV_NAMES pass
// through, so the daemon's secrets in its environment do not), no stdin and no controlling terminal. Deno's
// sandbox permissions do not reach child processes, so where the machine allows a private mount namespace
// (`unshare`), the protected paths (data directory, env file) are covered up inside it; where it does not,
// the daemon logs a warning at start-up and the command can read whatever its user can.
import { z } from "zod";
import type { Deactivate, ExtensionContext } from "../../src/kernel/contracts.ts";
import { parseProtectedPaths } from "../../src/sdk/workspace.ts";
import { defineWorkspaceTool } from "../../src/sdk/workspace_tool.ts";
import { SHELL_ENV_NAMES } from "./env_names.ts";
import { probeUnshare, runCommand } from "./run.ts";

export { manifest } from "./manifest.ts";
export { runCommand } from "./run.ts";

export const DEFAULT_TIMEOUT_MS = 120_000;
export const MAX_TIMEOUT_MS = 600_000;
/** Characters of combined output kept in the result: the first and the last half of this. */
export const OUTPUT_LIMIT = 100_000;
/** Characters streamed live before live output stops. */
export const LIVE_LIMIT = 1_000_000;

const inputSchema = z.object({
  command: z.string().min(1).describe("The bash command line to run, e.g. `deno test -A 2>&1 | tail -n 50`."),
  timeoutMs: z.number().int().min(1).max(MAX_TIMEOUT_MS).optional().describe(
    `Milliseconds before the command is killed. Default ${DEFAULT_TIMEOUT_MS}, at most ${MAX_TIMEOUT_MS}.`,
  ),
});

const description = [
  "Run a bash command (`bash -c`) in the working directory and return its combined stdout and stderr,",
  "followed by `exit code N`. Output is streamed live while it runs; the result keeps at most",
  `${OUTPUT_LIMIT / 1000}K characters (start and end, with a marker where the middle was cut), so pipe`,
  "long output through head, tail or grep. There is no stdin and no terminal: use non-interactive flags.",
  `The command is killed after timeoutMs (default ${DEFAULT_TIMEOUT_MS / 1000} s, max ${
    MAX_TIMEOUT_MS / 1000
  } s)`,
  "or when the user stops the turn. Background processes (`&`) do not outlive the command: everything it",
  "started is killed when it ends. Each call is a fresh shell (cd and variables do not carry over).",
  "Prefer read_file, edit_file, grep and glob for reading and changing files.",
].join(" ");

/** Registers run_shell; deactivating kills every command still running (the daemon is shutting down). */
export async function activate(ctx: ExtensionContext): Promise<Deactivate> {
  const protectedPaths = parseProtectedPaths(ctx.config);
  const unshareFlags = protectedPaths.length > 0 ? await probeUnshare() : undefined;
  if (protectedPaths.length > 0 && !unshareFlags) {
    ctx.log.warn("run_shell cannot hide the data directory and env file from commands (no mount namespaces)");
  }
  const hide = unshareFlags ? { unshareFlags, paths: protectedPaths } : undefined;
  // The worker's environment does not change: read the allowed variables once.
  const env = shellEnv();
  const running = new Set<{ stop: AbortController; done: Promise<unknown> }>();
  ctx.tools.register(defineWorkspaceTool(ctx.config, {
    name: "run_shell",
    description,
    inputSchema,
    async execute(input, ws, tctx) {
      const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const stop = new AbortController();
      const done = runCommand({
        command: input.command,
        cwd: ws.cwd,
        timeoutMs,
        signal: AbortSignal.any([tctx.signal, stop.signal]),
        env,
        hide,
        onOutput: (data, stream) => tctx.emitOutput(data, stream),
        outputLimit: OUTPUT_LIMIT,
        liveLimit: LIVE_LIMIT,
      });
      const entry = { stop, done };
      running.add(entry);
      const result = await done.finally(() => running.delete(entry));
      const output = result.output === "" ? "(no output)\n" : result.output.replace(/\n?$/, "\n");
      switch (result.end.kind) {
        case "timeout":
          return { content: `${output}killed: timeout after ${timeoutMs}ms`, isError: true };
        case "aborted":
          return { content: `${output}aborted`, isError: true };
        case "exit": {
          const { code, signal } = result.end;
          const how = signal ? ` (killed by ${signal})` : "";
          return { content: `${output}exit code ${code}${how}`, isError: code !== 0 };
        }
      }
    },
  }));
  return async () => {
    for (const { stop } of running) stop.abort();
    await Promise.allSettled([...running].map((r) => r.done));
  };
}

/** The command's environment: the allowed names the daemon has, plus settings for running without a terminal. */
export function shellEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of SHELL_ENV_NAMES) {
    try {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    } catch {
      // not permitted in this sandbox: left out
    }
  }
  env.PATH ??= "/usr/local/bin:/usr/bin:/bin";
  env.TERM ??= "dumb";
  env.PAGER = "cat";
  env.GIT_PAGER = "cat";
  env.GIT_TERMINAL_PROMPT = "0";
  return env;
}
