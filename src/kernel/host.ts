// The extension host: validates manifests, activates in dependency order, isolates failures, shuts down in
// reverse. How an extension's code is reached (in-process import or a sandboxed Worker) is the entry's business.
import type {
  Clock,
  Deactivate,
  ExtensionContext,
  ExtensionManifest,
  Logger,
  LogLevel,
  LogSink,
  ManifestInput,
} from "./contracts.ts";
import { KERNEL_ABI, ManifestSchema } from "./contracts.ts";
import { EventBus, HookBus, ServiceRegistry } from "./bus.ts";
import { describeZodError, ToolRegistry } from "./tools.ts";
import { errorMessage } from "./run_turn.ts";

export interface ExtensionEntry {
  manifest: ManifestInput;
  /** Whether this entry runs in a sandbox (reported only; the entry's activate does the isolating). */
  sandboxed?: boolean;
  activate(ctx: ExtensionContext): void | Deactivate | Promise<void | Deactivate>;
}

export type ExtensionStatus = "active" | "failed" | "stopped";

export interface ExtensionState {
  id: string;
  manifest?: ExtensionManifest;
  status: ExtensionStatus;
  sandboxed: boolean;
  error?: string;
}

/** A core extension could not start: the daemon must not run half-built. */
export class BootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BootError";
  }
}

export interface HostOptions {
  sink: LogSink;
  clock?: Clock;
  config?: Record<string, string>;
}

export class ExtensionHost {
  readonly services = new ServiceRegistry();
  readonly hooks = new HookBus();
  readonly events: EventBus;
  readonly tools = new ToolRegistry();
  readonly clock: Clock;
  readonly log: Logger;
  #states = new Map<string, ExtensionState>();
  #active: { id: string; deactivate?: Deactivate }[] = [];
  #opts: HostOptions;

  constructor(opts: HostOptions) {
    this.#opts = opts;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.log = makeLogger(opts.sink, this.clock, "host");
    this.events = new EventBus((event, owner, error) =>
      this.log.error("event listener threw", { event, owner, error: errorMessage(error) })
    );
  }

  /** Every extension the host was given, with its outcome, in activation order. */
  list(): ExtensionState[] {
    return [...this.#states.values()];
  }

  async boot(entries: ExtensionEntry[]): Promise<void> {
    const valid = new Map<string, { manifest: ExtensionManifest; entry: ExtensionEntry }>();
    for (const entry of entries) {
      const parsed = ManifestSchema.safeParse(entry.manifest);
      const id = String((entry.manifest as { id?: unknown })?.id ?? "?");
      if (!parsed.success) {
        const why = `invalid manifest: ${describeZodError(parsed.error, "manifest")}`;
        if ((entry.manifest as { core?: unknown })?.core === true) {
          throw new BootError(`extension ${id}: ${why}`);
        }
        this.#fail(id, undefined, !!entry.sandboxed, why);
        continue;
      }
      if (valid.has(parsed.data.id)) {
        throw new BootError(`extension id "${parsed.data.id}" is declared twice`);
      }
      if (parsed.data.abi !== undefined && parsed.data.abi !== KERNEL_ABI) {
        const why = `written for kernel ABI ${parsed.data.abi}; this kernel's is ${KERNEL_ABI}`;
        if (parsed.data.core) throw new BootError(`core extension ${parsed.data.id}: ${why}`);
        this.#fail(parsed.data.id, parsed.data, !!entry.sandboxed, why);
        continue;
      }
      valid.set(parsed.data.id, { manifest: parsed.data, entry });
    }

    const { order, refused } = activationOrder([...valid.values()].map((v) => v.manifest));
    for (const [id, why] of refused) {
      const { manifest, entry } = valid.get(id)!;
      if (manifest.core) throw new BootError(`core extension ${id}: ${why}`);
      this.#fail(id, manifest, !!entry.sandboxed, why);
    }

    for (const id of order) {
      const { manifest, entry } = valid.get(id)!;
      const down = manifest.dependsOn.find((d) => this.#states.get(d)?.status !== "active");
      if (down) {
        const why = `dependency ${down} is not active`;
        if (manifest.core) throw new BootError(`core extension ${id}: ${why}`);
        this.#fail(id, manifest, !!entry.sandboxed, why);
        continue;
      }
      try {
        const deactivate = await entry.activate(this.#contextFor(manifest));
        this.#active.push({ id, deactivate: deactivate ?? undefined });
        this.#states.set(id, { id, manifest, status: "active", sandboxed: !!entry.sandboxed });
        this.log.debug("extension active", { extension: id });
      } catch (error) {
        this.#withdraw(id);
        if (manifest.core) {
          throw new BootError(`core extension ${id} failed to activate: ${errorMessage(error)}`);
        }
        this.#fail(id, manifest, !!entry.sandboxed, `activate failed: ${errorMessage(error)}`);
      }
    }
  }

  /** Deactivates in reverse activation order; one failing deactivate does not stop the others. */
  async shutdown(): Promise<void> {
    while (this.#active.length > 0) {
      const { id, deactivate } = this.#active.pop()!;
      try {
        await deactivate?.();
      } catch (error) {
        this.log.error("deactivate failed", { extension: id, error: errorMessage(error) });
      }
      this.#withdraw(id);
      const state = this.#states.get(id);
      if (state) state.status = "stopped";
    }
  }

  #contextFor(manifest: ExtensionManifest): ExtensionContext {
    return {
      manifest,
      services: this.services.scope(manifest.id),
      hooks: this.hooks.scope(manifest.id),
      events: this.events.scope(manifest.id),
      tools: this.tools.scope(manifest.id),
      log: makeLogger(this.#opts.sink, this.clock, manifest.id),
      clock: this.clock,
      config: Object.freeze({ ...this.#opts.config }),
      reportFailure: (reason) => {
        const state = this.#states.get(manifest.id);
        if (state?.status === "active") this.#fail(manifest.id, manifest, state.sandboxed, reason);
      },
      reportRecovered: () => {
        const state = this.#states.get(manifest.id);
        if (state?.status !== "failed" || !this.#active.some((a) => a.id === manifest.id)) return;
        this.#states.set(manifest.id, {
          id: manifest.id,
          manifest,
          status: "active",
          sandboxed: state.sandboxed,
        });
        this.log.info("extension recovered", { extension: manifest.id });
      },
    };
  }

  #withdraw(id: string): void {
    this.services.withdraw(id);
    this.hooks.withdraw(id);
    this.events.withdraw(id);
    this.tools.withdraw(id);
  }

  #fail(id: string, manifest: ExtensionManifest | undefined, sandboxed: boolean, error: string): void {
    this.#states.set(id, { id, manifest, status: "failed", sandboxed, error });
    this.log.error("extension disabled", { extension: id, error });
  }
}

/**
 * Topological order (dependencies first, ties by declaration order). Extensions in a cycle, or that need
 * a missing one, are refused with a reason naming it; so is anything depending on a refused extension.
 */
export function activationOrder(
  manifests: Pick<ExtensionManifest, "id" | "dependsOn">[],
): { order: string[]; refused: Map<string, string> } {
  const byId = new Map(manifests.map((m) => [m.id, m]));
  const refused = new Map<string, string>();
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();

  const visit = (id: string, path: string[]): boolean => {
    if (refused.has(id)) return false;
    if (state.get(id) === "done") return true;
    if (state.get(id) === "visiting") {
      const cycle = [...path.slice(path.indexOf(id)), id];
      for (const member of cycle) refused.set(member, `dependency cycle: ${cycle.join(" -> ")}`);
      return false;
    }
    state.set(id, "visiting");
    const m = byId.get(id)!;
    for (const dep of m.dependsOn) {
      if (!byId.has(dep)) {
        refused.set(id, `missing dependency: ${dep}`);
        break;
      }
      if (!visit(dep, [...path, id]) && !refused.has(id)) {
        refused.set(id, `dependency ${dep} was refused (${refused.get(dep)})`);
        break;
      }
    }
    state.set(id, "done");
    if (refused.has(id)) return false;
    order.push(id);
    return true;
  };

  for (const m of manifests) visit(m.id, []);
  return { order, refused };
}

export function makeLogger(sink: LogSink, clock: Clock, ext: string): Logger {
  const write = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) =>
    sink.write({ ...fields, time: clock.now(), level, msg, ext });
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}
