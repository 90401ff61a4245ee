// The kernel ABI: what an extension may rely on and what it may provide. Types only, plus the manifest schema
// (manifests come from outside the kernel and are validated at the door).
import { z } from "zod";
import type { Usage } from "./wire.ts";
import { defineKey, type Events, type Hooks, type Key, type Services } from "./bus.ts";
import type { Tools } from "./tools.ts";

// ---------------------------------------------------------------- messages sent to a model

export type AssistantPart =
  | { type: "text"; text: string }
  | { type: "reasoning"; text: string }
  | { type: "tool-call"; toolCallId: string; toolName: string; input: unknown };

export interface ToolResultPart {
  toolCallId: string;
  toolName: string;
  content: string;
  isError: boolean;
}

export type ModelMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | { role: "assistant"; parts: AssistantPart[] }
  | { role: "tool"; results: ToolResultPart[] };

// ---------------------------------------------------------------- providers: one streamed model call

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the input, derived from the tool's zod schema. */
  parameters: Record<string, unknown>;
}

export interface ModelRequest {
  model: string;
  messages: ModelMessage[];
  tools: ToolSpec[];
  reasoningEffort?: string;
  maxOutputTokens?: number;
}

export type ModelStreamPart =
  | { type: "text-delta"; delta: string }
  | { type: "reasoning-delta"; delta: string }
  | { type: "tool-call"; toolCallId: string; toolName: string; input: unknown }
  | { type: "usage"; usage: Usage }
  | { type: "finish"; reason: string }
  /** The provider will call again after `delayMs` (a transient failure; nothing of the failed call was yielded). */
  | { type: "retry"; attempt: number; delayMs: number; message: string; code?: string };

export interface ModelInfo {
  id: string;
  contextWindow?: number;
}

export interface Provider {
  readonly id: string;
  listModels(signal?: AbortSignal): Promise<ModelInfo[]>;
  /** One model call. Throws ProviderError on failure; ends early (without throwing) when aborted. */
  stream(request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelStreamPart>;
}

export class ProviderError extends Error {
  constructor(message: string, readonly code = "provider_error", readonly status?: number) {
    super(message);
    this.name = "ProviderError";
  }
}

// ---------------------------------------------------------------- tools

export interface ToolContext {
  signal: AbortSignal;
  conversationId: string;
  turnId: string;
  toolCallId: string;
  /** The conversation's working directory, absolute, or undefined when none is set. */
  cwd?: string;
  /** Live output of a running tool (becomes `tool-output` events). */
  emitOutput(data: string, stream: "stdout" | "stderr"): void;
}

export interface ToolResult {
  content: string;
  isError?: boolean;
}

export interface Tool<I = unknown> {
  name: string;
  description: string;
  inputSchema: z.ZodType<I>;
  execute(input: I, ctx: ToolContext): Promise<ToolResult | string>;
  /** The longest one call may take, when the tool bounds itself (a sandbox's call limit is set above it). */
  timeoutMs?: number;
}

/** A tool as the turn loop sees it: schema already in JSON form, input validated by whoever registered it. */
export interface ToolHandle {
  spec: ToolSpec;
  /** Parses raw model arguments; returns an error message the model can read when they do not fit. */
  parse(input: unknown): { ok: true; value: unknown } | { ok: false; error: string };
  execute(input: unknown, ctx: ToolContext): Promise<ToolResult>;
}

// ---------------------------------------------------------------- storage, clock, log

/** The storage contract: a synchronous SQL database (node:sqlite's shape). Backends provide `openDatabase`. */
export interface SqlStatement {
  run(...params: SqlValue[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: SqlValue[]): Record<string, SqlValue> | undefined;
  all(...params: SqlValue[]): Record<string, SqlValue>[];
}
export type SqlValue = string | number | bigint | null | Uint8Array;
export interface SqlDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  transaction<T>(fn: () => T): T;
  close(): void;
}
export interface Storage {
  /** Opens (creating if needed) a named database owned by the caller. */
  openDatabase(name: string): SqlDatabase;
}

export interface Clock {
  now(): number;
}

export type LogLevel = "debug" | "info" | "warn" | "error";
export interface LogRecord {
  time: number;
  level: LogLevel;
  msg: string;
  ext?: string;
  [field: string]: unknown;
}
export interface LogSink {
  write(record: LogRecord): void;
}
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

// ---------------------------------------------------------------- extensions

/** Deno permissions an extension asks for; a sandboxed extension gets exactly these and nothing else. */
const PermissionList = z.union([z.boolean(), z.array(z.string().min(1)).max(64)]);
export const PermissionsSchema = z.object({
  read: PermissionList.optional(),
  write: PermissionList.optional(),
  net: PermissionList.optional(),
  env: PermissionList.optional(),
  run: PermissionList.optional(),
  sys: PermissionList.optional(),
  ffi: z.literal(false).optional(),
  import: PermissionList.optional(),
}).strict();
export type Permissions = z.infer<typeof PermissionsSchema>;

/**
 * A tool an extension promises to register, so the daemon can offer it before the extension runs (a sandboxed
 * extension declaring its tools starts on the first call). Build it with `toolSpec` from the same zod schema the
 * module registers: the sandbox refuses a registration whose spec differs from the declaration.
 */
export const ToolDeclarationSchema = z.object({
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
  description: z.string().min(1),
  parameters: z.record(z.string(), z.unknown()),
  /** The longest one call may take (a tool with its own timeout declares it); the bridge's limit is above it. */
  timeoutMs: z.number().int().positive().max(24 * 3600_000).optional(),
}).strict();
export type ToolDeclaration = z.infer<typeof ToolDeclarationSchema>;

/**
 * The version of this ABI (the contracts in this file and the bus's). A manifest may name the one it was written
 * for: the host refuses one naming another, and external extensions must name it.
 */
export const KERNEL_ABI = 1;

export const ManifestSchema = z.object({
  /** The kernel ABI the extension was written for (KERNEL_ABI). */
  abi: z.number().int().positive().optional(),
  id: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "id must be lower-case letters, digits and dashes"),
  version: z.string().min(1),
  description: z.string().min(1),
  dependsOn: z.array(z.string()).default([]),
  permissions: PermissionsSchema.default({}),
  /** Core extensions run in the daemon's process with its rights; the rest run sandboxed in a Worker. */
  core: z.boolean().default(false),
  /** The tools the extension registers, declared up front (see ToolDeclarationSchema). */
  tools: z.array(ToolDeclarationSchema).max(64).optional(),
}).strict();
export type ExtensionManifest = z.infer<typeof ManifestSchema>;
export type ManifestInput = z.input<typeof ManifestSchema>;

/** What `activate` receives. Everything an extension touches comes through here. */
export interface ExtensionContext {
  readonly manifest: ExtensionManifest;
  readonly services: Services;
  readonly hooks: Hooks;
  readonly events: Events;
  readonly tools: Tools;
  readonly log: Logger;
  readonly clock: Clock;
  /** Non-secret settings (env-derived); secrets are only reachable through core services. */
  readonly config: Readonly<Record<string, string>>;
  /** Says the extension can no longer work after activation (a crashed sandbox): the host lists it as failed. */
  reportFailure(reason: string): void;
  /** Says a failure reported earlier is over (a restarted sandbox): the host lists the extension as active. */
  reportRecovered?(): void;
}

export type Deactivate = () => void | Promise<void>;

export interface ExtensionModule {
  activate(ctx: ExtensionContext): void | Deactivate | Promise<void | Deactivate>;
}

/** Where the storage backend is found; storage-sqlite provides it. */
export const StorageKey: Key<Storage> = defineKey<Storage>("storage");
