// The worker's half of the bridge: a real ExtensionContext whose registries report to the host, so an
// extension's code is the same sandboxed or core. Differences forced by the thread boundary:
// - host services are proxies whose methods return promises: sandboxed extensions must `await` service calls;
// - events emitted here reach listeners (this worker's too) asynchronously, through the host;
// - `hooks.has` answers true (the host cannot be asked synchronously; running an empty hook is harmless);
// - `tools.list` lists this extension's own tools; the clock is this thread's `Date.now`.
import type {
  Clock,
  ExtensionContext,
  ExtensionManifest,
  Logger,
  LogLevel,
  Tool,
  ToolHandle,
} from "../kernel/contracts.ts";
import type { HookHandler, Hooks, Key, Listener, Services, Veto } from "../kernel/bus.ts";
import { isToolHandle, toolHandle, type Tools } from "../kernel/tools.ts";
import type { WorkerCall, WorkerMessage } from "./protocol.ts";

export interface Link {
  post(msg: WorkerMessage): void;
  call(call: WorkerCall): Promise<unknown>;
}

/** What the bootstrap needs back to serve the host's calls. */
export interface WorkerRegistry {
  tools: Map<string, ToolHandle>;
  hooks: Map<number, HookHandler<unknown>>;
  listeners: Map<string, Set<{ fn: Listener<unknown> }>>;
  services: Map<string, unknown>;
}

export function workerContext(
  link: Link,
  init: { manifest: ExtensionManifest; config: Record<string, string>; services: string[] },
): { ctx: ExtensionContext; registry: WorkerRegistry } {
  const registry: WorkerRegistry = {
    tools: new Map(),
    hooks: new Map(),
    listeners: new Map(),
    services: new Map(),
  };
  const hostServices = new Set(init.services);
  const id = init.manifest.id;

  const hostService = (key: string): unknown =>
    new Proxy({}, {
      get: (_, method) =>
        // Not thenable, so a proxy can be returned from an async function or awaited by mistake.
        typeof method !== "string" || method === "then"
          ? undefined
          : (...args: unknown[]) => link.call({ op: "service", key, method, args }),
    });

  const services: Services = {
    provide<T>(key: Key<T>, impl: T): void {
      if (registry.services.has(key.id)) throw new Error(`service "${key.id}" is already provided by ${id}`);
      registry.services.set(key.id, impl);
      link.post({ t: "provide", key: key.id, methods: methodNames(impl) });
    },
    require<T>(key: Key<T>): T {
      const found = services.get(key);
      if (found === undefined) {
        const reachable = [...hostServices].join(", ") || "none";
        throw new Error(
          `service "${key.id}" is not available to sandboxed extension ${id} (reachable: ${reachable})`,
        );
      }
      return found;
    },
    get<T>(key: Key<T>): T | undefined {
      if (registry.services.has(key.id)) return registry.services.get(key.id) as T;
      return hostServices.has(key.id) ? hostService(key.id) as T : undefined;
    },
  };

  let nextReg = 1;
  const hooks: Hooks = {
    register<T>(key: Key<T>, handler: HookHandler<T>, opts?: { priority?: number }) {
      const reg = nextReg++;
      registry.hooks.set(reg, handler as HookHandler<unknown>);
      link.post({ t: "hook", reg, key: key.id, priority: opts?.priority });
      return () => {
        if (registry.hooks.delete(reg)) link.post({ t: "unhook", reg });
      };
    },
    run: <T>(key: Key<T>, value: T) => link.call({ op: "run-hook", key: key.id, value }) as Promise<T | Veto>,
    has: () => true,
  };

  const events = {
    on<T>(key: Key<T>, fn: Listener<T>): () => void {
      let set = registry.listeners.get(key.id);
      if (!set) {
        registry.listeners.set(key.id, set = new Set());
        link.post({ t: "listen", key: key.id });
      }
      const entry = { fn: fn as Listener<unknown> };
      set.add(entry);
      return () => {
        if (!set.delete(entry) || set.size > 0) return;
        registry.listeners.delete(key.id);
        link.post({ t: "unlisten", key: key.id });
      };
    },
    emit<T>(key: Key<T>, payload: T): void {
      link.post({ t: "emit", key: key.id, payload });
    },
  };

  const tools: Tools = {
    // deno-lint-ignore no-explicit-any
    register(tool: Tool<any> | ToolHandle) {
      const handle = isToolHandle(tool) ? tool : toolHandle(tool);
      const { name, description, parameters } = handle.spec;
      const timeoutMs = isToolHandle(tool) ? undefined : tool.timeoutMs;
      if (registry.tools.has(name)) throw new Error(`tool "${name}" is already registered by ${id}`);
      registry.tools.set(name, handle);
      link.post({ t: "tool", name, description, parameters, ...(timeoutMs ? { timeoutMs } : {}) });
      return () => {
        if (registry.tools.get(name) !== handle) return;
        registry.tools.delete(name);
        link.post({ t: "untool", name });
      };
    },
    list: () => [...registry.tools.values()],
  };

  const clock: Clock = { now: () => Date.now() };
  const ctx: ExtensionContext = {
    manifest: init.manifest,
    services,
    hooks,
    events,
    tools,
    log: workerLogger(link),
    clock,
    config: Object.freeze({ ...init.config }),
    // Inside a sandbox, giving up means ending the worker; the host sees it exit and lists it as failed.
    reportFailure: (reason) => {
      ctx.log.error("giving up", { reason });
      close();
    },
  };
  return { ctx, registry };
}

export function workerLogger(link: Link): Logger {
  const write = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    try {
      link.post({ t: "log", level, msg: String(msg), fields });
    } catch {
      // Fields that do not survive structured clone travel as text.
      const text = Object.fromEntries(Object.entries(fields ?? {}).map(([k, v]) => [k, String(v)]));
      link.post({ t: "log", level, msg: String(msg), fields: text });
    }
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

/** Callable members of a service object, own and inherited (class instances keep methods on prototypes). */
function methodNames(impl: unknown): string[] {
  const names = new Set<string>();
  for (let o = impl; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name !== "constructor" && typeof (impl as Record<string, unknown>)[name] === "function") {
        names.add(name);
      }
    }
  }
  return [...names];
}
