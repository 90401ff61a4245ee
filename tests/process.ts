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
