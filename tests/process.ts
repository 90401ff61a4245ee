// Process state from /proc (Linux), for tests checking that a command left nothing running.

/** True while `pid` is a live (non-zombie) process. */
export async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Waits up to `ms` for `pid` to end; false when it is still alive then. */
export async function waitGone(pid: number, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!(await alive(pid))) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

/** Pids of live processes whose command line contains `marker` (e.g. a unique `sleep 1000.123456`). */
export async function processesWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    if (cmdline.includes(marker) && (await alive(Number(entry.name)))) pids.push(Number(entry.name));
  }
  return pids;
}

/** Waits up to `ms` until `test(pids with marker)` holds; false when it still does not then. */
export async function waitProcesses(
  marker: string,
  test: (pids: number[]) => boolean,
  ms = 3000,
): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (test(await processesWith(marker))) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A number for `sleep` that no other process has in its command line: `sleep ${sleepMarker()}`. */
export function sleepMarker(): string {
  return `1000.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
}
