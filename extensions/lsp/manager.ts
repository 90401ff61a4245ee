// The running servers: one per (working directory, server), started on first use, stopped after being idle,
// restarted after a crash with a growing delay, all stopped when the daemon stops.
import type { Diagnostic } from "vscode-languageserver-protocol";
import type { LspServerInfo } from "./api.ts";
import { LspClient } from "./client.ts";
import type { ServerSpec } from "./servers.ts";

export interface ManagerOptions {
  /** A server unused this long is stopped (started again on the next use). */
  idleMs: number;
  /** The first restart's delay after a crash; it doubles per crash up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
  /** A server that ran this long before crashing restarts after `backoffMs` again. */
  stableMs: number;
  /** Shown read-only to every server besides its working directory. */
  readOnly: string[];
  /** Masked in every server's view. */
  masked: string[];
  /** Set when servers cannot be confined here: every start fails with it (fail closed). */
  refusal?: string;
  /** Called whenever a server's state changes (for the surface). */
  onChange(): void;
  log: {
    info(msg: string, f?: Record<string, unknown>): void;
    warn(msg: string, f?: Record<string, unknown>): void;
  };
}

interface Slot {
  spec: ServerSpec;
  root: string;
  state: LspServerInfo["state"];
  error?: string;
  client?: LspClient;
  starting?: Promise<LspClient>;
  restarts: number;
  backoffMs: number;
  startedAt: number;
  idleTimer?: ReturnType<typeof setTimeout>;
  restartTimer?: ReturnType<typeof setTimeout>;
}

export class LspManager {
  #slots = new Map<string, Slot>();
  #closed = false;

  constructor(private readonly opts: ManagerOptions) {}

  /** The running client for `spec` in `root`, started when needed. Throws when it cannot start. */
  async client(spec: ServerSpec, root: string): Promise<LspClient> {
    if (this.#closed) throw new Error("the daemon is stopping");
    if (this.opts.refusal) throw new Error(this.opts.refusal);
    const slot = this.#slot(spec, root);
    this.#touch(slot);
    if (slot.client) return slot.client;
    return await (slot.starting ?? this.#start(slot));
  }

  /** State of each of `specs` in `root` (not-started for those never used). */
  info(specs: ServerSpec[], root: string): LspServerInfo[] {
    return specs.map((spec) => {
      const slot = this.#slots.get(key(spec, root));
      return {
        id: spec.id,
        name: spec.name,
        root,
        extensions: spec.extensions,
        state: slot?.state ?? "not-started",
        ...(slot?.error ? { error: slot.error } : {}),
        configSource: spec.configSource,
        ...(slot?.client ? { pid: slot.client.pid } : {}),
        restarts: slot?.restarts ?? 0,
      };
    });
  }

  /** Every server ever used, for the surface. */
  all(): LspServerInfo[] {
    return [...this.#slots.values()].flatMap((s) => this.info([s.spec], s.root));
  }

  /** Starts a server in the background (the status route asks for this). */
  warm(spec: ServerSpec, root: string): void {
    this.client(spec, root).catch(() => {});
  }

  diagnosticsOf(root: string): { spec: ServerSpec; diagnostics: Map<string, Diagnostic[]> }[] {
    return [...this.#slots.values()].filter((s) => s.root === root && s.client).map((s) => ({
      spec: s.spec,
      diagnostics: s.client!.allDiagnostics(),
    }));
  }

  async stopAll(): Promise<void> {
    this.#closed = true;
    const slots = [...this.#slots.values()];
    for (const slot of slots) {
      clearTimeout(slot.idleTimer);
      clearTimeout(slot.restartTimer);
    }
    await Promise.allSettled(slots.map(async (slot) => {
      const client = slot.client ?? await slot.starting?.catch(() => undefined);
      await client?.stop();
    }));
  }

  #slot(spec: ServerSpec, root: string): Slot {
    const k = key(spec, root);
    let slot = this.#slots.get(k);
    if (!slot || JSON.stringify(slot.spec.command) !== JSON.stringify(spec.command)) {
      // A changed definition (the cwd's config was edited) is a new server.
      if (slot) void this.#stop(slot);
      slot = { spec, root, state: "not-started", restarts: 0, backoffMs: this.opts.backoffMs, startedAt: 0 };
      this.#slots.set(k, slot);
    }
    return slot;
  }

  #start(slot: Slot): Promise<LspClient> {
    clearTimeout(slot.restartTimer);
    slot.state = "starting";
    delete slot.error;
    this.opts.onChange();
    const starting = (async () => {
      const prepared = slot.spec.prepare ? await slot.spec.prepare() : { command: slot.spec.command };
      if (this.#closed) throw new Error("the daemon is stopping");
      return await LspClient.start({
        spec: slot.spec,
        prepared,
        root: slot.root,
        readOnly: this.opts.readOnly,
        masked: this.opts.masked,
        onExit: (reason) => this.#crashed(slot, reason),
      });
    })();
    slot.starting = starting;
    starting.then(async (client) => {
      if (slot.starting !== starting) return;
      delete slot.starting;
      if (this.#closed || this.#slots.get(key(slot.spec, slot.root)) !== slot) {
        await client.stop();
        return;
      }
      slot.client = client;
      slot.state = "connected";
      slot.startedAt = Date.now();
      this.#touch(slot); // idle counts from now: a slow start is not idle time
      this.opts.log.info("language server started", {
        server: slot.spec.id,
        root: slot.root,
        pid: client.pid,
      });
      this.opts.onChange();
    }, (error) => {
      if (slot.starting !== starting) return;
      delete slot.starting;
      slot.state = "error";
      slot.error = (error as Error).message;
      this.opts.log.warn("language server failed to start", {
        server: slot.spec.id,
        root: slot.root,
        error: slot.error,
      });
      this.opts.onChange();
    });
    return starting;
  }

  #crashed(slot: Slot, reason: string): void {
    delete slot.client;
    clearTimeout(slot.idleTimer);
    if (this.#closed) return;
    if (Date.now() - slot.startedAt >= this.opts.stableMs) slot.backoffMs = this.opts.backoffMs;
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, this.opts.maxBackoffMs);
    slot.state = "error";
    slot.error = `${reason}; restarting in ${delay} ms`;
    this.opts.log.warn("language server crashed", {
      server: slot.spec.id,
      root: slot.root,
      reason,
      delayMs: delay,
    });
    this.opts.onChange();
    slot.restartTimer = setTimeout(() => {
      if (this.#closed || slot.client || slot.starting) return;
      slot.restarts++;
      this.#start(slot).then(() => this.#touch(slot), () => {});
    }, delay);
  }

  #touch(slot: Slot): void {
    clearTimeout(slot.idleTimer);
    slot.idleTimer = setTimeout(() => {
      if (!slot.client) return;
      this.opts.log.info("language server idle: stopping it", { server: slot.spec.id, root: slot.root });
      void this.#stop(slot);
    }, this.opts.idleMs);
  }

  async #stop(slot: Slot): Promise<void> {
    clearTimeout(slot.idleTimer);
    clearTimeout(slot.restartTimer);
    const client = slot.client;
    delete slot.client;
    slot.state = "not-started";
    this.opts.onChange();
    await client?.stop();
  }
}

const key = (spec: ServerSpec, root: string) => `${spec.id}\u0000${root}`;
