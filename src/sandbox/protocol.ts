// The messages between the daemon and a sandboxed extension's Worker. They cross a process boundary (the Worker
// runs in a sandbox host process, see host_process.ts) as JSON frames (frames.ts), and a thread boundary inside
// it. The daemon treats the other side as untrusted: what it sends is validated here before anything acts on it.
import { z } from "zod";
import type { ExtensionManifest, LogLevel } from "../kernel/contracts.ts";

/** Tool-call facts the worker needs to rebuild a ToolContext (the signal and emitOutput are bridged). */
export interface ToolCallInfo {
  conversationId: string;
  turnId: string;
  toolCallId: string;
  cwd?: string;
}

/** Calls the host makes into the worker. */
export type HostCall =
  | { op: "tool"; name: string; input: unknown; ctx: ToolCallInfo }
  | { op: "hook"; reg: number; value: unknown }
  | { op: "service"; key: string; method: string; args: unknown[] }
  | { op: "deactivate" }
  | { op: "ping" };

export type Reply = { t: "reply"; id: number; ok: true; value: unknown } | {
  t: "reply";
  id: number;
  ok: false;
  error: string;
};

/** The first frame the daemon sends a sandbox host process: how to start the extension's Worker. */
export interface BootMessage {
  t: "boot";
  /** The Worker's Deno permissions: exactly the manifest's. */
  permissions: Deno.PermissionOptionsObject;
  name: string;
  /** The host process exits (reporting "oom") when its resident memory passes this. */
  rssLimitBytes: number;
}

export type HostMessage =
  | {
    t: "init";
    moduleUrl: string;
    manifest: ExtensionManifest;
    config: Record<string, string>;
    /** Host service keys this extension may call (exposed to sandboxes and provided right now). */
    services: string[];
  }
  | { t: "call"; id: number; call: HostCall }
  | { t: "abort"; id: number }
  | { t: "event"; key: string; payload: unknown }
  | Reply;

const key = z.string().min(1).max(200);
/** Longest time limit a tool may declare for itself (a day: anything longer is a hang). */
export const MAX_TOOL_TIMEOUT_MS = 24 * 3600_000;
const id = z.number().int().nonnegative();
const LogLevelSchema = z.enum(["debug", "info", "warn", "error"]) satisfies z.ZodType<LogLevel>;

/** Calls the worker makes into the host. */
export const WorkerCallSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("service"), key, method: z.string().min(1).max(200), args: z.array(z.unknown()) }),
  z.object({ op: z.literal("run-hook"), key, value: z.unknown() }),
]);
export type WorkerCall = z.infer<typeof WorkerCallSchema>;

export const WorkerMessageSchema = z.discriminatedUnion("t", [
  z.object({ t: z.literal("activated") }),
  z.object({ t: z.literal("failed"), error: z.string() }),
  /** The extension called close() or Deno.exit(): the worker is going away without an error event. */
  z.object({ t: z.literal("exiting"), how: z.string() }),
  z.object({
    t: z.literal("reply"),
    id,
    ok: z.boolean(),
    value: z.unknown().optional(),
    error: z.string().optional(),
  }),
  z.object({ t: z.literal("call"), id, call: WorkerCallSchema }),
  z.object({
    t: z.literal("tool"),
    name: z.string(),
    description: z.string(),
    parameters: z.record(z.string(), z.unknown()),
    timeoutMs: z.number().int().positive().max(MAX_TOOL_TIMEOUT_MS).optional(),
  }),
  z.object({ t: z.literal("untool"), name: z.string() }),
  z.object({ t: z.literal("hook"), reg: id, key, priority: z.number().optional() }),
  z.object({ t: z.literal("unhook"), reg: id }),
  z.object({ t: z.literal("listen"), key }),
  z.object({ t: z.literal("unlisten"), key }),
  z.object({ t: z.literal("emit"), key, payload: z.unknown() }),
  z.object({ t: z.literal("provide"), key, methods: z.array(z.string().min(1).max(200)).max(200) }),
  z.object({
    t: z.literal("log"),
    level: LogLevelSchema,
    msg: z.string(),
    fields: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({ t: z.literal("output"), id, data: z.string(), stream: z.enum(["stdout", "stderr"]) }),
  // From the host process itself (host_process.ts) rather than the Worker.
  /** Its first frame: it runs (bubblewrap's set-up is over). */
  z.object({ t: z.literal("ready") }),
  /** The Worker died (uncaught error, or it could not be created). */
  z.object({ t: z.literal("crashed"), error: z.string() }),
  /** The host process is over its memory limit and exits. */
  z.object({ t: z.literal("oom"), rss: z.number() }),
  /** Messages the host process dropped for exceeding its rate limits, by kind, since the last report. */
  z.object({ t: z.literal("dropped"), counts: z.record(z.string(), z.number().int().nonnegative()) }),
]);
export type WorkerMessage = z.infer<typeof WorkerMessageSchema>;

/** "Name: message", ANSI colours stripped: Deno colours module-load errors, and the model reads this text. */
export function describeError(error: unknown): string {
  let text: string;
  if (error instanceof Error) {
    text = error.name && error.name !== "Error" ? `${error.name}: ${error.message}` : error.message;
  } else {
    text = String(error);
  }
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}
