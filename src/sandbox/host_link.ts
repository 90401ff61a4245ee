// The daemon's end of one sandbox host process: spawns `dispatch sandbox-host` (src/sandbox/host_process.ts)
// under bubblewrap with a minimal view, and carries frames to and from it. Everything the view holds:
// - read-only: the system folders (bwrap's "minimal" base), the Deno executable and cache, the program's own
//   source and the extension's folder, plus the manifest's read grants;
// - read-write: the manifest's write grants;
// - masked at their real paths, even inside grants: the protected paths (data directory, env file);
// - the network only when the manifest grants net or run (the Worker's own Deno permissions still refuse it
//   net; the processes it may start, confined by their own bwrap, decide for themselves: run_shell shares it
//   unless DISPATCH_SHELL_NETWORK=off); nested user namespaces only when it grants run (run_shell confines
//   its own commands with bwrap).
// The environment is scrubbed to what the manifest's env grant lists plus what Deno needs; the V8 heap is
// capped and the process exits when its resident memory passes a limit.
import { fileURLToPath } from "node:url";
import { denoCacheDir, programPaths, selfCommand } from "../build_layout.ts";
import { BWRAP, bwrapArgs, type ConfinedView } from "./bwrap.ts";
import { encodeFrame, FrameWriter, MAX_FRAME_BYTES, readFrames } from "./frames.ts";
import { type BootMessage, describeError, type HostMessage } from "./protocol.ts";
import { hostFlags } from "./permissions.ts";

export interface HostLimits {
  /** V8 old-space cap of the host process, in MiB. */
  heapMb: number;
  /** Resident memory at which the host process exits, in bytes (array buffers live outside the V8 heap). */
  rssLimitBytes: number;
}

export const DEFAULT_LIMITS: HostLimits = { heapMb: 512, rssLimitBytes: 1024 * 1024 * 1024 };

export interface HostSpec {
  id: string;
  /** The extension's folder, absolute and real. */
  folder: string;
  /** The Worker's permissions (workerPermissions), which the host process's own are derived from. */
  permissions: Deno.PermissionOptionsObject;
  /** Absolute paths hidden from the view. */
  protectedPaths: string[];
  /** false: no bubblewrap (the operator opted out); the host process then sees what the daemon sees. */
  confined: boolean;
  limits: HostLimits;
}

export interface HostEvents {
  onMessages(messages: unknown[]): void;
  /** The process is gone (or its stream broke); `why` describes how. Called once. */
  onExit(why: string): void;
  onStderr(line: string): void;
}

/** Harmless HOME for a host process whose manifest does not grant HOME: nothing is there. */
const EMPTY_HOME = "/nonexistent";
const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";
const STDERR_TAIL = 2000;
/** How long a killed host process has to exit on its closed input before SIGKILL, once it runs. */
const KILL_GRACE_MS = 500;
/** The same before it sent anything (bwrap may still be setting up): it exits on its input once it runs. */
const SETUP_KILL_MS = 15_000;
/** How long its output may stay open after it exited (held by a descendant) before it is no longer read. */
const STREAM_GRACE_MS = 1000;

export class HostLink {
  #child: Deno.ChildProcess;
  #writer: FrameWriter;
  #exited = false;
  #killed = "";
  #killTimer?: ReturnType<typeof setTimeout>;
  #running = false;
  #stderrTail = "";
  /** Ends the stream readers once the process is gone (a descendant could hold the pipes open). */
  #streams = new AbortController();
  readonly done: Promise<void>;

  private constructor(child: Deno.ChildProcess, events: HostEvents) {
    this.#child = child;
    this.#writer = new FrameWriter(
      child.stdin,
      (error) => this.kill(`stopped taking messages (${describeError(error)})`),
    );
    const reading = readFrames(
      child.stdout,
      (messages) => {
        if (!this.#running) this.#setUp();
        if (!this.#exited && !this.#killed) events.onMessages(messages);
      },
      MAX_FRAME_BYTES,
      this.#streams.signal,
    ).catch((error) => {
      this.kill(`sent a malformed message stream (${describeError(error)})`);
    });
    const stderr = this.#readStderr(events.onStderr);
    this.done = (async () => {
      const status = await child.status;
      clearTimeout(this.#killTimer);
      const drained = Promise.all([reading, stderr]);
      let grace: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([drained, new Promise((r) => grace = setTimeout(r, STREAM_GRACE_MS))]);
      clearTimeout(grace);
      this.#streams.abort();
      await drained;
      this.#exited = true;
      events.onExit(this.#describe(status));
    })();
  }

  static spawn(spec: HostSpec, events: HostEvents): HostLink {
    const { command, args, env } = hostCommand(spec);
    const child = new Deno.Command(command, {
      args,
      env,
      clearEnv: true,
      cwd: spec.folder,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const link = new HostLink(child, events);
    const boot: BootMessage = {
      t: "boot",
      permissions: spec.permissions,
      name: `sandbox:${spec.id}`,
      rssLimitBytes: spec.limits.rssLimitBytes,
    };
    link.send(boot);
    return link;
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Sends one message; throws (TypeError: not JSON, FrameError: too big) without sending anything. */
  send(msg: HostMessage | BootMessage): void {
    this.#writer.write(encodeFrame(msg));
  }

  /**
   * Ends the process; `why` becomes the exit reason. Its input closes first: the host process's own thread
   * exits on that, whatever its Worker does. SIGKILL follows if it has not gone by then; under bwrap that kills
   * its whole PID namespace, but only once bwrap has set up (killed during set-up, bwrap can leave its child
   * behind), so before the host's first frame the wait is longer.
   */
  kill(why: string): void {
    if (this.#exited || this.#killed) return;
    this.#killed = why;
    void this.#writer.close();
    this.#armKill(this.#running ? KILL_GRACE_MS : SETUP_KILL_MS);
  }

  /** Its first frame: bubblewrap's set-up is over, so killing it now takes everything inside with it. */
  #setUp(): void {
    this.#running = true;
    if (this.#killed) this.#armKill(KILL_GRACE_MS);
  }

  #armKill(ms: number): void {
    clearTimeout(this.#killTimer);
    this.#killTimer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, ms);
  }

  /** Closes its input: the host process ends its Worker and exits by itself. */
  async close(): Promise<void> {
    await this.#writer.close();
  }

  #describe(status: Deno.CommandStatus): string {
    if (this.#killed) return this.#killed;
    const tail = this.#stderrTail.trim();
    if (/out of memory|heap limit/i.test(tail)) return "ran out of memory (V8 heap limit)";
    const how = status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
    return tail ? `${how}: ${tail.split("\n").slice(-3).join(" | ")}` : how;
  }

  async #readStderr(onLine: (line: string) => void): Promise<void> {
    let partial = "";
    const reader = this.#child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    this.#streams.signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
    for (;;) {
      const { done, value: text } = await reader.read();
      if (done) break;
      this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL);
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) onLine(line);
    }
    if (partial.trim()) onLine(partial);
  }
}

/** The command line and environment of one host process. */
export function hostCommand(
  spec: HostSpec,
): { command: string; args: string[]; env: Record<string, string> } {
  const program = programPaths();
  const denoDir = denoCacheDir();
  const flags = [
    "--cached-only", // nothing is fetched: the daemon's cache has every module the program needs
    "--no-prompt",
    ...hostFlags(spec.permissions, program),
  ];
  const self = selfCommand(["sandbox-host"], flags);
  const env = hostEnv(spec, denoDir);
  if (!spec.confined) return { ...self, env };
  const p = spec.permissions;
  const view: ConfinedView = {
    base: "minimal",
    readOnly: [
      Deno.execPath(),
      ...(denoDir ? [denoDir] : []),
      ...program,
      spec.folder,
      ...paths(p.read),
    ],
    writable: paths(p.write),
    masked: spec.protectedPaths,
    network: granted(p.net) || granted(p.run),
    nestedUserns: granted(p.run),
    cwd: spec.folder,
  };
  // A `true` grant cannot be narrowed to a list of paths: the whole system, read-only, protected paths masked.
  if (p.read === true) view.base = "host";
  if (p.write === true) view.writable = ["/"];
  return { command: BWRAP, args: [...bwrapArgs(view), self.command, ...self.args], env };
}

function granted(grant: boolean | "inherit" | readonly unknown[] | undefined): boolean {
  return grant !== false && grant !== undefined && !(Array.isArray(grant) && grant.length === 0);
}

/** The paths of a read or write grant given as a list (the worker permissions hold absolute paths only). */
function paths(grant: Deno.PermissionOptionsObject["read"]): string[] {
  return Array.isArray(grant) ? grant.map((p) => p instanceof URL ? fileURLToPath(p) : p) : [];
}

function hostEnv(spec: HostSpec, denoDir: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  const granted = Array.isArray(spec.permissions.env) ? spec.permissions.env.map(String) : [];
  for (const name of granted) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  env.HOME ??= EMPTY_HOME;
  env.PATH ??= DEFAULT_PATH;
  if (denoDir) env.DENO_DIR = denoDir;
  env.DENO_V8_FLAGS = `--max-old-space-size=${spec.limits.heapMb}`;
  env.NO_COLOR = "1";
  return env;
}
