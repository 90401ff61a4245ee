// When and how long to wait before calling a provider again, and the stall watchdog of one call. Pure except
// for the timers; the stream loop in openai_stream.ts decides what may be retried (nothing once output was shown).
import { BootError } from "../../src/kernel/mod.ts";

export interface RetryPolicy {
  /** Retries after the first attempt; 0 turns retrying off. */
  maxRetries: number;
  /** The first backoff; each retry doubles it (before jitter). */
  baseDelayMs: number;
  /** No backoff waits longer; a Retry-After asking for more than this ends the turn instead. */
  maxDelayMs: number;
  /** A call that receives nothing for this long is abandoned (and retried when nothing was shown yet). */
  stallTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxRetries: 5,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  stallTimeoutMs: 120_000,
});

const ENV: Record<keyof RetryPolicy, string> = {
  maxRetries: "DISPATCH_PROVIDER_MAX_RETRIES",
  baseDelayMs: "DISPATCH_PROVIDER_RETRY_BASE_MS",
  maxDelayMs: "DISPATCH_PROVIDER_RETRY_MAX_MS",
  stallTimeoutMs: "DISPATCH_STALL_TIMEOUT_MS",
};

/** The policy an environment sets; a value that is not a whole number stops the boot with its name. */
export function retryPolicyFromEnv(env: Record<string, string | undefined>): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY };
  for (const [field, name] of Object.entries(ENV) as [keyof RetryPolicy, string][]) {
    const raw = env[name]?.trim();
    if (!raw) continue;
    if (!/^\d{1,10}$/.test(raw)) {
      throw new BootError(`provider-openai-compat: ${name} must be a whole number, got "${raw}"`);
    }
    policy[field] = Number(raw);
  }
  if (policy.stallTimeoutMs === 0) {
    throw new BootError(`provider-openai-compat: ${ENV.stallTimeoutMs} must be above 0`);
  }
  return policy;
}

/** 408, 409, 429 and 5xx are worth another try; other 4xx would fail the same way again. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * The wait before retry `attempt` (0 for the first retry). A Retry-After is honoured as given (plus up to 10%,
 * so clients told the same instant do not all come back at once); otherwise exponential backoff with "equal
 * jitter": between half and all of base·2^attempt, capped at maxDelayMs.
 */
export function retryDelayMs(
  attempt: number,
  policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return Math.round(retryAfterMs * (1 + 0.1 * random()));
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/**
 * Milliseconds a response asks to wait: `retry-after-ms` (OpenAI's), else `retry-after` as seconds or an HTTP
 * date. Undefined when absent or unreadable.
 */
export function retryAfterMs(
  headers: Record<string, string | undefined> | undefined,
  now = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const get = (name: string) => {
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v?.trim();
  };
  const ms = get("retry-after-ms");
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const after = get("retry-after");
  if (!after) return undefined;
  if (/^\d+(\.\d+)?$/.test(after)) return Math.ceil(Number(after) * 1000);
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Resolves after `ms`, or early (false) when the signal fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Guards one call: its `signal` fires when `kick` has not been called for `ms`. The reader kicks after the
 * request and after every body read; a kick only notes the time (it is called per network read), the one
 * timer re-arms itself for what is left.
 */
export class StallWatchdog {
  readonly #controller = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = 0;
  #stopped = false;

  constructor(readonly ms: number) {}

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get stalled(): boolean {
    return this.#controller.signal.aborted;
  }

  kick(): void {
    if (this.#stopped || this.stalled) return;
    this.#last = performance.now();
    if (this.#timer === undefined) this.#arm(this.ms);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped) return;
      const idle = performance.now() - this.#last;
      if (idle < this.ms) return this.#arm(this.ms - idle);
      this.#controller.abort(new DOMException(`nothing received for ${this.ms} ms`, "TimeoutError"));
    }, ms);
  }
}
