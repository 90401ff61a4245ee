// run_shell: `bash -c command` in the conversation's working directory, output streamed live.
//
// Containment: every command runs under bubblewrap (src/sandbox/bwrap.ts): the whole filesystem read-only,
// the working directory and the workspace roots writable, the protected paths (data directory, env file)
// masked even inside them, no capabilities, no further user namespaces, its own PID namespace (nothing it
// starts outlives it), the network shared unless DISPATCH_SHELL_NETWORK=off. Its environment is scrubbed
// (only SHELL_ENV_NAMES pass through), with no stdin and no controlling terminal.
//
// bwrap is probed at activation. When it cannot run, run_shell fails closed: every call returns one error
// naming the package and the reason. Only DISPATCH_UNCONFINED_SHELL=1 runs commands without it (as the
// daemon's user, in a process group), and the start-up log says so.
import type { Deactivate, ExtensionContext } from "../../src/kernel/contracts.ts";
import { type ConfinedView, probeBwrap } from "../../src/sandbox/bwrap.ts";
import { workspaceRoots } from "../../src/sdk/roots.ts";
import { parseProtectedPaths } from "../../src/sdk/workspace.ts";
import { defineWorkspaceTool } from "../../src/sdk/workspace_tool.ts";
import { SHELL_ENV_NAMES } from "./env_names.ts";
import { runCommand } from "./run.ts";
import { DEFAULT_TIMEOUT_MS, description, inputSchema, NAME, OUTPUT_LIMIT } from "./tool_spec.ts";

export { manifest } from "./manifest.ts";
export { DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, OUTPUT_LIMIT } from "./tool_spec.ts";
export { runCommand } from "./run.ts";

/** Config: "off" gives commands their own empty network namespace; "on" (the default) shares the host's. */
export const SHELL_NETWORK_KEY = "DISPATCH_SHELL_NETWORK";
/** Config: "1" runs commands without bubblewrap (the operator's explicit opt-out; never a fallback). */
export const UNCONFINED_KEY = "DISPATCH_UNCONFINED_SHELL";

/** Characters streamed live before live output stops. */
export const LIVE_LIMIT = 1_000_000;

/** Registers run_shell; deactivating kills every command still running (the daemon is shutting down). */
export async function activate(ctx: ExtensionContext): Promise<Deactivate> {
  const protectedPaths = parseProtectedPaths(ctx.config);
  const roots = workspaceRoots(ctx.config);
  const network = setting(ctx.config, SHELL_NETWORK_KEY, { on: true, off: false }, true);
  const unconfined = setting(
    ctx.config,
    UNCONFINED_KEY,
    { "1": true, true: true, "0": false, false: false },
    false,
  );
  let refusal: string | undefined;
  if (unconfined) {
    ctx.log.warn(
      `run_shell is UNCONFINED (${UNCONFINED_KEY}=1): commands run without bubblewrap, with every right of the ` +
        "daemon's user, and can read the data directory and the env file",
    );
  } else {
    const probe = await probeBwrap();
    if (probe.ok) {
      ctx.log.info(`run_shell confines commands with ${probe.version}${network ? "" : "; network cut"}`);
    } else {
      refusal =
        `run_shell is unavailable: commands run only under bubblewrap (Debian package \`bubblewrap\`), ` +
        `and it cannot run here: ${probe.reason}. The operator can install it, or set ${UNCONFINED_KEY}=1 ` +
        "to run commands unconfined.";
      ctx.log.warn(refusal);
    }
  }
  // The worker's environment does not change: read the allowed variables once.
  const env = shellEnv();
  if (!unconfined) env.TMPDIR = "/tmp"; // the view's own, empty /tmp
  const viewFor = (cwd: string, realCwd: string): ConfinedView => ({
    base: "host",
    writable: [realCwd, ...roots],
    masked: protectedPaths,
    network,
    cwd,
  });
  const running = new Set<{ stop: AbortController; done: Promise<unknown> }>();
  ctx.tools.register(defineWorkspaceTool(ctx.config, {
    name: NAME,
    description,
    inputSchema,
    async execute(input, ws, tctx) {
      if (refusal) return { content: refusal, isError: true };
      const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const stop = new AbortController();
      const done = runCommand({
        command: input.command,
        cwd: ws.cwd,
        timeoutMs,
        signal: AbortSignal.any([tctx.signal, stop.signal]),
        env,
        confine: unconfined ? undefined : viewFor(ws.cwd, ws.root),
        onOutput: (data, stream) => tctx.emitOutput(data, stream),
        outputLimit: OUTPUT_LIMIT,
        liveLimit: LIVE_LIMIT,
      });
      const entry = { stop, done };
      running.add(entry);
      let result;
      try {
        result = await done.finally(() => running.delete(entry));
      } catch (error) {
        // The view could not be built, or bwrap vanished since the probe: nothing ran.
        return {
          content: `run_shell could not confine the command: ${(error as Error).message}`,
          isError: true,
        };
      }
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

/** A setting's value from config, one of `values`' keys; anything else fails activation with a clear message. */
function setting<T>(
  config: Readonly<Record<string, string>>,
  key: string,
  values: Record<string, T>,
  fallback: T,
): T {
  const raw = config[key]?.trim();
  if (!raw) return fallback;
  if (!Object.hasOwn(values, raw)) {
    throw new Error(`${key} must be ${Object.keys(values).join(" or ")}, not "${raw}"`);
  }
  return values[raw];
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
