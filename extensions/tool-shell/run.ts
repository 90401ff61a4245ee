// Running one shell command, streaming its output, and making sure nothing it started outlives it.
//
// Confined (the default): `bwrap … bash -c command` (spawnConfined in src/sandbox/bwrap.ts). The command is
// in its own PID namespace, so when it ends, is stopped (stop, timeout) or the daemon dies (its lifeline pipe
// closes), every process in the namespace is killed, `setsid` and double forks included.
//
// Unconfined (only when the operator opted out): `bash -c command` in its own session and process group
// (`detached: true` makes Deno call setsid()); killing `-pgid` reaches every process still in the group. A
// process that leaves the group on purpose (setsid) escapes this.
//
// Either way there is no stdin and no controlling terminal (ssh/sudo prompts fail instead of hanging).
import { type ConfinedView, spawnConfined } from "../../src/sandbox/bwrap.ts";
import { HeadTailBuffer } from "../../src/sdk/text.ts";

export type RunEnd =
  | { kind: "exit"; code: number; signal: string | null }
  | { kind: "timeout" }
  | { kind: "aborted" };

export interface RunOptions {
  command: string;
  cwd: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** The child's complete environment (the daemon's is not inherited). */
  env: Record<string, string>;
  /** The filesystem view for the command under bubblewrap; undefined runs it unconfined (operator opt-out). */
  confine?: ConfinedView;
  /** Live output, in arrival order. */
  onOutput(data: string, stream: "stdout" | "stderr"): void;
  /** Characters of combined output kept for the result (head and tail). */
  outputLimit: number;
  /** Characters passed to onOutput before live streaming stops (the result still gets head and tail). */
  liveLimit: number;
}

export interface RunResult {
  output: string;
  truncated: boolean;
  end: RunEnd;
  pid?: number;
}

/** How long a process group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 500;
/** How long output is still read after the group is gone (a process that escaped it may hold the pipes). */
export const DRAIN_MS = 1000;
/** How long a killed command's process may take to go before the tool returns anyway. */
export const GIVE_UP_MS = 3000;

export async function runCommand(opts: RunOptions): Promise<RunResult> {
  if (opts.signal.aborted) return { output: "", truncated: false, end: { kind: "aborted" } };
  const child = opts.confine ? startConfined(opts, opts.confine) : startGroup(opts);
  const buffer = new HeadTailBuffer(opts.outputLimit);
  let live = 0;
  const emit = (text: string, stream: "stdout" | "stderr") => {
    try {
      opts.onOutput(text, stream);
    } catch {
      // a failing listener must not stop the pipes being drained (the command would block on a full pipe)
    }
  };
  const deliver = (text: string, stream: "stdout" | "stderr") => {
    buffer.push(text);
    if (live >= opts.liveLimit) return;
    const room = opts.liveLimit - live;
    live += text.length;
    if (text.length <= room) {
      emit(text, stream);
    } else {
      emit(text.slice(0, room), stream);
      emit(`\n[live output stops here; the result keeps the start and the end]\n`, "stderr");
    }
  };
  const readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr") => {
    const reader = stream.getReader();
    readers.push(reader);
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        if (text) deliver(text, name);
      }
    } catch {
      // cancelled or broken pipe: what was read is kept
    }
    const rest = decoder.decode();
    if (rest) deliver(rest, name);
  };
  const pumps = Promise.all([pump(child.stdout, "stdout"), pump(child.stderr, "stderr")]);

  let stopped: "timeout" | "aborted" | undefined;
  let stopping: Promise<void> = Promise.resolve();
  let giveUp = () => {};
  const gaveUp = new Promise<undefined>((resolve) => (giveUp = () => resolve(undefined)));
  const stop = (why: "timeout" | "aborted") => {
    if (stopped) return;
    stopped = why;
    stopping = (async () => {
      await child.stop();
      giveUp();
    })();
  };
  const deadline = setTimeout(() => stop("timeout"), opts.timeoutMs);
  const onAbort = () => stop("aborted");
  opts.signal.addEventListener("abort", onAbort, { once: true });

  let status: Deno.CommandStatus | undefined;
  try {
    status = await Promise.race([child.status, gaveUp]);
  } finally {
    clearTimeout(deadline);
    opts.signal.removeEventListener("abort", onAbort);
  }
  await stopping;
  if (!status) buffer.push("\n[the command's process could not be killed; it may still be running]\n");
  await child.cleanup();
  const drain = timer(DRAIN_MS);
  const drained = await Promise.race([pumps.then(() => true), drain.done.then(() => false)]);
  drain.cancel();
  if (!drained) {
    await Promise.all(readers.map((r) => r.cancel().catch(() => {})));
    await pumps;
    buffer.push("\n[output cut: a process that left the command's process group kept the output open]\n");
  }

  const end: RunEnd = status && !stopped
    ? { kind: "exit", code: status.code, signal: status.signal }
    : { kind: stopped ?? "aborted" };
  return { output: buffer.toString(), truncated: buffer.truncated, end, pid: child.pid };
}

/** A started command, however it is contained. */
interface Started {
  pid: number;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  status: Promise<Deno.CommandStatus>;
  /** Ends the command and everything it started; resolves when it is gone (or could not be killed). */
  stop(): Promise<void>;
  /** After the command ended: ends what it left behind. */
  cleanup(): Promise<void>;
}

/** Under bwrap: the sandbox ends with the command, and stop() ends the whole sandbox. */
function startConfined(opts: RunOptions, view: ConfinedView): Started {
  const child = spawnConfined({ view, argv: ["bash", "-c", opts.command], env: opts.env, cwd: opts.cwd });
  return {
    pid: child.pid,
    stdout: child.stdout,
    stderr: child.stderr!,
    status: child.status,
    stop: () => withGiveUp(child.stop(), child.status),
    cleanup: async () => {},
  };
}

/** Unconfined (the operator's opt-out): bash leading its own process group, which stop() and cleanup() kill. */
function startGroup(opts: RunOptions): Started {
  const child = new Deno.Command("bash", {
    args: ["-c", opts.command],
    cwd: opts.cwd,
    env: opts.env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const pgid = child.pid;
  return {
    pid: pgid,
    stdout: child.stdout,
    stderr: child.stderr,
    status: child.status,
    async stop() {
      await killGroup(pgid, "SIGTERM");
      const grace = timer(KILL_GRACE_MS);
      await Promise.race([child.status, grace.done]);
      grace.cancel();
      await killGroup(pgid, "SIGKILL");
      try {
        child.kill("SIGKILL"); // in case the group kill was not possible at all
      } catch {
        // already gone
      }
      await withGiveUp(Promise.resolve(), child.status);
    },
    // Whatever the command left behind in its group (background jobs) goes with it.
    cleanup: () => killGroup(pgid, "SIGKILL"),
  };
}

/** Waits for `done`, then for `status` at most GIVE_UP_MS: never hang the turn on a process that cannot be killed. */
async function withGiveUp(done: Promise<void>, status: Promise<unknown>): Promise<void> {
  const last = timer(GIVE_UP_MS);
  await Promise.race([done.then(() => status), last.done]);
  last.cancel();
}

let denoKillAllowed = true;

/**
 * Sends `signal` to every process in group `pgid`. Deno.kill needs unrestricted `run` permission; a sandbox
 * that only allows `bash` gets the same effect through bash's `kill` builtin. A gone group is not an error.
 */
export async function killGroup(pgid: number, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  if (denoKillAllowed) {
    try {
      Deno.kill(-pgid, signal);
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) {
        denoKillAllowed = false;
      } else {
        return; // ESRCH (the group is gone) or EPERM: nothing more to do
      }
    }
  }
  await new Deno.Command("bash", {
    args: ["-c", 'kill -s "$1" -- "-$2" 2>/dev/null', "bash", signal.slice(3), String(pgid)],
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output().catch(() => {});
}

function timer(ms: number): { done: Promise<void>; cancel(): void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<void>((resolve) => {
    id = setTimeout(resolve, ms);
  });
  return { done, cancel: () => clearTimeout(id) };
}
