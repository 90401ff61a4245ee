// One running language server: spawned under bubblewrap like a shell command (spawnConfined: the host's
// filesystem read-only, the working directory and workspace roots read-only too, the protected paths masked,
// no network, its own PID namespace, and the lifeline that ends the sandbox when the daemon dies in any way),
// spoken to with vscode-jsonrpc.
//
// The lifeline is bwrap's stdin, so the server's stdin is a FIFO in a private folder shown read-only in the
// view (with a writable temporary folder beside it); the daemon holds it open read-write (never blocks, and its end closes with the daemon).
import { Readable, Writable } from "node:stream";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  createMessageConnection,
  type MessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from "vscode-jsonrpc/node";
import {
  type Diagnostic,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  PublishDiagnosticsNotification,
  ShutdownRequest,
} from "vscode-languageserver-protocol";
import { type ConfinedChild, spawnConfined } from "../../src/sandbox/bwrap.ts";
import { languageId, type PreparedCommand, type ServerSpec } from "./servers.ts";

export interface ClientOptions {
  spec: ServerSpec;
  prepared: PreparedCommand;
  /** The working directory (its real path): the server's root. */
  root: string;
  /** Shown read-only besides the root (the workspace roots: imports may reach above the root). */
  readOnly: string[];
  /** Masked in the view. */
  masked: string[];
  /** Called once when the server ends on its own (not by stop()). */
  onExit(reason: string): void;
}

interface Published {
  diagnostics: Diagnostic[];
  /** How many publications this document has had. */
  count: number;
}

const STDERR_KEEP = 2000;
const INITIALIZE_TIMEOUT_MS = 60_000;
const SHUTDOWN_GRACE_MS = 1000;

export class LspClient {
  #docs = new Map<string, { version: number; text: string }>();
  #published = new Map<string, Published>();
  #waiters = new Set<() => void>();
  #stopping = false;
  #stderr = "";

  private constructor(
    readonly child: ConfinedChild,
    readonly connection: MessageConnection,
    private readonly fifo: { file: Deno.FsFile; dir: string },
  ) {}

  get pid(): number {
    return this.child.pid;
  }

  /** Starts the server and completes the initialize handshake; throws (with the server's stderr) when it fails. */
  static async start(opts: ClientOptions): Promise<LspClient> {
    const dir = await Deno.makeTempDir({ prefix: "dispatch-lsp-" });
    const fifoPath = join(dir, "stdin");
    // The server's own temporary folder and HOME, writable (the view's /tmp may be a read-only workspace root).
    const tmp = join(dir, "tmp");
    let file: Deno.FsFile | undefined;
    let child: ConfinedChild | undefined;
    try {
      await Deno.mkdir(tmp);
      const made = await new Deno.Command("mkfifo", { args: ["-m", "600", fifoPath], stderr: "piped" })
        .output();
      if (!made.success) throw new Error(`mkfifo failed: ${new TextDecoder().decode(made.stderr).trim()}`);
      file = await Deno.open(fifoPath, { read: true, write: true });
      child = spawnConfined({
        view: {
          base: "host",
          readOnly: [opts.root, ...opts.readOnly],
          writable: [dir],
          masked: opts.masked,
          network: false,
          cwd: opts.root,
        },
        argv: ["bash", "-c", 'exec "$@" <"$0"', fifoPath, ...opts.prepared.command],
        env: {
          PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
          HOME: tmp,
          TMPDIR: tmp,
          NO_COLOR: "1",
          ...opts.prepared.env,
        },
        cwd: opts.root,
      });
    } catch (error) {
      file?.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
    const connection = createMessageConnection(
      new StreamMessageReader(Readable.fromWeb(child.stdout as never)),
      new StreamMessageWriter(fileWriter(file)),
    );
    const client = new LspClient(child, connection, { file, dir });
    client.#readStderr();
    connection.onNotification(PublishDiagnosticsNotification.type, (p) => {
      const prev = client.#published.get(p.uri);
      client.#published.set(p.uri, { diagnostics: p.diagnostics, count: (prev?.count ?? 0) + 1 });
      for (const wake of client.#waiters) wake();
    });
    // Servers ask for configuration and capability registrations; an empty answer keeps them going.
    connection.onRequest(() => null);
    connection.onError(() => {});
    connection.listen();
    child.status.then((status) => {
      connection.dispose();
      client.#cleanup();
      if (!client.#stopping) {
        const how = status.signal ? `killed by ${status.signal}` : `exit code ${status.code}`;
        opts.onExit(`the server ended (${how})${client.#lastWords()}`);
      }
    });
    try {
      const rootUri = pathToFileURL(opts.root).href;
      await withTimeout(
        connection.sendRequest(InitializeRequest.type, {
          processId: null,
          rootUri,
          workspaceFolders: [{ uri: rootUri, name: opts.root }],
          capabilities: {
            textDocument: {
              publishDiagnostics: { relatedInformation: false },
              hover: { contentFormat: ["plaintext", "markdown"] },
              definition: { linkSupport: false },
              documentSymbol: { hierarchicalDocumentSymbolSupport: true },
              synchronization: { didSave: false },
            },
            workspace: { workspaceFolders: true, configuration: false },
          },
          initializationOptions: {
            ...opts.spec.initializationOptions,
            ...opts.prepared.initializationOptions,
          },
        }),
        INITIALIZE_TIMEOUT_MS,
        "no answer to initialize",
        child.status.then(() => "the server ended while starting"),
      );
      await connection.sendNotification(InitializedNotification.type, {});
    } catch (error) {
      await client.stop();
      throw new Error(`${(error as Error).message}${client.#lastWords()}`);
    }
    return client;
  }

  /**
   * Sends the file's current text (opened the first time, changed when it differs). Returns the count of
   * diagnostics publications seen before the send, for `diagnostics` to wait for a newer one.
   */
  async sync(path: string, text: string): Promise<{ uri: string; changed: boolean; seen: number }> {
    const uri = pathToFileURL(path).href;
    const seen = this.#published.get(uri)?.count ?? 0;
    const doc = this.#docs.get(uri);
    if (!doc) {
      this.#docs.set(uri, { version: 1, text });
      await this.connection.sendNotification(DidOpenTextDocumentNotification.type, {
        textDocument: { uri, languageId: languageId(path), version: 1, text },
      });
      return { uri, changed: true, seen };
    }
    if (doc.text === text) return { uri, changed: false, seen };
    doc.version++;
    doc.text = text;
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version: doc.version },
      contentChanges: [{ text }],
    });
    return { uri, changed: true, seen };
  }

  /**
   * The diagnostics of `uri` published after `seen` publications, once none has followed for `settleMs` (a server
   * may publish syntax before semantic results); undefined when none came within `timeoutMs`.
   */
  async diagnostics(
    uri: string,
    seen: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Diagnostic[] | undefined> {
    const settleMs = 300;
    const deadline = Date.now() + timeoutMs;
    let lastCount = seen;
    let lastAt = 0;
    while (!signal?.aborted) {
      const now = Date.now();
      const current = this.#published.get(uri);
      if (current && current.count > lastCount) {
        lastCount = current.count;
        lastAt = now;
      }
      if (lastAt && now - lastAt >= settleMs) return this.#published.get(uri)!.diagnostics;
      if (now >= deadline) return lastAt ? this.#published.get(uri)!.diagnostics : undefined;
      const wait = lastAt ? Math.min(settleMs - (now - lastAt), deadline - now) : deadline - now;
      await this.#nextPublication(wait, signal);
    }
    return undefined;
  }

  /** Every document's latest diagnostics. */
  allDiagnostics(): Map<string, Diagnostic[]> {
    return new Map([...this.#published].map(([uri, p]) => [uri, p.diagnostics]));
  }

  /** Asks the server to shut down, then ends the sandbox (which ends every process in it). */
  async stop(): Promise<void> {
    if (this.#stopping) return await this.child.status.then(() => {});
    this.#stopping = true;
    try {
      await withTimeout(
        this.connection.sendRequest(ShutdownRequest.type).then(() =>
          this.connection.sendNotification(ExitNotification.type)
        ),
        SHUTDOWN_GRACE_MS,
        "late",
      );
    } catch {
      // gone or slow: the sandbox is ended below either way
    }
    await this.child.stop();
    this.#cleanup();
  }

  #nextPublication(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  async #readStderr(): Promise<void> {
    const stream = this.child.stderr;
    if (!stream) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        this.#stderr = (this.#stderr + decoder.decode(chunk, { stream: true })).slice(-STDERR_KEEP);
      }
    } catch {
      // the sandbox ended
    }
  }

  #lastWords(): string {
    const tail = this.#stderr.trim().split("\n").slice(-3).join("; ");
    return tail ? `: ${tail}` : "";
  }

  #cleaned = false;
  #cleanup(): void {
    if (this.#cleaned) return;
    this.#cleaned = true;
    try {
      this.fifo.file.close();
    } catch {
      // closed already
    }
    Deno.remove(this.fifo.dir, { recursive: true }).catch(() => {});
    for (const wake of this.#waiters) wake();
  }
}

/** A Node Writable over the FIFO, each chunk written whole, in order. */
function fileWriter(file: Deno.FsFile): Writable {
  return new Writable({
    write(chunk: Uint8Array, _encoding, callback) {
      (async () => {
        for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
      })().then(() => callback(), (error) => callback(error));
    },
  });
}

/** `work`, unless `ms` pass or `ended` settles first: then rejects with that reason. */
async function withTimeout<T>(
  work: Promise<T>,
  ms: number,
  why: string,
  ended?: Promise<string>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(why)), ms);
    ended?.then((reason) => reject(new Error(reason)));
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
