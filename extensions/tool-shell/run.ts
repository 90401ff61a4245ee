// Running one shell command in its own process group, streaming its output, and making sure nothing it
// started outlives it: on completion, timeout or abort the whole group is killed.
//
// `detached: true` makes Deno call setsid() in the child, so bash leads a new session and process group
// (pgid = its pid) and has no controlling terminal (ssh/sudo prompts fail instead of hanging). Killing
// `-pgid` reaches every process still in the group, background jobs and their children included. A process
// that leaves the group on purpose (setsid, or a double fork into a new session) escapes this.
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
  /** How to hide protected paths from the command (a private mount namespace), when the machine allows it. */
  hide?: { unshareFlags: string[]; paths: string[] };
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

/**
 * Runs inside a private mount namespace before the command: an empty tmpfs over each protected folder and
 * /dev/null over each protected file, so neither the daemon's data nor its env file can be read, even through
 * a link. `unshare` execs (no fork), so the command keeps the process group that abort and timeout kill.
 */
const HIDE_SCRIPT = [
  'for p in "$@"; do',
  '  if [ -d "$p" ]; then mount -t tmpfs -o size=4k,mode=0 dispatch-hidden "$p" || exit 97',
  '  elif [ -e "$p" ]; then mount --bind /dev/null "$p" || exit 97; fi',
  "done",
  'c=$DISPATCH_SHELL_COMMAND; unset DISPATCH_SHELL_COMMAND; exec bash -c "$c"',
].join("\n");

/** The first `unshare` flag set that works here, or undefined (no mount namespaces: nothing can be hidden). */
export async function probeUnshare(): Promise<string[] | undefined> {
  const candidates = [
    ["--mount", "--user", "--map-current-user"],
    ["--mount", "--user", "--map-root-user"],
    ["--mount"],
  ];
  for (const flags of candidates) {
    try {
      const out = await new Deno.Command("unshare", {
        args: [
          ...flags,
          "--",
          "bash",
          "-c",
          "mount -t tmpfs none /tmp 2>/dev/null || mount -t tmpfs none /mnt",
        ],
        clearEnv: true,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      if (out.success) return flags;
    } catch {
      return undefined; // no unshare binary, or not permitted to run it
    }
  }
  return undefined;
}

export async function runCommand(opts: RunOptions): Promise<RunResult> {
  if (opts.signal.aborted) return { output: "", truncated: false, end: { kind: "aborted" } };
  const [program, args, env] = opts.hide && opts.hide.paths.length > 0
    ? ["unshare", [
      ...opts.hide.unshareFlags,
      "--",
      "bash",
      "-c",
      HIDE_SCRIPT,
      "dispatch-shell",
      ...opts.hide.paths,
    ], {
      ...opts.env,
      DISPATCH_SHELL_COMMAND: opts.command,
    }]
    : ["bash", ["-c", opts.command], opts.env];
  const child = new Deno.Command(program, {
    args,
    cwd: opts.cwd,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const pgid = child.pid;

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
      // Never hang the turn on a process that cannot be killed.
      const last = timer(GIVE_UP_MS);
      await Promise.race([child.status, last.done]);
      last.cancel();
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
  // Whatever the command left behind in its group (background jobs) goes with it.
  await killGroup(pgid, "SIGKILL");
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
  return { output: buffer.toString(), truncated: buffer.truncated, end, pid: pgid };
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
