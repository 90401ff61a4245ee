// One configured MCP server: connects through the SDK's client (stdio confined, or streamable HTTP), lists its
// tools, calls them with a time limit, and after a crash or a failed start tries again with a growing backoff.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import type { ConfinedView } from "../../src/sandbox/bwrap.ts";
import type { Logger, ToolResult } from "../../src/kernel/mod.ts";
import { isStdio, type ServerConfig } from "./config.ts";
import { ConfinedStdioTransport } from "./stdio.ts";
import type { McpServerState } from "./api.ts";

export interface McpToolInfo {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

export interface ServerOptions {
  /** The bubblewrap view of a stdio server; undefined runs it unconfined. Throws when it cannot be confined. */
  view: (config: ServerConfig) => ConfinedView | undefined;
  /** Called with the tool list after every (re)connection, and with [] when the server goes down. */
  onTools: (tools: McpToolInfo[]) => void;
  log: Logger;
  connectTimeoutMs: number;
  callTimeoutMs: number;
  restartBackoffMs: number;
  maxBackoffMs: number;
}

const MAX_RESULT_CHARS = 100_000;

export class McpServerConnection {
  state: McpServerState = "disconnected";
  error?: string;
  toolCount = 0;
  starts = 0;
  #client?: Client;
  #transport?: Transport;
  #starting?: Promise<void>;
  #timer?: ReturnType<typeof setTimeout>;
  #backoff: number;
  #stopped = false;

  constructor(readonly name: string, readonly config: ServerConfig, readonly opts: ServerOptions) {
    this.#backoff = opts.restartBackoffMs;
  }

  /** Connects unless connected or connecting; resolves when connected or failed (never rejects). */
  start(): Promise<void> {
    if (this.#stopped || this.state === "connected") return Promise.resolve();
    return this.#starting ??= this.#connect().finally(() => (this.#starting = undefined));
  }

  async #connect(): Promise<void> {
    clearTimeout(this.#timer);
    this.state = "connecting";
    this.starts++;
    const client = new Client({ name: "dispatch", version: "0.1.0" });
    let transport: Transport;
    try {
      transport = isStdio(this.config)
        ? new ConfinedStdioTransport(this.config, this.opts.view(this.config))
        : new StreamableHTTPClientTransport(new URL(this.config.url), {
          requestInit: { headers: this.config.headers },
        });
      this.#client = client;
      this.#transport = transport;
      client.onclose = () => this.#lost(client, "the server closed the connection");
      await client.connect(transport, { timeout: this.opts.connectTimeoutMs });
      const { tools } = await client.listTools(undefined, { timeout: this.opts.connectTimeoutMs });
      if (this.#client !== client) return;
      this.state = "connected";
      this.error = undefined;
      this.toolCount = tools.length;
      this.#backoff = this.opts.restartBackoffMs;
      this.opts.onTools(tools as McpToolInfo[]);
      this.opts.log.info("MCP server connected", { server: this.name, tools: tools.length });
    } catch (error) {
      if (this.#client !== client) return;
      this.#fail(client, `could not start: ${this.#describe(error)}`);
    }
  }

  #describe(error: unknown): string {
    const tail = this.#transport instanceof ConfinedStdioTransport ? this.#transport.stderrTail() : "";
    const message = error instanceof Error ? error.message : String(error);
    return tail ? `${message} (stderr: ${tail})` : message;
  }

  #lost(client: Client, why: string): void {
    if (this.#client !== client || this.#stopped) return;
    const when = this.state === "connecting" ? "could not start: " : "";
    this.#fail(client, when + this.#describe(new Error(why)));
  }

  #fail(client: Client, why: string): void {
    this.#client = undefined;
    void client.close().catch(() => {});
    this.state = "error";
    this.error = why;
    this.toolCount = 0;
    this.opts.onTools([]);
    const wait = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, this.opts.maxBackoffMs);
    this.opts.log.warn("MCP server down; restarting", { server: this.name, error: why, inMs: wait });
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.start(), wait);
  }

  /** One tool call; every failure (down, timeout, a protocol error) is a result the model can read. */
  async call(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<ToolResult> {
    if (this.state !== "connected") await this.start();
    const client = this.#client;
    if (this.state !== "connected" || !client) {
      return {
        content: `MCP server ${this.name} is unavailable: ${this.error ?? this.state}`,
        isError: true,
      };
    }
    const timeoutMs = this.config.timeoutMs ?? this.opts.callTimeoutMs;
    try {
      const result = await client.callTool({ name: tool, arguments: args }, undefined, {
        signal,
        timeout: timeoutMs,
      });
      return { content: formatContent(result), isError: result.isError === true };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // Not an answer from the server (a protocol error or a timeout is one): the connection is broken, e.g. an
      // HTTP server that went away, which no close event reports. Reconnect.
      if (!(error instanceof McpError) && !signal.aborted && this.#client === client) {
        this.#fail(client, `lost: ${message}`);
      }
      const timedOut = error instanceof McpError && (error as McpError).code === ErrorCode.RequestTimeout;
      return {
        content: timedOut
          ? `MCP tool ${tool} on ${this.name} did not answer within ${timeoutMs} ms`
          : `MCP tool ${tool} on ${this.name} failed: ${message}`,
        isError: true,
      };
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    this.state = "disconnected";
    await client?.close().catch(() => {});
    await this.#transport?.close().catch(() => {});
  }
}

/** A call result as text: text parts as they are, anything else named or as JSON; capped. */
function formatContent(result: Record<string, unknown>): string {
  const parts = Array.isArray(result.content) ? result.content as Record<string, unknown>[] : [];
  const text = parts.map((p) => {
    if (p.type === "text") return String(p.text);
    if (p.type === "image" || p.type === "audio") return `[${p.type}: ${p.mimeType}]`;
    if (p.type === "resource") {
      const r = p.resource as Record<string, unknown>;
      return typeof r?.text === "string" ? r.text : `[resource: ${r?.uri}]`;
    }
    if (p.type === "resource_link") return `[resource: ${p.uri}]`;
    return JSON.stringify(p);
  }).join("\n");
  const out = text || (result.structuredContent ? JSON.stringify(result.structuredContent) : "");
  return out.length > MAX_RESULT_CHARS ? `${out.slice(0, MAX_RESULT_CHARS)}\n[truncated]` : out;
}
