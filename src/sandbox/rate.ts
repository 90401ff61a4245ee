// Token buckets for the bridge's chatty message kinds (logs, events, live output): a sandbox may burst, but a
// flood is dropped and counted instead of queueing work on the other side.

export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now = Date.now,
  ) {
    this.#tokens = burst;
    this.#at = now();
  }

  take(): boolean {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#at) / 1000) * this.perSecond);
    this.#at = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** What a sandbox may send of each chatter kind, per second and in a burst (live output gets four times this). */
export const CHATTER_PER_SECOND = 500;
export const CHATTER_BURST = 2000;

/** Kinds whose volume a sandbox controls and that nothing waits on: these may be dropped under a flood. */
export const CHATTER_KINDS = ["log", "emit", "output"] as const;
export type ChatterKind = typeof CHATTER_KINDS[number];
export const isChatter = (t: unknown): t is ChatterKind => CHATTER_KINDS.includes(t as ChatterKind);

/** One bucket per chatter kind, and what each dropped since the last `drain()`. */
export class ChatterLimiter {
  #buckets: Record<ChatterKind, TokenBucket>;
  #dropped: Partial<Record<ChatterKind, number>> = {};
  total = 0;

  constructor(perSecond: number, burst: number) {
    this.#buckets = {
      log: new TokenBucket(perSecond, burst),
      emit: new TokenBucket(perSecond, burst),
      // Live output is what a streaming tool (run_shell) is for: it gets more room.
      output: new TokenBucket(perSecond * 4, burst * 4),
    };
  }

  allow(kind: ChatterKind): boolean {
    if (this.#buckets[kind].take()) return true;
    this.#dropped[kind] = (this.#dropped[kind] ?? 0) + 1;
    this.total++;
    return false;
  }

  /** The counts dropped since the last call, or undefined when nothing was. */
  drain(): Record<string, number> | undefined {
    const out = this.#dropped;
    if (Object.keys(out).length === 0) return undefined;
    this.#dropped = {};
    return out as Record<string, number>;
  }
}
