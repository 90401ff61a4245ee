// Typed services, hooks and events: the only ways extensions reach each other.

/** A typed name. The phantom field carries T so `provide` and `require` agree at compile time. */
export interface Key<T> {
  readonly id: string;
  readonly _type?: T;
}
export const defineKey = <T>(id: string): Key<T> => ({ id });

// ---------------------------------------------------------------- services

/** What one extension sees of the registry: everything it provides is recorded as its own. */
export interface Services {
  provide<T>(key: Key<T>, impl: T): void;
  require<T>(key: Key<T>): T;
  get<T>(key: Key<T>): T | undefined;
}

const VIEW = Symbol("per-caller view");

/**
 * A service each caller sees through its own view: `view(caller)` runs once per calling extension (the id its
 * context is scoped to; undefined for the composition root, which holds the host). How a service tells its
 * callers apart, since calls carry no identity (those the sandbox bridge forwards neither).
 */
export function perCaller<T>(view: (caller: string | undefined) => T): T {
  return { [VIEW]: view } as T;
}

interface ServiceEntry {
  owner: string;
  impl: unknown;
  views?: Map<string | undefined, unknown>;
}

export class ServiceRegistry {
  scope(owner: string): Services {
    return {
      provide: (key, impl) => this.provide(key, impl, owner),
      require: (key) => this.#resolve(key, owner, true),
      get: (key) => this.#resolve(key, owner, false),
    };
  }

  #services = new Map<string, ServiceEntry>();

  provide<T>(key: Key<T>, impl: T, owner = "?"): void {
    const existing = this.#services.get(key.id);
    if (existing) {
      throw new Error(`service "${key.id}" is already provided by ${existing.owner}`);
    }
    const view = (impl as { [VIEW]?: unknown } | null)?.[VIEW];
    this.#services.set(key.id, { owner, impl, ...(typeof view === "function" ? { views: new Map() } : {}) });
  }

  /** The service, or a clear error naming what is missing (an undeclared dependency, usually). */
  require<T>(key: Key<T>): T {
    return this.#resolve(key, undefined, true);
  }

  get<T>(key: Key<T>): T | undefined {
    return this.#resolve(key, undefined, false);
  }

  withdraw(owner: string): void {
    for (const [id, entry] of this.#services) if (entry.owner === owner) this.#services.delete(id);
    for (const entry of this.#services.values()) entry.views?.delete(owner);
  }

  #resolve<T>(key: Key<T>, caller: string | undefined, required: true): T;
  #resolve<T>(key: Key<T>, caller: string | undefined, required: false): T | undefined;
  #resolve<T>(key: Key<T>, caller: string | undefined, required: boolean): T | undefined {
    const entry = this.#services.get(key.id);
    if (!entry) {
      if (!required) return undefined;
      throw new Error(`service "${key.id}" is not provided (is its extension loaded and in dependsOn?)`);
    }
    if (!entry.views) return entry.impl as T;
    if (!entry.views.has(caller)) {
      entry.views.set(caller, (entry.impl as { [VIEW]: (c: string | undefined) => unknown })[VIEW](caller));
    }
    return entry.views.get(caller) as T;
  }
}

// ---------------------------------------------------------------- hooks

export interface Veto {
  readonly veto: string;
}
export const isVeto = (v: unknown): v is Veto =>
  typeof v === "object" && v !== null && typeof (v as Veto).veto === "string";

export type HookHandler<T> = (value: T) => T | Veto | void | Promise<T | Veto | void>;

interface HookEntry {
  owner: string;
  priority: number;
  order: number;
  handler: HookHandler<unknown>;
}

export interface Hooks {
  register<T>(key: Key<T>, handler: HookHandler<T>, opts?: { priority?: number }): () => void;
  run<T>(key: Key<T>, value: T): Promise<T | Veto>;
  has(key: Key<unknown>): boolean;
}

/**
 * Ordered hooks: lower priority runs first, ties in registration order. Each handler sees the previous one's
 * value and may return a new one (transform), nothing (keep), or `{veto}` (stop the chain and refuse).
 */
export class HookBus {
  #hooks = new Map<string, HookEntry[]>();
  #order = 0;

  scope(owner: string): Hooks {
    return {
      register: (key, handler, opts) => this.register(key, handler, { ...opts, owner }),
      run: (key, value) => this.run(key, value),
      has: (key) => this.has(key),
    };
  }

  register<T>(
    key: Key<T>,
    handler: HookHandler<T>,
    opts: { priority?: number; owner?: string } = {},
  ): () => void {
    const entry: HookEntry = {
      owner: opts.owner ?? "?",
      priority: opts.priority ?? 0,
      order: this.#order++,
      handler: handler as HookHandler<unknown>,
    };
    const list = [...(this.#hooks.get(key.id) ?? []), entry];
    list.sort((a, b) => a.priority - b.priority || a.order - b.order);
    this.#hooks.set(key.id, list);
    return () => this.#remove(key.id, entry);
  }

  has(key: Key<unknown>): boolean {
    return (this.#hooks.get(key.id)?.length ?? 0) > 0;
  }

  async run<T>(key: Key<T>, value: T): Promise<T | Veto> {
    let current = value;
    for (const entry of this.#hooks.get(key.id) ?? []) {
      const out = await entry.handler(current);
      if (isVeto(out)) return out;
      if (out !== undefined) current = out as T;
    }
    return current;
  }

  withdraw(owner: string): void {
    for (const [id, list] of this.#hooks) this.#hooks.set(id, list.filter((e) => e.owner !== owner));
  }

  #remove(id: string, entry: HookEntry): void {
    this.#hooks.set(id, (this.#hooks.get(id) ?? []).filter((e) => e !== entry));
  }
}

// ---------------------------------------------------------------- events

export type Listener<T> = (payload: T) => void;

export interface Events {
  on<T>(key: Key<T>, fn: Listener<T>): () => void;
  emit<T>(key: Key<T>, payload: T): void;
}

/** Fire-and-forget notifications. A throwing listener is reported, never allowed to break the emitter. */
export class EventBus {
  #listeners = new Map<string, Set<{ owner: string; fn: Listener<unknown> }>>();

  scope(owner: string): Events {
    return { on: (key, fn) => this.on(key, fn, owner), emit: (key, payload) => this.emit(key, payload) };
  }

  constructor(
    private readonly onListenerError: (eventId: string, owner: string, error: unknown) => void = () => {},
  ) {}

  on<T>(key: Key<T>, fn: Listener<T>, owner = "?"): () => void {
    const entry = { owner, fn: fn as Listener<unknown> };
    let set = this.#listeners.get(key.id);
    if (!set) this.#listeners.set(key.id, set = new Set());
    set.add(entry);
    return () => set.delete(entry);
  }

  emit<T>(key: Key<T>, payload: T): void {
    const set = this.#listeners.get(key.id);
    if (!set) return;
    for (const { owner, fn } of set) {
      try {
        // An async function is a valid Listener: its rejection must be reported too, not left unhandled.
        const out: unknown = fn(payload);
        if (out instanceof Promise) out.catch((error) => this.onListenerError(key.id, owner, error));
      } catch (error) {
        this.onListenerError(key.id, owner, error);
      }
    }
  }

  withdraw(owner: string): void {
    for (const set of this.#listeners.values()) {
      for (const entry of set) if (entry.owner === owner) set.delete(entry);
    }
  }
}
