// Entry of every sandbox Worker (created by the sandbox host process, host_process.ts). Deno checks a Worker's
// *entry* module graph against the creating thread's permissions (the host process's: the extension's plus
// reading the program), so extension code must not be reached by a static import from here. It is loaded by a
// computed `import()`, which Deno checks, with its whole graph, against this worker's permissions.
//
// Modules statically imported here are already loaded when the extension runs, and importing a loaded module
// is not checked again: that is how a sandboxed extension can import the kernel (src/kernel/mod.ts) without
// read access to it. Keep this graph to code that is safe for any extension to hold.
import "../kernel/mod.ts";
// Preloaded so sandboxed extensions can import the kit without read access outside their own folder.
import "../sdk/mod.ts";
// Preloaded for run_shell, which confines its commands with bubblewrap (running it needs `run` permission).
import "./bwrap.ts";
import type { Deactivate } from "../kernel/contracts.ts";
import {
  describeError,
  type HostCall,
  type HostMessage,
  type WorkerCall,
  type WorkerMessage,
} from "./protocol.ts";
import { type Link, workerContext, workerLogger, type WorkerRegistry } from "./worker_context.ts";
import { CHATTER_BURST, CHATTER_PER_SECOND, ChatterLimiter, isChatter } from "./rate.ts";

interface WorkerScope {
  postMessage(msg: unknown): void;
  addEventListener(type: "message", fn: (e: MessageEvent<HostMessage>) => void): void;
  close(): void;
}
const scope = globalThis as unknown as WorkerScope;
// Chatter past its rate is dropped here, before it costs a copy across the thread boundary; the host process
// and the daemon count again, for code that posts around this.
const chatter = new ChatterLimiter(CHATTER_PER_SECOND, CHATTER_BURST);
const post = (msg: WorkerMessage) => {
  if (isChatter(msg.t) && !chatter.allow(msg.t)) return;
  scope.postMessage(msg);
};
setInterval(() => {
  const counts = chatter.drain();
  if (counts) scope.postMessage({ t: "dropped", counts } satisfies WorkerMessage);
}, 1000);

const pending = new Map<number, PromiseWithResolvers<unknown>>();
let nextId = 1;
const link: Link = {
  post,
  call(call: WorkerCall) {
    const id = nextId++;
    const p = Promise.withResolvers<unknown>();
    pending.set(id, p);
    post({ t: "call", id, call });
    return p.promise;
  },
};

let registry: WorkerRegistry | undefined;
let deactivate: Deactivate | undefined;
const aborts = new Map<number, AbortController>();

guardExits();
redirectConsole();

scope.addEventListener("message", (e) => {
  const msg = e.data;
  switch (msg.t) {
    case "init":
      return void init(msg);
    case "call":
      return void serve(msg.id, msg.call);
    case "abort":
      return aborts.get(msg.id)?.abort(new Error("aborted by the host"));
    case "event":
      for (const { fn } of registry?.listeners.get(msg.key) ?? []) {
        try {
          fn(msg.payload);
        } catch (error) {
          workerLogger(link).error("event listener threw", { event: msg.key, error: describeError(error) });
        }
      }
      return;
    case "reply": {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      return msg.ok ? p?.resolve(msg.value) : p?.reject(new Error(msg.error));
    }
  }
});

async function init(msg: Extract<HostMessage, { t: "init" }>): Promise<void> {
  let mod: { activate?: unknown };
  try {
    const specifier = msg.moduleUrl; // computed on purpose: see the header
    mod = await import(specifier);
  } catch (error) {
    return post({ t: "failed", error: `cannot load the extension: ${describeError(error)}` });
  }
  if (typeof mod.activate !== "function") {
    return post({ t: "failed", error: `${msg.moduleUrl} does not export activate()` });
  }
  try {
    const built = workerContext(link, msg);
    registry = built.registry;
    const out = await mod.activate(built.ctx);
    if (typeof out === "function") deactivate = out as Deactivate;
    post({ t: "activated" });
  } catch (error) {
    post({ t: "failed", error: describeError(error) });
  }
}

async function serve(id: number, call: HostCall): Promise<void> {
  try {
    post({ t: "reply", id, ok: true, value: await handle(id, call) });
  } catch (error) {
    post({ t: "reply", id, ok: false, error: describeError(error) });
  }
}

async function handle(id: number, call: HostCall): Promise<unknown> {
  if (call.op === "ping") return "pong";
  if (!registry) throw new Error("the extension is not active");
  switch (call.op) {
    case "tool": {
      const tool = registry.tools.get(call.name);
      if (!tool) throw new Error(`no tool ${call.name} in this sandbox`);
      const parsed = tool.parse(call.input);
      if (!parsed.ok) {
        return { content: `invalid arguments for ${call.name}: ${parsed.error}`, isError: true };
      }
      const controller = new AbortController();
      aborts.set(id, controller);
      try {
        return await tool.execute(parsed.value, {
          ...call.ctx,
          signal: controller.signal,
          emitOutput: (data, stream) => post({ t: "output", id, data: String(data), stream }),
        });
      } finally {
        aborts.delete(id);
      }
    }
    case "hook": {
      const handler = registry.hooks.get(call.reg);
      if (!handler) return undefined; // unregistered meanwhile: keep the value
      return await handler(call.value);
    }
    case "service": {
      const impl = registry.services.get(call.key) as Record<string, unknown> | undefined;
      const fn = impl?.[call.method];
      if (typeof fn !== "function") throw new Error(`service "${call.key}" has no method ${call.method}`);
      return await fn.apply(impl, call.args);
    }
    case "deactivate":
      return await deactivate?.();
  }
}

/** close() and Deno.exit() end a worker silently; tell the host first so pending calls fail at once. */
function guardExits(): void {
  const close = scope.close.bind(scope);
  scope.close = () => {
    post({ t: "exiting", how: "close()" });
    close();
  };
  const exit = Deno.exit;
  Object.defineProperty(Deno, "exit", {
    value: (code?: number) => {
      post({ t: "exiting", how: `Deno.exit(${code ?? ""})` });
      return exit(code);
    },
  });
}

/** Console output becomes log records tagged with the extension, instead of anonymous daemon stdout. */
function redirectConsole(): void {
  const log = workerLogger(link);
  const text = (args: unknown[]) =>
    args.map((a) => typeof a === "string" ? a : Deno.inspect(a, { colors: false })).join(" ");
  const c = console as unknown as Record<string, (...args: unknown[]) => void>;
  c.log = c.info = (...args) => log.info(text(args), { source: "console" });
  c.debug = (...args) => log.debug(text(args), { source: "console" });
  c.warn = (...args) => log.warn(text(args), { source: "console" });
  c.error = (...args) => log.error(text(args), { source: "console" });
}
