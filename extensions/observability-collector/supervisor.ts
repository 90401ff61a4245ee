// The daemon's side of the collector: spawn `dispatch collector` (this same program), restart it when it
// exits with backoff, and on shutdown ask it to drain and wait (bounded). Nothing here throws into the daemon:
// a collector that cannot start is logged and retried.
import { selfCommand } from "../../src/build_layout.ts";
import type { Logger } from "../../src/kernel/mod.ts";

export interface SupervisorOptions {
  log: Logger;
  /** Directories the collector writes (the trace store's data dir, the journal's dir). */
  writable: string[];
  /** The command to run instead of this program's own `collector` (tests). */
  command?: { command: string; args: string[] };
  minBackoffMs?: number;
  maxBackoffMs?: number;
  drainMs?: number;
}

export interface Supervisor {
  /** The running collector's pid, if one runs. */
  readonly pid: number | undefined;
  readonly restarts: number;
  stop(): Promise<void>;
}

export function superviseCollector(opts: SupervisorOptions): Supervisor {
  const min = opts.minBackoffMs ?? 250;
  const max = opts.maxBackoffMs ?? 30_000;
  const drainMs = opts.drainMs ?? 5_000;
  const command = opts.command ?? selfCommand(["collector", "--supervised"], [
    "--allow-read",
    `--allow-write=${opts.writable.join(",")}`,
    "--allow-env",
    "--allow-net",
    "--allow-sys",
  ]);
  let child: Deno.ChildProcess | undefined;
  let stopping = false;
  let restarts = 0;
  let backoff = min;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = () => {
    timer = undefined;
    if (stopping) return;
    const startedAt = Date.now();
    try {
      child = new Deno.Command(command.command, {
        args: command.args,
        stdin: "piped", // held open, never written: its end tells the collector the daemon is gone
        stdout: "null",
        stderr: "inherit",
      }).spawn();
    } catch (error) {
      opts.log.warn("collector could not start", { error: String(error), retryInMs: backoff });
      schedule();
      return;
    }
    const pid = child.pid;
    opts.log.info("collector started", { pid });
    exited = child.status.then((status) => {
      child = undefined;
      if (stopping) return;
      if (Date.now() - startedAt > 60_000) backoff = min; // it ran a good while: a fresh failure
      opts.log.warn("collector exited; restarting", {
        pid,
        code: status.code,
        signal: status.signal,
        retryInMs: backoff,
      });
      schedule();
    }, () => {});
  };
  const schedule = () => {
    restarts++;
    timer = setTimeout(start, backoff);
    backoff = Math.min(backoff * 2, max);
  };
  start();

  return {
    get pid() {
      return child?.pid;
    },
    get restarts() {
      return restarts;
    },
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      const running = child;
      if (!running) return;
      try {
        running.kill("SIGTERM");
      } catch { /* gone */ }
      let hard: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        running.status,
        new Promise<void>((resolve) =>
          hard = setTimeout(() => {
            try {
              running.kill("SIGKILL");
            } catch { /* gone */ }
            resolve();
          }, drainMs)
        ),
      ]).catch(() => {});
      clearTimeout(hard);
      await exited;
    },
  };
}
