// One sandboxed extension across the lives of its host process. It owns what must outlive a process: the tools
// and services registered in the daemon (proxies that route each call to the current process), when a process
// starts (at activation, or on the first call for an extension that declares its tools), when it stops (after
// an idle period, for those), and restarts after a crash with growing backoff, reported through the host.
import type {
  ExtensionContext,
  ToolContext,
  ToolDeclaration,
  ToolHandle,
  ToolResult,
} from "../kernel/contracts.ts";
import { defineKey } from "../kernel/bus.ts";
import { z } from "zod";
import {
  type BridgeOptions,
  RESERVED,
  SandboxSession,
  type SandboxState,
  type SessionOwner,
} from "./bridge_host.ts";
import type { HostSpec } from "./host_link.ts";
import { describeError } from "./protocol.ts";

export interface SupervisorOptions extends BridgeOptions {
  /** Limit of one tool call for a tool that declares none. */
  toolTimeoutMs: number;
  /** Added to a tool's declared timeout: its own timeout should answer first. */
  toolGraceMs: number;
  /** A started-on-demand host stops after this long without calls. */
  idleMs: number;
  /** First delay before a restart after a crash; doubles per crash, up to maxBackoffMs. */
  restartBackoffMs: number;
  maxBackoffMs: number;
  /** Start on the first call instead of at activation (only when the manifest declares its tools). */
  lazy: boolean;
}

const ToolResultSchema = z.object({ content: z.string(), isError: z.boolean().optional() });
/** A host that ran this long without crashing resets the backoff. */
const STABLE_MS = 60_000;

interface ToolEntry {
  declared?: ToolDeclaration;
  timeoutMs?: number;
  off: () => void;
}

export class SandboxSupervisor {
  #session?: SandboxSession;
  #starting?: Promise<SandboxSession>;
  #startingSession?: SandboxSession;
  #state: SandboxState = "starting";
  #why = "";
  #tools = new Map<string, ToolEntry>();
  #services = new Map<string, Record<string, (...args: unknown[]) => Promise<unknown>>>();
  #inFlight = 0;
  #idleTimer?: ReturnType<typeof setTimeout>;
  #restartTimer?: ReturnType<typeof setTimeout>;
  #backoff: number;
  #notBefore = 0;
  #closed = false;
  #starts = 0;

  constructor(
    private readonly ctx: ExtensionContext,
    private readonly opts: SupervisorOptions,
    private readonly spec: HostSpec,
    private readonly moduleUrl: URL,
    private readonly config: Record<string, string>,
  ) {
    this.#backoff = opts.restartBackoffMs;
  }

  get state(): SandboxState {
    return this.#state;
  }

  /** How many host processes were started (for tests and the bench). */
  get starts(): number {
    return this.#starts;
  }

  /** The current host process's pid, when one runs. */
  get pid(): number | undefined {
    return this.#session?.state === "running" ? this.#session.pid : undefined;
  }

  async activate(): Promise<() => Promise<void>> {
    const declared = this.ctx.manifest.tools ?? [];
    for (const decl of declared) this.#registerTool(decl.name, decl);
    if (this.opts.lazy) {
      this.#state = "idle";
    } else {
      await this.#start();
    }
    return () => this.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#restartTimer);
    // A host still starting (a first call in flight) is ended too, rather than waited for.
    await (this.#session ?? this.#startingSession)?.stop();
    this.#state = "stopped";
    this.#why = "shut down";
  }

  // ---------------------------------------------------------------- starting and stopping

  #start(): Promise<SandboxSession> {
    if (this.#session?.state === "running") return Promise.resolve(this.#session);
    if (this.#starting) return this.#starting;
    if (this.#closed) return Promise.reject(this.#notRunning());
    if (this.#notBefore > Date.now()) return Promise.reject(this.#notRunning());
    const session = new SandboxSession(this.ctx, this.opts, this.#owner());
    this.#state = "starting";
    this.#starts++;
    this.#startingSession = session;
    this.#starting = session.start(this.spec, this.moduleUrl).then(() => {
      this.#session = session;
      this.#state = "running";
      if (this.#starts > 1) this.ctx.reportRecovered?.();
      return session;
    }).catch((error) => {
      this.#state = "stopped";
      this.#why = describeError(error);
      // The first start of an eager extension is its activation: the host reports that failure itself.
      if (this.opts.lazy || this.#starts > 1) {
        this.ctx.reportFailure(`could not start: ${this.#why}`);
        this.#retryLater();
      }
      throw error;
    }).finally(() => {
      this.#starting = undefined;
      this.#startingSession = undefined;
    });
    return this.#starting;
  }

  #owner(): SessionOwner {
    return {
      config: () => this.config,
      onTool: (tool) => {
        const entry = this.#tools.get(tool.name);
        if (entry?.declared) {
          // The declaration's timeoutMs is the one the bridge uses; what the model sees must match exactly.
          const shape = (t: typeof tool) => JSON.stringify([t.description, t.parameters]);
          if (shape(entry.declared) !== shape(tool)) {
            throw new Error(
              `sandboxed extension ${this.ctx.manifest.id} registers tool ${tool.name} unlike its manifest ` +
                "declares it (declare it with toolSpec from the schema the module registers)",
            );
          }
          return;
        }
        if (entry) entry.off();
        this.#registerTool(tool.name, undefined, tool);
      },
      onUntool: (name) => {
        const entry = this.#tools.get(name);
        if (!entry || entry.declared) return;
        entry.off();
        this.#tools.delete(name);
      },
      onProvide: (key, methods) => this.#provide(key, methods),
      onCrash: (session, why) => this.#crashed(session, why),
    };
  }

  #crashed(session: SandboxSession, why: string): void {
    if (session !== this.#session) return;
    this.#session = undefined;
    this.#state = "crashed";
    this.#why = session.why;
    this.ctx.reportFailure(`crashed: ${why}`);
    if (Date.now() - session.startedAt > STABLE_MS) this.#backoff = this.opts.restartBackoffMs;
    this.#retryLater();
  }

  /** No new host before the backoff has passed; eager ones (hooks, listeners, surfaces) restart by themselves. */
  #retryLater(): void {
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, this.opts.maxBackoffMs);
    this.#notBefore = Date.now() + delay;
    if (this.opts.lazy || this.#closed) return; // the next call starts it again
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      this.#start().catch((error) =>
        this.ctx.log.error("sandbox restart failed", { error: describeError(error) })
      );
    }, delay);
  }

  #notRunning(): Error {
    const wait = this.#notBefore - Date.now();
    const when = wait > 0 && !this.#closed ? `; restarting in ${Math.ceil(wait / 1000)} s` : "";
    return new Error(
      `sandboxed extension ${this.ctx.manifest.id} is not running (${this.#why || this.#state})${when}`,
    );
  }

  /** Runs `fn` against a running host, starting one when needed; idle hosts started on demand stop again. */
  async #use<T>(fn: (session: SandboxSession) => Promise<T>): Promise<T> {
    clearTimeout(this.#idleTimer);
    this.#inFlight++;
    try {
      const session = this.#session?.state === "running"
        ? this.#session
        : this.opts.lazy || this.#state === "starting"
        ? await this.#start()
        : undefined;
      if (!session) throw this.#notRunning();
      return await fn(session);
    } finally {
      this.#inFlight--;
      if (this.opts.lazy && this.#inFlight === 0 && !this.#closed) {
        this.#idleTimer = setTimeout(() => this.#stopIdle(), this.opts.idleMs);
      }
    }
  }

  async #stopIdle(): Promise<void> {
    const session = this.#session;
    if (!session || this.#inFlight > 0 || this.#starting) return;
    this.#session = undefined; // a call from now on starts a new host
    await session.stop("stopped while idle");
    if (!this.#session && !this.#starting && !this.#closed) this.#state = "idle";
    this.ctx.log.debug("sandbox host stopped while idle");
  }

  // ---------------------------------------------------------------- what outlives one host process

  #registerTool(
    name: string,
    declared?: ToolDeclaration,
    registered?: { description: string; parameters: Record<string, unknown>; timeoutMs?: number },
  ): void {
    const spec = declared
      ? { name, description: declared.description, parameters: declared.parameters }
      : { name, description: registered!.description, parameters: registered!.parameters };
    const timeoutMs = declared?.timeoutMs ?? registered?.timeoutMs;
    const handle: ToolHandle = {
      spec,
      // The real parse happens in the worker, with the extension's own zod schema.
      parse: (input) => ({ ok: true, value: input }),
      execute: (input, tctx) => this.#callTool(name, input, tctx),
    };
    const off = this.ctx.tools.register(handle);
    this.#tools.set(name, { declared, timeoutMs, off });
  }

  async #callTool(name: string, input: unknown, tctx: ToolContext): Promise<ToolResult> {
    const entry = this.#tools.get(name);
    const limit = entry?.timeoutMs !== undefined
      ? entry.timeoutMs + this.opts.toolGraceMs
      : this.opts.toolTimeoutMs;
    const out = await this.#use((session) => session.callTool(name, input, tctx, limit));
    const result = ToolResultSchema.safeParse(out);
    if (!result.success) throw new Error(`tool ${name} returned a malformed result`);
    return { content: result.data.content, isError: !!result.data.isError };
  }

  #provide(key: string, methods: string[]): void {
    let impl = this.#services.get(key);
    if (!impl) {
      impl = {};
      this.#services.set(key, impl);
      this.ctx.services.provide(defineKey(key), impl);
    }
    for (const method of methods.filter((m) => !RESERVED.has(m))) {
      impl[method] ??= (...args) => this.#use((session) => session.callService(key, method, args));
    }
  }
}
