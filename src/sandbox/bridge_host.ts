// The daemon's half of the bridge, for one life of a sandbox host process: sends the extension its init, waits
// for its activate(), mirrors what the Worker registers (hooks and listeners here; tools and services through
// the supervisor, which keeps them across restarts) and carries calls both ways. Everything the process sends
// is validated, size-limited (frames.ts) and rate-limited before it costs the daemon anything.
import type { ExtensionContext, LogLevel, ToolContext } from "../kernel/contracts.ts";
import { defineKey } from "../kernel/bus.ts";
import {
  describeError,
  type HostCall,
  type HostMessage,
  type WorkerCall,
  type WorkerMessage,
  WorkerMessageSchema,
} from "./protocol.ts";
import { HostLink, type HostSpec } from "./host_link.ts";
import { ChatterLimiter, isChatter } from "./rate.ts";

export type SandboxState = "starting" | "idle" | "running" | "crashed" | "stopped";

export interface BridgeOptions {
  /** Host service keys a sandbox may call; nothing else in the registry is reachable from a worker. */
  exposeServices: readonly string[];
  /** Host event keys a sandbox may listen to and emit, and hook keys it may join or run: none unless listed. */
  listenEvents: readonly string[];
  emitEvents: readonly string[];
  hooks: readonly string[];
  activateTimeoutMs: number;
  hookTimeoutMs: number;
  serviceTimeoutMs: number;
  deactivateTimeoutMs: number;
  /** After a tool call is aborted or times out, a host that cannot answer a ping this fast is stuck: killed. */
  pingTimeoutMs: number;
}

/** What a session reports to its supervisor, which owns what outlives one host process. */
export interface SessionOwner {
  /** Config the extension gets: the host's non-secret settings plus its explicit grants. */
  config(): Record<string, string>;
  onTool(
    tool: { name: string; description: string; parameters: Record<string, unknown>; timeoutMs?: number },
  ): void;
  onUntool(name: string): void;
  onProvide(key: string, methods: string[]): void;
  /** The process ended on its own or was killed (not by stop()); `why` says how. */
  onCrash(session: SandboxSession, why: string): void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onOutput?: ToolContext["emitOutput"];
}

/** Frames of chatter (log, emit, output) the daemon takes per second and in a burst; the host's own are lower. */
const DAEMON_CHATTER_PER_SECOND = 2000;
const DAEMON_CHATTER_BURST = 10_000;
/** Dropped chatter past which the host is flooding on purpose (it bypassed its own limiter): it is killed. */
const FLOOD_KILL_AT = 50_000;
/** Calls from one sandbox into the daemon in flight at once; more are refused at once. */
const MAX_INBOUND_CALLS = 64;
/** Names that must never become proxy methods: `then` would make a proxy look like a promise. */
export const RESERVED = new Set(["then", ...Object.getOwnPropertyNames(Object.prototype)]);

export class SandboxSession {
  #state: SandboxState = "starting";
  #why = "";
  #link?: HostLink;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #hooks = new Map<number, () => void>();
  #listeners = new Map<string, () => void>();
  #exposed: Set<string>;
  #startupErrors: string[] = [];
  #activation = Promise.withResolvers<void>();
  #chatter = new ChatterLimiter(DAEMON_CHATTER_PER_SECOND, DAEMON_CHATTER_BURST);
  #inbound = 0;
  #stopping = false;
  readonly startedAt = Date.now();

  constructor(
    private readonly ctx: ExtensionContext,
    private readonly opts: BridgeOptions,
    private readonly owner: SessionOwner,
  ) {
    this.#exposed = new Set(opts.exposeServices);
    this.#activation.promise.catch(() => {}); // rejected when it ends early, even if nothing waits yet
  }

  get state(): SandboxState {
    return this.#state;
  }

  get why(): string {
    return this.#why;
  }

  get pid(): number | undefined {
    return this.#link?.pid;
  }

  get #id(): string {
    return this.ctx.manifest.id;
  }

  /** Spawns the host process and waits for the extension's activate(); rejects (process gone) on any failure. */
  async start(spec: HostSpec, moduleUrl: URL): Promise<void> {
    try {
      this.#link = HostLink.spawn(spec, {
        onMessages: (messages) => {
          for (const raw of messages) {
            try {
              this.#onMessage(raw);
            } catch (error) {
              this.ctx.log.error("sandbox message handling failed", { error: describeError(error) });
            }
          }
        },
        onExit: (why) => this.#exited(why),
        onStderr: (line) => {
          if (this.#chatter.allow("log")) {
            this.ctx.log.warn("sandbox host stderr", { line: line.slice(0, 2000) });
          }
        },
      });
    } catch (error) {
      this.#end("stopped", describeError(error));
      throw error;
    }
    const services = this.opts.exposeServices.filter((id) =>
      this.ctx.services.get(defineKey(id)) !== undefined
    );
    this.#send({
      t: "init",
      moduleUrl: moduleUrl.href,
      manifest: this.ctx.manifest,
      config: this.owner.config(),
      services,
    });
    const ms = this.opts.activateTimeoutMs;
    const timer = setTimeout(
      () => this.#activation.reject(new Error(`did not activate within ${ms} ms`)),
      ms,
    );
    try {
      await this.#activation.promise;
      if (this.#startupErrors.length > 0) throw new Error(this.#startupErrors.join("; "));
    } catch (error) {
      this.#end("stopped", describeError(error));
      throw error;
    } finally {
      clearTimeout(timer);
    }
    this.#state = "running";
  }

  /** Lets the extension's deactivate run (bounded), then ends the process. */
  async stop(why = "shut down"): Promise<void> {
    this.#stopping = true;
    if (this.#state === "running") {
      try {
        await this.#call({ op: "deactivate" }, {
          timeoutMs: this.opts.deactivateTimeoutMs,
          what: "deactivate",
        });
      } catch (error) {
        this.ctx.log.warn("sandboxed deactivate failed", { error: describeError(error) });
      }
    }
    this.#end("stopped", why);
    await this.#link?.done;
  }

  /** One tool call. `limitMs` bounds it: past that the call fails, and a host that is stuck is killed. */
  async callTool(name: string, input: unknown, tctx: ToolContext, limitMs: number): Promise<unknown> {
    const { conversationId, turnId, toolCallId, cwd } = tctx;
    try {
      return await this.#call(
        { op: "tool", name, input, ctx: { conversationId, turnId, toolCallId, cwd } },
        { signal: tctx.signal, onOutput: tctx.emitOutput, what: `tool ${name}`, timeoutMs: limitMs },
      );
    } catch (error) {
      if (tctx.signal.aborted || /timed out/.test((error as Error).message)) void this.#checkAlive();
      throw error;
    }
  }

  callService(key: string, method: string, args: unknown[]): Promise<unknown> {
    return this.#call(
      { op: "service", key, method, args },
      { timeoutMs: this.opts.serviceTimeoutMs, what: `${key}.${method}` },
    );
  }

  // ---------------------------------------------------------------- host process → daemon

  #onMessage(raw: unknown): void {
    if (this.#state === "stopped" || this.#state === "crashed") return;
    const kind = (raw as { t?: unknown } | null)?.t;
    // Chatter is counted before it is validated: a flood costs one property read per frame.
    if (isChatter(kind) && !this.#chatter.allow(kind)) {
      if (this.#chatter.total >= FLOOD_KILL_AT) {
        this.#link?.kill(`flooded the bridge (over ${FLOOD_KILL_AT} messages dropped)`);
      }
      return;
    }
    const parsed = WorkerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.ctx.log.warn("sandbox sent an invalid message", { error: parsed.error.issues[0]?.message });
      return;
    }
    const msg: WorkerMessage = parsed.data;
    switch (msg.t) {
      case "activated":
        return this.#activation.resolve();
      case "failed":
        return this.#activation.reject(new Error(msg.error));
      case "exiting":
        return this.#crash(`the extension called ${msg.how}`);
      case "crashed":
        return this.#crash(msg.error);
      case "oom":
        return this.#crash(`ran out of memory (${Math.round(msg.rss / 1048576)} MiB resident)`);
      case "ready":
        return;
      case "dropped":
        return this.ctx.log.warn("sandbox messages dropped (rate limit)", { dropped: msg.counts });
      case "reply": {
        const pending = this.#pending.get(msg.id);
        if (!pending) return; // aborted or timed out already
        return msg.ok ? pending.resolve(msg.value) : pending.reject(new Error(msg.error ?? "failed"));
      }
      case "call":
        return void this.#serve(msg.id, msg.call);
      case "output":
        return this.#pending.get(msg.id)?.onOutput?.(msg.data, msg.stream);
      case "log":
        return this.ctx.log[msg.level as LogLevel](msg.msg, msg.fields);
      case "emit":
        if (!this.#allowed(this.opts.emitEvents, msg.key, "emit event")) return;
        return this.ctx.events.emit(defineKey(msg.key), msg.payload);
      case "tool":
        return this.#registered(() => this.owner.onTool(msg));
      case "untool":
        return this.owner.onUntool(msg.name);
      case "hook":
        if (!this.#allowed(this.opts.hooks, msg.key, "join hook")) return;
        return this.#registerHook(msg.reg, msg.key, msg.priority);
      case "unhook":
        this.#hooks.get(msg.reg)?.();
        this.#hooks.delete(msg.reg);
        return;
      case "listen":
        if (!this.#allowed(this.opts.listenEvents, msg.key, "listen to event")) return;
        if (!this.#listeners.has(msg.key)) {
          const forward = (payload: unknown) => this.#send({ t: "event", key: msg.key, payload });
          this.#listeners.set(msg.key, this.ctx.events.on(defineKey(msg.key), forward));
        }
        return;
      case "unlisten":
        this.#listeners.get(msg.key)?.();
        this.#listeners.delete(msg.key);
        return;
      case "provide":
        if (!ownKey(this.#id, msg.key)) {
          return this.#refused(
            `may only provide services named after itself ("${this.#id}", "${this.#id}.*", ` +
              `"surface-handler:${this.#id}*"), not "${msg.key}"`,
          );
        }
        return this.#registered(() => this.owner.onProvide(msg.key, msg.methods));
    }
  }

  /** The worker is untrusted: what it may touch on the host's buses is the composition root's allow-list. */
  #allowed(list: readonly string[], key: string, what: string): boolean {
    if (list.includes(key)) return true;
    this.#refused(`may not ${what} "${key}" (not in its sandbox allow-list)`);
    return false;
  }

  #refused(why: string): void {
    this.#registered(() => {
      throw new Error(`sandboxed extension ${this.#id} ${why}`);
    });
  }

  #registerHook(reg: number, key: string, priority?: number): void {
    const handler = (value: unknown) =>
      this.#call({ op: "hook", reg, value }, { timeoutMs: this.opts.hookTimeoutMs, what: `hook ${key}` });
    this.#registered(() =>
      this.#hooks.set(reg, this.ctx.hooks.register(defineKey(key), handler, { priority }))
    );
  }

  /** A refused registration fails activation (as a throwing register() would in-process); later, it is logged. */
  #registered(register: () => void): void {
    try {
      register();
    } catch (error) {
      if (this.#state === "starting") this.#startupErrors.push(describeError(error));
      else this.ctx.log.error("sandbox registration refused", { error: describeError(error) });
    }
  }

  async #serve(id: number, call: WorkerCall): Promise<void> {
    let reply: HostMessage;
    if (this.#inbound >= MAX_INBOUND_CALLS) {
      reply = { t: "reply", id, ok: false, error: `over ${MAX_INBOUND_CALLS} calls in flight` };
    } else {
      this.#inbound++;
      try {
        reply = { t: "reply", id, ok: true, value: await this.#handle(call) };
      } catch (error) {
        reply = { t: "reply", id, ok: false, error: describeError(error) };
      } finally {
        this.#inbound--;
      }
    }
    if (!this.#send(reply) && reply.ok) {
      this.#send({ t: "reply", id, ok: false, error: "the result cannot be sent into a sandbox (not JSON)" });
    }
  }

  #handle(call: WorkerCall): Promise<unknown> {
    switch (call.op) {
      case "run-hook":
        if (!this.opts.hooks.includes(call.key)) {
          throw new Error(`hook "${call.key}" is not in this sandbox's allow-list`);
        }
        return this.ctx.hooks.run(defineKey(call.key), call.value);
      case "service": {
        if (!this.#exposed.has(call.key)) {
          throw new Error(`service "${call.key}" is not exposed to sandboxed extensions`);
        }
        const impl = this.ctx.services.get<Record<string, unknown>>(defineKey(call.key));
        if (impl === undefined) throw new Error(`service "${call.key}" is not provided`);
        const fn = RESERVED.has(call.method) ? undefined : impl[call.method];
        if (typeof fn !== "function") throw new Error(`service "${call.key}" has no method ${call.method}`);
        return Promise.resolve(fn.apply(impl, call.args));
      }
    }
  }

  // ---------------------------------------------------------------- daemon → host process

  /** Sends a message; false when it cannot be (not JSON, too big: logged) or the process is gone. */
  #send(msg: HostMessage): boolean {
    if (!this.#link || this.#state === "stopped" || this.#state === "crashed") return false;
    try {
      this.#link.send(msg);
      return true;
    } catch (error) {
      this.ctx.log.warn("message not sent to sandbox", { kind: msg.t, error: describeError(error) });
      return false;
    }
  }

  /** One call into the worker. Abort and timeout settle at once; a late reply is dropped. */
  #call(
    call: HostCall,
    opts: { what: string; signal?: AbortSignal; timeoutMs?: number; onOutput?: Pending["onOutput"] },
  ): Promise<unknown> {
    if (this.#state === "stopped" || this.#state === "crashed") {
      return Promise.reject(new Error(`sandboxed extension ${this.#id} is not running (${this.#why})`));
    }
    if (opts.signal?.aborted) return Promise.reject(new Error(`${opts.what} aborted`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        this.#pending.delete(id);
        fn();
      };
      const giveUp = (why: string) =>
        settle(() => {
          this.#send({ t: "abort", id });
          reject(new Error(`${opts.what} ${why}`));
        });
      const onAbort = () => giveUp("aborted");
      const timer = opts.timeoutMs
        ? setTimeout(() => giveUp(`timed out after ${opts.timeoutMs} ms`), opts.timeoutMs)
        : undefined;
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (value) => settle(() => resolve(value)),
        reject: (error) => settle(() => reject(error)),
        onOutput: opts.onOutput,
      });
      if (!this.#send({ t: "call", id, call })) {
        settle(() => reject(new Error(`${opts.what}: its arguments cannot be sent into the sandbox`)));
      }
    });
  }

  // ---------------------------------------------------------------- ending

  /** A tool ignoring its signal is fine; a host stuck in a synchronous loop would hang every later call. */
  async #checkAlive(): Promise<void> {
    try {
      await this.#call({ op: "ping" }, { timeoutMs: this.opts.pingTimeoutMs, what: "ping" });
      this.ctx.log.debug("sandbox still answers after a call it gave up on");
    } catch (error) {
      if (this.#state === "running") this.#crash(`unresponsive after an abort (${describeError(error)})`);
    }
  }

  #exited(why: string): void {
    if (this.#state === "starting") return this.#activation.reject(new Error(`its host process ${why}`));
    if (this.#state === "running" && !this.#stopping) this.#crash(`its host process ${why}`);
    else this.#end(this.#state === "crashed" ? "crashed" : "stopped", this.#why || why);
  }

  #crash(reason: string): void {
    if (this.#state === "starting") return this.#activation.reject(new Error(reason));
    if (this.#state !== "running") return;
    this.ctx.log.error("sandboxed extension crashed", { error: reason });
    this.#end("crashed", `crashed: ${reason}`);
    this.owner.onCrash(this, reason);
  }

  #end(state: "stopped" | "crashed", why: string): void {
    if (this.#state === "stopped" || this.#state === "crashed") return;
    this.#link?.kill(why);
    this.#state = state;
    this.#why = why;
    for (const off of [...this.#hooks.values(), ...this.#listeners.values()]) off();
    this.#hooks.clear();
    this.#listeners.clear();
    const error = new Error(`sandboxed extension ${this.#id} ${why}`);
    this.#activation.reject(error); // a start still waiting ends now (a settled one ignores this)
    for (const pending of [...this.#pending.values()]) pending.reject(error);
  }
}

/** Service ids a sandbox may provide: its own namespace, so it cannot take a name a core extension needs. */
function ownKey(id: string, key: string): boolean {
  return key === id || key.startsWith(`${id}.`) || key.startsWith(`${id}:`) ||
    key.startsWith(`surface-handler:${id}`);
}
