// The SDK's stdio transport, but for a server confined by bubblewrap: the same view as run_shell's commands (the
// host read-only, protected paths masked, a fresh /tmp), the environment the config gives and nothing more.
// bwrap's --die-with-parent and its PID namespace take the server and its children down with the daemon.
import { Buffer } from "node:buffer";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { BWRAP, bwrapArgs, type ConfinedView } from "../../src/sandbox/bwrap.ts";
import type { StdioServerConfig } from "./config.ts";

const STDERR_TAIL = 2000;

export class ConfinedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  #child?: Deno.ChildProcess;
  #writer?: WritableStreamDefaultWriter<Uint8Array>;
  #closed = false;
  #stderr = "";

  constructor(readonly server: StdioServerConfig, readonly view: ConfinedView | undefined) {}

  /** The last of what the server wrote to stderr (for an error message). */
  stderrTail(): string {
    return this.#stderr.trim().split("\n").slice(-3).join(" ").slice(-500);
  }

  start(): Promise<void> {
    const { command, args, env, cwd } = this.server;
    const argv = this.view ? [BWRAP, ...bwrapArgs(this.view), command, ...args] : [command, ...args];
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      env,
      clearEnv: true,
      cwd: this.view ? undefined : cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    const reading = this.#read(child.stdout);
    const stderr = this.#readStderr(child.stderr);
    // Reported once its output is read to the end, so the reason it gave (its stderr) is known by then.
    Promise.all([child.status, reading, stderr]).then(() => this.#ended());
    return Promise.resolve();
  }

  async #read(stdout: ReadableStream<Uint8Array>): Promise<void> {
    const buffer = new ReadBuffer();
    try {
      for await (const chunk of stdout) {
        buffer.append(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)); // it searches as a Buffer
        for (;;) {
          let message: JSONRPCMessage | null;
          try {
            message = buffer.readMessage();
          } catch (error) {
            this.onerror?.(error as Error);
            continue;
          }
          if (!message) break;
          this.onmessage?.(message);
        }
      }
    } catch {
      // the process is gone; #ended reports it
    }
  }

  async #readStderr(stderr: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const text of stderr.pipeThrough(new TextDecoderStream())) {
        this.#stderr = (this.#stderr + text).slice(-STDERR_TAIL);
      }
    } catch {
      // gone
    }
  }

  #ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onclose?.();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (!this.#writer || this.#closed) throw new Error("the MCP server is not running");
    await this.#writer.write(new TextEncoder().encode(serializeMessage(message)));
  }

  async close(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    await this.#writer?.close().catch(() => {});
    try {
      child.kill("SIGKILL"); // bwrap's PID namespace ends with it, and everything the server started
    } catch {
      // already gone
    }
    await child.status;
    this.#ended();
  }
}
