// The host's half of the bridge: spawns one extension's Worker and mirrors what the worker registers (tools,
// hooks, listeners, services) into the real registries as proxies whose calls cross into the worker.
import { z } from "zod";
import type {
  Deactivate,
  ExtensionContext,
  LogLevel,
  ToolContext,
  ToolHandle,
  ToolResult,
} from "../kernel/contracts.ts";
import { defineKey } from "../kernel/bus.ts";
import {
  describeError,
  type HostCall,
  type HostMessage,
  type WorkerCall,
  type WorkerMessage,
  WorkerMessageSchema,
} from "./protocol.ts";
import { sandboxConfig } from "./permissions.ts";

export type SandboxState = "starting" | "running" | "crashed" | "stopped";

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
  /** After a tool call is aborted, a worker that cannot answer a ping this fast is stuck and is terminated. */
  pingTimeoutMs: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onOutput?: ToolContext["emitOutput"];
}

const ToolResultSchema = z.object({ content: z.string(), isError: z.boolean().optional() });
/** Names that must never become proxy methods: `then` would make a proxy look like a promise. */
const RESERVED = new Set(["then", ...Object.getOwnPropertyNames(Object.prototype)]);

export class SandboxBridge {
  #state: SandboxState = "starting";
  #why = "";
  #worker?: Worker;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #tools = new Map<string, () => void>();
  #hooks = new Map<number, () => void>();
  #listeners = new Map<string, () => void>();
  #exposed: Set<string>;
  #startupErrors: string[] = [];
  #activation = Promise.withResolvers<void>();

  constructor(private readonly ctx: ExtensionContext, private readonly opts: BridgeOptions) {
    this.#exposed = new Set(opts.exposeServices);
  }

  get state(): SandboxState {
    return this.#state;
  }

  get #id(): string {
    return this.ctx.manifest.id;
  }

  /** Spawns the worker and waits for the extension's activate(); rejects (worker gone) on any failure. */
  async start(entry: URL, moduleUrl: URL, permissions: Deno.PermissionOptionsObject): Promise<Deactivate> {
    let worker: Worker;
    try {
      worker = new Worker(entry, { type: "module", name: `sandbox:${this.#id}`, deno: { permissions } });
    } catch (error) {
      this.#end("stopped", describeError(error)); // e.g. asking for more than the daemon itself has
      throw error;
    }
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent) => {
      try {
        this.#onMessage(e.data);
      } catch (error) {
        this.ctx.log.error("sandbox message handling failed", { error: describeError(error) });
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault(); // otherwise the worker's uncaught error takes the daemon down with it
      this.#crash(describeError(e.message));
    };
    worker.onmessageerror = () => this.ctx.log.warn("sandbox sent a message that could not be read");
    const services = this.opts.exposeServices.filter((id) =>
      this.ctx.services.get(defineKey(id)) !== undefined
    );
    this.#send({
      t: "init",
      moduleUrl: moduleUrl.href,
      manifest: this.ctx.manifest,
      config: sandboxConfig(this.ctx.config),
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
    return () => this.stop();
  }

  /** Lets the extension's deactivate run (bounded), then terminates the worker. */
  async stop(): Promise<void> {
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
    this.#end("stopped", "shut down");
  }

  // ---------------------------------------------------------------- worker → host

  #onMessage(raw: unknown): void {
    if (this.#state === "stopped" || this.#state === "crashed") return;
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
        return this.#registerTool(msg.name, msg.description, msg.parameters);
      case "untool":
        this.#tools.get(msg.name)?.();
        this.#tools.delete(msg.name);
        return;
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
        return this.#provide(msg.key, msg.methods);
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

  #registerTool(name: string, description: string, parameters: Record<string, unknown>): void {
    const handle: ToolHandle = {
      spec: { name, description, parameters },
      // The real parse happens in the worker, with the extension's own zod schema.
      parse: (input) => ({ ok: true, value: input }),
      execute: async (input, tctx) => {
        const { conversationId, turnId, toolCallId, cwd } = tctx;
        const out = await this.#call(
          { op: "tool", name, input, ctx: { conversationId, turnId, toolCallId, cwd } },
          { signal: tctx.signal, onOutput: tctx.emitOutput, what: `tool ${name}` },
        ).catch((error) => {
          if (tctx.signal.aborted) void this.#checkAlive();
          throw error;
        });
        const result = ToolResultSchema.safeParse(out);
        if (!result.success) throw new Error(`tool ${name} returned a malformed result`);
        return { content: result.data.content, isError: !!result.data.isError } satisfies ToolResult;
      },
    };
    this.#registered(() => {
      this.#tools.get(name)?.();
      this.#tools.set(name, this.ctx.tools.register(handle));
    });
  }

  #registerHook(reg: number, key: string, priority?: number): void {
    const handler = (value: unknown) =>
      this.#call({ op: "hook", reg, value }, { timeoutMs: this.opts.hookTimeoutMs, what: `hook ${key}` });
    this.#registered(() =>
      this.#hooks.set(reg, this.ctx.hooks.register(defineKey(key), handler, { priority }))
    );
  }

  #provide(key: string, methods: string[]): void {
    const impl: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const method of methods.filter((m) => !RESERVED.has(m))) {
      impl[method] = (...args) =>
        this.#call(
          { op: "service", key, method, args },
          { timeoutMs: this.opts.serviceTimeoutMs, what: `${key}.${method}` },
        );
    }
    this.#registered(() => this.ctx.services.provide(defineKey(key), impl));
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
    try {
      reply = { t: "reply", id, ok: true, value: await this.#handle(call) };
    } catch (error) {
      reply = { t: "reply", id, ok: false, error: describeError(error) };
    }
    if (!this.#send(reply) && reply.ok) {
      this.#send({
        t: "reply",
        id,
        ok: false,
        error: "the result cannot be sent into a sandbox (not cloneable)",
      });
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

  // ---------------------------------------------------------------- host → worker

  /** Posts a message; false when it could not be cloned (logged) or the worker is gone. */
  #send(msg: HostMessage): boolean {
    if (!this.#worker || this.#state === "stopped" || this.#state === "crashed") return false;
    try {
      this.#worker.postMessage(msg);
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

  /** A tool ignoring its signal is fine; a worker stuck in a synchronous loop would hang every later call. */
  async #checkAlive(): Promise<void> {
    try {
      await this.#call({ op: "ping" }, { timeoutMs: this.opts.pingTimeoutMs, what: "ping" });
    } catch (error) {
      if (this.#state === "running") this.#crash(`unresponsive after an abort (${describeError(error)})`);
    }
  }

  #crash(reason: string): void {
    if (this.#state === "starting") return this.#activation.reject(new Error(reason));
    if (this.#state !== "running") return;
    this.ctx.log.error("sandboxed extension crashed", { error: reason });
    // Hooks and listeners go at once: a dead hook would fail every hook run. Tools and services stay
    // registered and answer with the crash, which tells a model more than a vanished tool.
    this.#end("crashed", `crashed: ${reason}`);
    this.ctx.reportFailure(`crashed: ${reason}`);
  }

  #end(state: "stopped" | "crashed", why: string): void {
    this.#worker?.terminate();
    this.#state = state;
    this.#why = why;
    for (const off of [...this.#hooks.values(), ...this.#listeners.values()]) off();
    this.#hooks.clear();
    this.#listeners.clear();
    const error = new Error(`sandboxed extension ${this.#id} ${why}`);
    for (const pending of [...this.#pending.values()]) pending.reject(error);
  }
}

/** Service ids a sandbox may provide: its own namespace, so it cannot take a name a core extension needs. */
function ownKey(id: string, key: string): boolean {
  return key === id || key.startsWith(`${id}.`) || key.startsWith(`${id}:`) ||
    key.startsWith(`surface-handler:${id}`);
}
