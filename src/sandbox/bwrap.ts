// Confinement with bubblewrap (Debian package `bubblewrap`): the argv that gives a process a filesystem view,
// no capabilities, its own user/PID/IPC/UTS namespaces and (optionally) no network; and a probe that tells
// whether bwrap can run here at all.
//
// Why these flags: bwrap started by root keeps every capability in the sandbox unless told otherwise, and a
// process with CAP_SYS_ADMIN in its namespace can `umount` a mask and read what lies under it. So capabilities
// are always dropped, and creating further user namespaces (where they would come back) is disabled unless a
// caller confines its own children. With its own PID namespace the sandbox's init is bwrap's child: when bwrap
// dies the kernel kills everything in the namespace, `setsid` or not; --die-with-parent kills bwrap when its
// parent dies (a daemon SIGKILL included).
//
// The environment is not part of the argv (argv is readable in /proc): callers pass it with Deno.Command's
// clearEnv + env.
import { dirname, isAbsolute, resolve } from "node:path";
import { isInside } from "../sdk/roots.ts";

export interface ConfinedView {
  /** "host": the whole filesystem read-only (shell commands, language servers, MCP servers);
   *  "minimal": only the system folders (/usr, /bin, /lib*, /etc, /sbin…, whatever exists) read-only. */
  base: "host" | "minimal";
  /** Extra paths bound read-only (missing ones skipped). */
  readOnly?: string[];
  /** Paths bound read-write (missing ones skipped). */
  writable?: string[];
  /** Protected paths hidden at their real paths (an empty unreadable tmpfs for folders, /dev/null for files),
   *  applied last, so they win even inside writable binds. Missing ones are skipped. */
  masked?: string[];
  /** Default true (the host's network is shared); false gives the process its own empty network namespace. */
  network?: boolean;
  /** Allow the confined process to create user namespaces itself (only for a process that confines its own
   *  children with bwrap). Default false → --disable-userns. */
  nestedUserns?: boolean;
  /** Working directory inside the view (--chdir). */
  cwd?: string;
}

export type BwrapProbe = { ok: true; version: string } | { ok: false; reason: string };

/** The program name, resolved through PATH like any command. */
export const BWRAP = "bwrap";

/** Folders of the "minimal" base, bound read-only when they exist (symlinks such as /bin → usr/bin kept). */
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"];

/** Folders the view replaces with its own: a host path below them is not visible unless bound explicitly. */
const FRESH_DIRS = ["/tmp", "/proc", "/dev"];

/**
 * The uid a nesting view maps the daemon's root to. The kernel refuses to let a process without CAP_SETFCAP
 * map uid 0 into a new user namespace, so a capability-less sandbox running as 0 could not start bwrap itself.
 */
const NESTING_UID = 1000;

/**
 * How /proc is provided. A fresh procfs shows only the sandbox's processes. Inside another bwrap the kernel
 * refuses a fresh procfs (the outer one has covered subfolders: "mount too revealing"); then the outer
 * sandbox's /proc is bound read-only: it lists the outer sandbox's processes (never the daemon's, which the
 * outer PID namespace hides), and their environ and memory stay unreadable across the user namespace boundary.
 * Set by probeBwrap.
 */
let procMode: "fresh" | "inherited" = "fresh";

/**
 * The bwrap argv for a view (without the leading "bwrap", ending with "--"; the command follows). Throws when
 * a path is not absolute or a masked path cannot be examined (never returns a view that would show it).
 */
export function bwrapArgs(view: ConfinedView): string[] {
  const args = [
    "--unshare-user",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
  ];
  if (!view.nestedUserns) args.push("--disable-userns");
  else if (currentUid() === 0) args.push("--uid", String(NESTING_UID), "--gid", String(NESTING_UID));
  if (view.network === false) args.push("--unshare-net");

  // Which host paths the view shows, for deciding which masks apply: the base (minus the folders the view
  // replaces with fresh ones) and the explicit binds.
  const base: string[] = [];
  const bound: string[] = [];
  if (view.base === "host") {
    args.push("--ro-bind", "/", "/");
    base.push("/");
  } else {
    // A caller inside a sandbox may not be allowed to look at them: then each is bound if it exists (a
    // symlink such as /bin → usr/bin becomes a bind of its target, which works the same).
    for (const dir of SYSTEM_DIRS) {
      let info: Deno.FileInfo | undefined;
      try {
        info = Deno.lstatSync(dir);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
      }
      const target = info?.isSymlink ? readLink(dir) : undefined;
      if (target) {
        args.push("--symlink", target, dir);
      } else {
        args.push("--ro-bind-try", dir, dir);
        base.push(dir);
      }
    }
  }
  // Before the binds, so a bound folder below /tmp stays visible on top of the fresh one.
  args.push("--dev", "/dev");
  if (procMode === "fresh") args.push("--proc", "/proc");
  else args.push("--ro-bind", "/proc", "/proc");
  args.push("--tmpfs", "/tmp");

  for (const path of realPaths(view.readOnly)) {
    args.push("--ro-bind", path, path);
    bound.push(path);
  }
  for (const path of realPaths(view.writable)) {
    args.push("--bind", path, path);
    bound.push(path);
  }
  const shown = (path: string) =>
    bound.some((root) => isInside(path, root)) ||
    (base.some((root) => isInside(path, root)) && !FRESH_DIRS.some((dir) => isInside(path, dir)));
  for (const path of maskForms(view.masked)) {
    if (!shown(path)) continue; // not in the view at all: nothing to hide, and no mount point to make
    const info = lstat(path, "strict");
    if (!info) continue;
    if (info.isDirectory) args.push("--perms", "0000", "--size", "4096", "--tmpfs", path);
    else args.push("--ro-bind", "/dev/null", path);
  }
  if (view.cwd) args.push("--chdir", view.cwd);
  args.push("--");
  return args;
}

/** Absolute real paths of the existing ones among `paths`, without repeats. */
function realPaths(paths: readonly string[] | undefined): string[] {
  const out = new Set<string>();
  for (const path of paths ?? []) {
    if (!isAbsolute(path)) throw new Error(`confined view: "${path}" is not an absolute path`);
    const real = realPath(path);
    if (real) out.add(real);
  }
  return [...out];
}

/**
 * Where each protected path must be masked: its real path, and the path as given when it differs and names
 * the file itself (not through a symbolic link: bwrap would follow that to the real path, already masked).
 */
function maskForms(paths: readonly string[] | undefined): string[] {
  const out = new Set<string>();
  for (const path of paths ?? []) {
    if (!isAbsolute(path)) throw new Error(`confined view: "${path}" is not an absolute path`);
  }
  const givenPaths = (paths ?? []).map((p) => resolve(p));
  for (const given of givenPaths) {
    // Inside another protected folder (the journal in the data directory): hidden with it, and in a view
    // where that folder is already masked it cannot even be examined.
    if (givenPaths.some((other) => other !== given && isInside(given, other))) continue;
    const real = realPath(given, "strict");
    if (!real) continue;
    out.add(real);
    if (real !== given && realPath(dirname(given)) === dirname(given) && !lstat(given)?.isSymlink) {
      out.add(given);
    }
  }
  return [...out];
}

/**
 * A path that cannot be examined is left out of a bind (less is visible), but for a mask that would leave a
 * protected path readable: "strict" makes anything but "does not exist" an error, so the caller fails closed.
 */
type Lookup = "lenient" | "strict";

function realPath(path: string, lookup: Lookup = "lenient"): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch (error) {
    return missing(path, error, lookup);
  }
}

function lstat(path: string, lookup: Lookup = "lenient"): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    return missing(path, error, lookup);
  }
}

function readLink(path: string): string | undefined {
  try {
    return Deno.readLinkSync(path);
  } catch {
    return undefined;
  }
}

function missing(path: string, error: unknown, lookup: Lookup): undefined {
  if (
    lookup === "lenient" || error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.NotADirectory
  ) {
    return undefined;
  }
  throw new Error(`cannot examine the protected path ${path} to hide it: ${(error as Error).message}`);
}

function currentUid(): number | null {
  try {
    return Deno.uid();
  } catch {
    return null; // not permitted to ask: assume not root
  }
}

const probes = new Map<string, Promise<BwrapProbe>>();

/**
 * Runs a trivial confined command once (cached per program) to see whether bwrap works here: a missing
 * package, a user namespace refused by AppArmor or by a container, a nested sandbox. The reason says what an
 * operator can do about it.
 */
export function probeBwrap(program: string = BWRAP): Promise<BwrapProbe> {
  let probe = probes.get(program);
  if (!probe) {
    probe = runProbe(program);
    probes.set(program, probe);
  }
  return probe;
}

async function runProbe(program: string): Promise<BwrapProbe> {
  const version = await run(program, ["--version"]);
  if (!version.ok) return { ok: false, reason: version.reason };
  const name = version.stdout.trim() || "bubblewrap";
  // The "host" base needs no look at the system folders, which a caller inside a sandbox may not read.
  const trial = () => run(program, [...bwrapArgs({ base: "host", network: false }), "true"]);
  let result = await trial();
  if (!result.ok && /mount proc/i.test(result.reason) && procMode === "fresh") {
    procMode = "inherited"; // inside another sandbox: see procMode
    result = await trial();
    if (!result.ok) procMode = "fresh";
  }
  if (!result.ok) {
    return { ok: false, reason: `${name} is installed but cannot confine here: ${result.reason}` };
  }
  return { ok: true, version: name };
}

type RunOutcome = { ok: true; stdout: string } | { ok: false; reason: string };

async function run(program: string, args: string[]): Promise<RunOutcome> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(program, {
      args,
      clearEnv: true,
      env: { PATH: hostPath() },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return {
        ok: false,
        reason: `${program} was not found on PATH; install the Debian package \`bubblewrap\``,
      };
    }
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      return { ok: false, reason: `not permitted to run ${program} (${(error as Error).message})` };
    }
    return { ok: false, reason: `${program} could not be started: ${(error as Error).message}` };
  }
  if (out.success) return { ok: true, stdout: new TextDecoder().decode(out.stdout) };
  const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join("; ");
  let reason = stderr || `exit code ${out.code}`;
  if (/user namespace|uid map|Operation not permitted|Permission denied|No space left/i.test(reason)) {
    reason += " (user namespaces are refused: check kernel.apparmor_restrict_unprivileged_userns," +
      " user.max_user_namespaces, or the container's seccomp profile)";
  }
  return { ok: false, reason };
}

function hostPath(): string {
  try {
    return Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
  } catch {
    return "/usr/local/bin:/usr/bin:/bin";
  }
}

/**
 * What runs first inside the sandbox: the command with stdin from /dev/null, and a watcher reading the
 * lifeline (bwrap's stdin, a pipe only the spawner writes to, and never does). The lifeline reaches EOF when
 * the spawner closes it or dies in any way, SIGKILL included: then every process in the sandbox is killed.
 * This does not depend on --die-with-parent, which bwrap cannot apply while it is still setting up (a
 * sandbox whose bwrap is killed in those first milliseconds keeps running), and a sandbox that starts after
 * its lifeline closed ends at once. The wrapper exits with the command's status; its own job messages go to
 * /dev/null.
 */
const LIFELINE_WRAPPER = [
  "exec 3<&0 </dev/null 4>&2 2>/dev/null",
  "{ cat <&3 >/dev/null; kill -KILL -1; } 4>&- & watcher=$!",
  "exec 3<&-",
  // A watcher that ended (killed by the command, say) ends the sandbox too.
  "trap 'kill -0 \"$watcher\" || { kill -KILL -1; exit 137; }' CHLD",
  '"$@" 2>&4 4>&- & command=$!',
  'while kill -0 "$command"; do wait "$command"; done',
  'wait "$command"',
].join("\n");

export interface ConfinedCommand {
  view: ConfinedView;
  /** The program (looked up on PATH inside the view) and its arguments. */
  argv: string[];
  /** The complete environment (nothing is inherited). */
  env: Record<string, string>;
  /** bwrap's own working directory (view.cwd sets the command's). */
  cwd?: string;
  stderr?: "piped" | "null";
}

export interface ConfinedChild {
  /** bwrap's pid (outside the sandbox). */
  readonly pid: number;
  readonly stdout: ReadableStream<Uint8Array>;
  /** null when `stderr: "null"`. */
  readonly stderr: ReadableStream<Uint8Array> | null;
  readonly status: Promise<Deno.CommandStatus>;
  /** Ends every process in the sandbox; resolves when bwrap has exited. */
  stop(): Promise<void>;
}

/** How long a stopped sandbox may take to end by its lifeline before bwrap is killed outright. */
export const STOP_GRACE_MS = 3000;

/** Runs `argv` confined (bash must be in the view: the wrapper above is a bash script). */
export function spawnConfined(cmd: ConfinedCommand): ConfinedChild {
  const child = new Deno.Command(BWRAP, {
    args: [...bwrapArgs(cmd.view), "bash", "-c", LIFELINE_WRAPPER, "dispatch-confined", ...cmd.argv],
    cwd: cmd.cwd,
    clearEnv: true,
    env: cmd.env,
    stdin: "piped",
    stdout: "piped",
    stderr: cmd.stderr ?? "piped",
  }).spawn();
  const lifeline = child.stdin.getWriter();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      await lifeline.close().catch(() => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((
        resolve,
      ) => (timer = setTimeout(() => resolve("late"), STOP_GRACE_MS)));
      const ended = await Promise.race([child.status, late]);
      clearTimeout(timer);
      if (ended === "late") {
        try {
          child.kill("SIGKILL");
        } catch {
          // gone meanwhile
        }
        await child.status;
      }
    })();
  // Once bwrap is gone the sandbox is ending anyway; release the lifeline so nothing holds it.
  child.status.then(() => lifeline.close().catch(() => {}));
  const stderr = cmd.stderr === "null" ? null : child.stderr;
  return { pid: child.pid, stdout: child.stdout, stderr, status: child.status, stop };
}
