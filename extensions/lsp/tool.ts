// The `lsp` tool: diagnostics (a file's, or every open file's), hover, definition, references and the symbols
// of a document, from the language server that handles the file. Positions are 1-based both ways.
import { z } from "zod";
import {
  DefinitionRequest,
  DocumentSymbolRequest,
  HoverRequest,
  ReferencesRequest,
} from "vscode-languageserver-protocol";
import { defineTool, fail } from "../../src/sdk/tool.ts";
import type { Tool } from "../../src/kernel/mod.ts";
import { formatDiagnostics, formatLocations, formatSymbols, hoverText } from "./format.ts";
import type { Lsp } from "./service.ts";

export const NAME = "lsp";
const OPERATIONS = ["diagnostics", "hover", "definition", "references", "documentSymbol"] as const;
const POSITIONED = new Set(["hover", "definition", "references"]);
/** How long one request to a server may take (a cold server loads its project first). */
export const REQUEST_TIMEOUT_MS = 60_000;

export const inputSchema = z.object({
  operation: z.enum(OPERATIONS).describe(
    "diagnostics: problems in `path` (or, without a path, in every file the servers have open); hover: type " +
      "and documentation at a position; definition: where the symbol at a position is defined; references: " +
      "every use of it; documentSymbol: the outline of `path`.",
  ),
  path: z.string().min(1).max(4096).optional().describe("File, relative to the working directory."),
  line: z.number().int().min(1).max(10_000_000).optional().describe(
    "Line, 1-based (hover, definition, references).",
  ),
  character: z.number().int().min(1).max(1_000_000).optional().describe(
    "Column, 1-based (hover, definition, references).",
  ),
});

export const description = [
  "Ask the language server of a file (TypeScript and JavaScript by default) about code: diagnostics, hover,",
  "definition, references or documentSymbol. Lines and columns are 1-based, as read_file shows them.",
  "edit_file and write_file already report a file's fresh diagnostics.",
].join(" ");

export function lspTool(lsp: Lsp, diagnosticsTimeoutMs: number): Tool<z.output<typeof inputSchema>> {
  return defineTool({
    name: NAME,
    description,
    inputSchema,
    async execute(input, ctx) {
      if (input.operation === "diagnostics" && input.path === undefined) {
        return await lsp.workspaceDiagnostics(ctx.cwd);
      }
      if (input.path === undefined) fail(`${input.operation} needs a path`);
      if (POSITIONED.has(input.operation) && (input.line === undefined || input.character === undefined)) {
        fail(`${input.operation} needs line and character (1-based)`);
      }
      const file = await lsp.open(ctx.cwd, input.path);
      const lines = file.text.split("\n");
      if (input.line !== undefined && input.line > lines.length) {
        fail(`${file.display} has ${lines.length} lines; line ${input.line} is past its end`);
      }
      const server = `(${file.spec.id})`;
      if (input.operation === "diagnostics") {
        const diagnostics = await lsp.fileDiagnostics(file, diagnosticsTimeoutMs, ctx.signal);
        if (diagnostics === undefined) {
          return {
            content: `${server} no diagnostics within ${diagnosticsTimeoutMs / 1000} s; try again`,
            isError: true,
          };
        }
        return diagnostics.length
          ? formatDiagnostics(file.display, diagnostics).join("\n")
          : `${server} no problems in ${file.display}`;
      }
      const { client, uri } = await lsp.synced(file);
      const textDocument = { uri };
      const position = { line: (input.line ?? 1) - 1, character: (input.character ?? 1) - 1 };
      const ask = <R>(work: Promise<R>) => timed(work, ctx.signal);
      const namer = lsp.namer(file.ws);
      switch (input.operation) {
        case "hover": {
          const text = hoverText(
            await ask(client.connection.sendRequest(HoverRequest.type, { textDocument, position })),
          );
          return text || `${server} nothing to show at ${file.display}:${input.line}:${input.character}`;
        }
        case "definition": {
          const found = await formatLocations(
            await ask(client.connection.sendRequest(DefinitionRequest.type, { textDocument, position })),
            namer,
          );
          return found.length
            ? found.join("\n")
            : `${server} no definition found at ${file.display}:${input.line}:${input.character}`;
        }
        case "references": {
          const found = await formatLocations(
            await ask(client.connection.sendRequest(ReferencesRequest.type, {
              textDocument,
              position,
              context: { includeDeclaration: true },
            })),
            namer,
          );
          return found.length
            ? found.join("\n")
            : `${server} no references found at ${file.display}:${input.line}:${input.character}`;
        }
        default: {
          const symbols = formatSymbols(
            await ask(client.connection.sendRequest(DocumentSymbolRequest.type, { textDocument })),
          );
          return symbols.length ? symbols.join("\n") : `${server} no symbols in ${file.display}`;
        }
      }
    },
  });
}

/** A request's answer, unless it takes over REQUEST_TIMEOUT_MS or the turn is aborted. */
async function timed<R>(work: Promise<R>, signal: AbortSignal): Promise<R> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the language server did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`)),
      REQUEST_TIMEOUT_MS,
    );
    onAbort = () => reject(new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}
