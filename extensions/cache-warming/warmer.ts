// Per-conversation warming: a timer armed when the conversation goes idle (and after every warm) fires shortly
// before the provider's prompt cache would expire and re-sends the prefix the next turn would send.
//
// The prefix is the orchestrator's own (`Orchestrator.prefix`: same history, model, tools, reasoning effort),
// followed by one tiny user message, run through the `turn.prepare-step` hooks as a turn's first step would be,
// and sent with maxOutputTokens 1. Everything before that last message is byte-for-byte what the next turn sends
// first, so the provider's cache for it is refreshed. Nothing is stored: warming never touches history.
import {
  type Clock,
  conflict,
  DispatchError,
  errorMessage,
  type Hooks,
  invalid,
  isVeto,
  type Logger,
  stepRequest,
  type Usage,
} from "../../src/kernel/mod.ts";
import type { SurfaceField } from "../../src/contract/ui.ts";
import type { ConversationStatus, ConversationStore } from "../conversation-store/api.ts";
import type { Orchestrator, PrefixOptions } from "../session-orchestrator/api.ts";
import type { CacheWarming, WarmingSettings, WarmResult } from "./api.ts";

export const SURFACE_ID = "cache-warming";
export const ACTIONS = {
  toggle: "cache-warming/toggle",
  setInterval: "cache-warming/set-interval",
  warmNow: "cache-warming/warm-now",
} as const;
/** The conversation setting (in conversation-store's per-conversation settings) holding WarmingSettings. */
export const SETTING_KEY = "cacheWarming";
/** The one message added after the prefix. */
export const WARM_PROMPT = "ok";
export const MIN_INTERVAL_MS = 1000;
const WARM_TIMEOUT_MS = 120_000;

export interface WarmerOptions {
  /** The provider's prompt-cache lifetime (default 5 minutes). */
  ttlMs: number;
  /** Interval for conversations that have not chosen one (default 90% of the TTL). */
  intervalMs: number;
  /** Whether warming is on for conversations that have not chosen (default off: warming costs requests). */
  defaultEnabled: boolean;
  /** Automatic warms in a row without a turn before the timer stops (0: no limit). */
  maxIdleWarms: number;
}

export interface WarmerDeps {
  orchestrator: Orchestrator;
  store: ConversationStore;
  hooks: Hooks;
  clock: Clock;
  log: Logger;
  options: WarmerOptions;
  /** The conversation's surface state changed. */
  changed?: (conversationId: string) => void;
  /** Timer functions (tests drive them by hand); default setTimeout/clearTimeout. */
  timers?: Timers;
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as number),
};

interface State {
  timer?: unknown;
  nextWarmAt: number | null;
  lastWarmAt: number | null;
  lastPct: number | null;
  lastError?: string;
  warming?: Promise<WarmResult>;
  idleWarms: number;
}

export class Warmer implements CacheWarming {
  #states = new Map<string, State>();
  #stopped = false;
  #inFlight = new Set<AbortController>();

  constructor(private readonly deps: WarmerDeps) {}

  /** The conversation's choices, defaults (from the options) for what it has not chosen. */
  settings(conversationId: string): WarmingSettings {
    const raw = this.#chosen(conversationId);
    const { options } = this.deps;
    return {
      enabled: typeof raw?.enabled === "boolean" ? raw.enabled : options.defaultEnabled,
      intervalMs: typeof raw?.intervalMs === "number" && Number.isFinite(raw.intervalMs)
        ? Math.max(MIN_INTERVAL_MS, Math.round(raw.intervalMs))
        : options.intervalMs,
    };
  }

  /** Stores only what is given: what the conversation never chose keeps following the defaults. */
  setSettings(conversationId: string, patch: Partial<WarmingSettings>): WarmingSettings {
    this.#known(conversationId);
    const chosen = { ...this.#chosen(conversationId) };
    if (patch.enabled !== undefined) chosen.enabled = patch.enabled;
    if (patch.intervalMs !== undefined) {
      chosen.intervalMs = Math.max(MIN_INTERVAL_MS, Math.round(patch.intervalMs));
    }
    this.deps.store.setSetting(conversationId, SETTING_KEY, chosen);
    const state = this.#state(conversationId);
    state.idleWarms = 0;
    this.#arm(conversationId);
    this.#changed(conversationId);
    return this.settings(conversationId);
  }

  #chosen(conversationId: string): Partial<WarmingSettings> {
    const raw = this.deps.store.get(conversationId)?.settings?.[SETTING_KEY];
    return typeof raw === "object" && raw !== null ? raw as Partial<WarmingSettings> : {};
  }

  warm(conversationId: string, options: PrefixOptions = {}): Promise<WarmResult> {
    return this.#begin(conversationId, options, false);
  }

  #begin(conversationId: string, options: PrefixOptions, automatic: boolean): Promise<WarmResult> {
    this.#known(conversationId);
    const state = this.#state(conversationId);
    if (state.warming) return state.warming;
    // A warm someone asked for counts as activity; only the timer's own warms run down the idle limit.
    state.idleWarms = automatic ? state.idleWarms + 1 : 0;
    const warming = this.#warmOnce(conversationId, options).finally(() => {
      state.warming = undefined;
      this.#arm(conversationId);
      this.#changed(conversationId);
    });
    state.warming = warming;
    this.#clearTimer(state);
    this.#changed(conversationId);
    return warming;
  }

  /** Arms timers of open conversations that have warming on (at boot). */
  start(): void {
    for (const c of this.deps.store.list({ status: ["idle", "active"] })) {
      if (this.settings(c.id).enabled) this.#arm(c.id);
    }
  }

  /** A conversation became active (timer off), idle (timer from now) or closed (timer off). */
  statusChanged(conversationId: string, status: ConversationStatus): void {
    const state = this.#states.get(conversationId);
    if (status === "idle") {
      // A turn just ended: its requests refreshed the cache, so the count of idle warms starts again.
      if (state) state.idleWarms = 0;
      this.#arm(conversationId);
    } else if (state) {
      this.#clearTimer(state);
    }
    if (state || this.settings(conversationId).enabled) this.#changed(conversationId);
  }

  stop(): void {
    this.#stopped = true;
    for (const state of this.#states.values()) this.#clearTimer(state);
    for (const controller of this.#inFlight) controller.abort();
  }

  /** The surface's fields for a conversation. */
  fields(conversationId: string | undefined): SurfaceField[] {
    if (conversationId === undefined || !this.deps.store.get(conversationId)) {
      return [{ kind: "stat", label: "Status", value: "No conversation focused" }];
    }
    const settings = this.settings(conversationId);
    const state = this.#states.get(conversationId);
    return [
      {
        kind: "toggle",
        id: "enabled",
        label: "Enabled",
        value: settings.enabled,
        action: { actionId: ACTIONS.toggle },
      },
      {
        kind: "number",
        id: "interval",
        label: "Refresh Interval",
        value: Math.round(settings.intervalMs / 1000),
        min: MIN_INTERVAL_MS / 1000,
        step: 1,
        unit: "s",
        action: { actionId: ACTIONS.setInterval },
      },
      // The reference frontend reads the first stat not labelled "retention" as the last cache rate.
      {
        kind: "stat",
        id: "last-pct",
        label: "Last Cache %",
        value: state?.lastPct == null ? "—" : `${state.lastPct}%`,
      },
      { kind: "stat", id: "state", label: "State", value: this.#describe(conversationId, settings, state) },
      { kind: "button", id: "warm-now", label: "Warm now", action: { actionId: ACTIONS.warmNow } },
      {
        kind: "custom",
        id: "timer",
        rendererId: "cache-warming-timer",
        payload: { nextWarmAt: state?.nextWarmAt ?? null, lastWarmAt: state?.lastWarmAt ?? null },
      },
    ];
  }

  // ---------------------------------------------------------------- internals

  async #warmOnce(conversationId: string, options: PrefixOptions): Promise<WarmResult> {
    const { orchestrator, hooks, clock } = this.deps;
    const state = this.#state(conversationId);
    if (orchestrator.running(conversationId)) {
      throw conflict(
        "turn_running",
        `a turn is running in conversation ${conversationId}: it keeps the cache warm`,
      );
    }
    const prefix = await orchestrator.prefix(conversationId, options);
    // The next turn's first step, as the turn loop makes it, plus one tiny message and one output token.
    const prepared = await stepRequest({
      conversationId,
      turnId: `warm-${crypto.randomUUID()}`,
      step: 1,
      model: prefix.model,
      messages: [...prefix.messages, { role: "user", content: WARM_PROMPT }],
      tools: prefix.tools,
      cwd: prefix.cwd,
      reasoningEffort: prefix.reasoningEffort,
      maxOutputTokens: 1,
      hooks,
    });
    if (isVeto(prepared)) throw invalid("vetoed", `warming refused: ${prepared.veto}`);

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), WARM_TIMEOUT_MS);
    this.#inFlight.add(controller);
    const usage: Required<
      Pick<Usage, "inputTokens" | "outputTokens" | "cacheReadTokens" | "cacheWriteTokens">
    > = {
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    };
    try {
      const stream = prefix.provider.stream(prepared.request, controller.signal);
      for await (const part of stream) {
        if (part.type !== "usage") continue;
        usage.inputTokens += part.usage.inputTokens;
        usage.outputTokens += part.usage.outputTokens;
        usage.cacheReadTokens += part.usage.cacheReadTokens ?? 0;
        usage.cacheWriteTokens += part.usage.cacheWriteTokens ?? 0;
      }
      if (controller.signal.aborted) throw new Error(this.#stopped ? "shutting down" : "timed out");
    } catch (error) {
      state.lastError = errorMessage(error);
      if (error instanceof DispatchError) throw error;
      throw new DispatchError("unavailable", "provider_error", `warming failed: ${errorMessage(error)}`);
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
    const cachePct = usage.inputTokens > 0
      ? Math.round(Math.min(1, Math.max(0, usage.cacheReadTokens / usage.inputTokens)) * 100)
      : 0;
    state.lastWarmAt = clock.now();
    state.lastPct = cachePct;
    state.lastError = undefined;
    const cached = usage.cacheReadTokens + usage.cacheWriteTokens;
    const expectedCacheRate = cached > 0 ? Math.round((usage.cacheReadTokens / cached) * 100) : 0;
    this.deps.log.info("warmed", { conversationId, ...usage, cachePct });
    return { ...usage, cachePct, expectedCacheRate };
  }

  /** (Re)arms the timer when warming is on and the conversation is open, idle and under the idle-warm limit. */
  #arm(conversationId: string): void {
    const state = this.#state(conversationId);
    this.#clearTimer(state);
    if (this.#stopped || state.warming) return;
    const conversation = this.deps.store.get(conversationId);
    if (!conversation || conversation.status === "closed") return;
    if (this.deps.orchestrator.running(conversationId)) return;
    const { enabled, intervalMs } = this.settings(conversationId);
    if (!enabled) return;
    const { maxIdleWarms } = this.deps.options;
    if (maxIdleWarms > 0 && state.idleWarms >= maxIdleWarms) return;
    state.nextWarmAt = this.deps.clock.now() + intervalMs;
    state.timer = (this.deps.timers ?? realTimers).set(() => {
      state.timer = undefined;
      state.nextWarmAt = null;
      this.#begin(conversationId, {}, true).catch((error) => {
        this.deps.log.warn("automatic warm failed", { conversationId, error: errorMessage(error) });
      });
    }, intervalMs);
  }

  #clearTimer(state: State): void {
    if (state.timer !== undefined) (this.deps.timers ?? realTimers).clear(state.timer);
    state.timer = undefined;
    state.nextWarmAt = null;
  }

  #describe(conversationId: string, settings: WarmingSettings, state: State | undefined): string {
    if (state?.warming) return "warming";
    if (this.deps.store.get(conversationId)?.status === "closed") return "closed";
    if (this.deps.orchestrator.running(conversationId)) return "paused: a turn is running";
    if (!settings.enabled) return "off";
    if (state?.timer !== undefined) return "waiting";
    const { maxIdleWarms } = this.deps.options;
    if (state && maxIdleWarms > 0 && state.idleWarms >= maxIdleWarms) {
      return `stopped after ${maxIdleWarms} warms without a turn`;
    }
    return state?.lastError ? `last warm failed: ${state.lastError}` : "idle";
  }

  #state(conversationId: string): State {
    let state = this.#states.get(conversationId);
    if (!state) {
      this.#states.set(
        conversationId,
        state = { nextWarmAt: null, lastWarmAt: null, lastPct: null, idleWarms: 0 },
      );
    }
    return state;
  }

  #known(conversationId: string): void {
    if (!this.deps.store.get(conversationId)) {
      throw new DispatchError("not_found", "unknown_conversation", `no conversation ${conversationId}`);
    }
  }

  #changed(conversationId: string): void {
    try {
      this.deps.changed?.(conversationId);
    } catch (error) {
      this.deps.log.warn("warming change listener failed", { conversationId, error: errorMessage(error) });
    }
  }
}
