// The extension's working part, between the tool, the edit hook, the status route and the manager: which
// servers a working directory has, and the files they are asked about, read through the workspace's
// containment (inside the cwd, never a protected path) before any server hears of them.
import type { Diagnostic } from "vscode-languageserver-protocol";
import { Workspace } from "../../src/sdk/workspace.ts";
import { fail } from "../../src/sdk/tool.ts";
import { MAX_TEXT_FILE_BYTES } from "../../src/sdk/text.ts";
import { isInside } from "../../src/sdk/roots.ts";
import type { LspServerInfo, LspService } from "./api.ts";
import type { LspClient } from "./client.ts";
import type { LspManager } from "./manager.ts";
import { serverForFile, type ServerSpec, type ServerTable } from "./servers.ts";
import { formatDiagnostics, type Namer } from "./format.ts";

export interface OpenedFile {
  ws: Workspace;
  path: string;
  display: string;
  text: string;
  spec: ServerSpec;
}

export class Lsp implements LspService {
  constructor(
    private readonly manager: LspManager,
    private readonly table: ServerTable,
    private readonly protectedPaths: string[],
  ) {}

  async status(cwd: string, opts: { start?: boolean } = {}): Promise<LspServerInfo[]> {
    let ws: Workspace;
    let specs: ServerSpec[];
    try {
      ws = await Workspace.open(cwd, this.protectedPaths);
      specs = this.servers(ws);
    } catch (error) {
      return [{
        id: "config",
        name: "Language server configuration",
        root: cwd,
        extensions: [],
        state: "error",
        error: (error as Error).message,
      }];
    }
    if (opts.start) {
      for (const info of this.manager.info(specs, ws.root)) {
        if (info.state === "not-started") this.manager.warm(specs.find((s) => s.id === info.id)!, ws.root);
      }
    }
    return this.manager.info(specs, ws.root);
  }

  /** The servers of a working directory (the operator's table, by its real path). */
  servers(ws: Workspace): ServerSpec[] {
    return this.table.for(ws.root);
  }

  /** A file the model names, checked and read; fails (ToolFailure) with a reason it can act on. */
  async open(cwd: string | undefined, path: string): Promise<OpenedFile> {
    const ws = await Workspace.open(cwd, this.protectedPaths);
    const target = await ws.resolve(path);
    if (!target.info) fail(`${path} does not exist`);
    if (!target.info.isFile) fail(`${target.display} is not a regular file`);
    if (target.info.size > MAX_TEXT_FILE_BYTES) {
      fail(`${target.display} is too large for the language server`);
    }
    const specs = this.servers(ws);
    const spec = serverForFile(specs, target.path);
    if (!spec) {
      const handled = [...new Set(specs.flatMap((s) => s.extensions))].join(" ");
      fail(`no language server handles ${target.display} here (configured for: ${handled || "nothing"})`);
    }
    const text = decode(await ws.readFile(target, MAX_TEXT_FILE_BYTES), target.display);
    return { ws, path: target.path, display: target.display, text, spec };
  }

  /** The running server for an opened file, with the file's current text sent to it. */
  async synced(file: OpenedFile): Promise<{ client: LspClient; uri: string; seen: number }> {
    const client = await this.manager.client(file.spec, file.ws.root);
    const { uri, seen } = await client.sync(file.path, file.text);
    return { client, uri, seen };
  }

  /**
   * Fresh diagnostics of one file: what its server publishes after hearing its current text. `timeoutMs` bounds
   * the whole wait, a server's start included (it goes on starting in the background); undefined when it ran out.
   */
  async fileDiagnostics(
    file: OpenedFile,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Diagnostic[] | undefined> {
    const deadline = Date.now() + timeoutMs;
    const starting = this.manager.client(file.spec, file.ws.root);
    const client = await within(starting, timeoutMs);
    if (!client) {
      starting.catch(() => {});
      return undefined;
    }
    const { uri, seen } = await client.sync(file.path, file.text);
    return await client.diagnostics(uri, seen, Math.max(0, deadline - Date.now()), signal);
  }

  /**
   * The note appended to edit_file's and write_file's result: the edited file's diagnostics, or "" when no
   * server handles it (or it cannot be read: the edit tool has already said why).
   */
  async afterEdit(cwd: string, path: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    let file: OpenedFile;
    try {
      file = await this.open(cwd, path);
    } catch {
      return "";
    }
    let diagnostics: Diagnostic[] | undefined;
    try {
      diagnostics = await this.fileDiagnostics(file, timeoutMs, signal);
    } catch (error) {
      return `\n\nLSP (${file.spec.id}): no diagnostics: ${(error as Error).message}`;
    }
    if (diagnostics === undefined) {
      return `\n\nLSP (${file.spec.id}): no diagnostics within ${
        Math.round(timeoutMs / 1000)
      } s (the server is still starting or loading the project; the lsp tool can ask again)`;
    }
    if (diagnostics.length === 0) return `\n\nLSP (${file.spec.id}): no problems in ${file.display}`;
    return `\n\nLSP (${file.spec.id}) diagnostics for ${file.display}:\n${
      formatDiagnostics(file.display, diagnostics).join("\n")
    }`;
  }

  /** Everything the servers of `cwd` have published, for files inside it. */
  async workspaceDiagnostics(cwd: string | undefined): Promise<string> {
    const ws = await Workspace.open(cwd, this.protectedPaths);
    const lines: string[] = [];
    let files = 0;
    for (const { diagnostics } of this.manager.diagnosticsOf(ws.root)) {
      for (const [uri, list] of diagnostics) {
        const path = new URL(uri).pathname;
        if (!isInside(decodeURIComponent(path), ws.root)) continue;
        files++;
        lines.push(...formatDiagnostics(ws.display(decodeURIComponent(path)), list));
      }
    }
    if (files === 0) {
      return "No language server has looked at any file here yet: ask for one file's diagnostics first " +
        "(servers report on the files they have open).";
    }
    return lines.length
      ? lines.join("\n")
      : `No problems in the ${files} file${files === 1 ? "" : "s"} the language servers have open.`;
  }

  /** Names and quotes locations for the formatter, through the workspace's containment. */
  namer(ws: Workspace): Namer {
    const cache = new Map<string, string[] | undefined>();
    return {
      name: (path) =>
        isInside(path, ws.root)
          ? { display: ws.display(path), inside: true }
          : { display: path, inside: false },
      line: async (path, line) => {
        if (!cache.has(path)) {
          try {
            const target = await ws.resolve(ws.display(path));
            cache.set(
              path,
              decode(await ws.readFile(target, MAX_TEXT_FILE_BYTES), target.display).split("\n"),
            );
          } catch {
            cache.set(path, undefined);
          }
        }
        return cache.get(path)?.[line]?.slice(0, 200);
      },
    };
  }
}

/** `work`'s value, or undefined once `ms` have passed (a failure still rejects). */
async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

function decode({ bytes }: { bytes: Uint8Array }, name: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    fail(`${name} is not UTF-8 text`);
  }
}
