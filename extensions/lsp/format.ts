// Language server answers as text for the model: positions 1-based, paths relative to the working directory;
// a line of source is quoted only for files inside it.
import { fileURLToPath } from "node:url";
import {
  type Diagnostic,
  DiagnosticSeverity,
  type DocumentSymbol,
  type Hover,
  type Location,
  type LocationLink,
  type MarkedString,
  type SymbolInformation,
  SymbolKind,
} from "vscode-languageserver-protocol";

/** Lists are cut here (the model can ask about a narrower place). */
export const MAX_ITEMS = 100;

const SEVERITY: Record<number, string> = {
  [DiagnosticSeverity.Error]: "error",
  [DiagnosticSeverity.Warning]: "warning",
  [DiagnosticSeverity.Information]: "info",
  [DiagnosticSeverity.Hint]: "hint",
};
const KIND_NAMES = new Map(Object.entries(SymbolKind).map(([name, n]) => [n as number, name]));

/** `file:line:col severity TS1234: message`, most severe first. */
export function formatDiagnostics(display: string, diagnostics: Diagnostic[]): string[] {
  return [...diagnostics]
    .sort((a, b) => (a.severity ?? 1) - (b.severity ?? 1) || a.range.start.line - b.range.start.line)
    .slice(0, MAX_ITEMS)
    .map((d) => {
      const code = d.code !== undefined ? ` ${d.source === "typescript" ? "TS" : ""}${d.code}` : "";
      const where = `${display}:${d.range.start.line + 1}:${d.range.start.character + 1}`;
      return `${where} ${SEVERITY[d.severity ?? 1] ?? "error"}${code}: ${
        (typeof d.message === "string" ? d.message : d.message.value).replace(/\s*\n\s*/g, " ")
      }`;
    });
}

export function hoverText(hover: Hover | null): string {
  if (!hover) return "";
  const part = (c: MarkedString | { kind: string; value: string }) =>
    typeof c === "string" ? c : "language" in c ? "```" + c.language + "\n" + c.value + "\n```" : c.value;
  const contents = hover.contents;
  return (Array.isArray(contents) ? contents.map(part) : [part(contents)]).join("\n\n").trim();
}

/** How the tool names a file: relative inside the working directory, absolute elsewhere (no text quoted). */
export interface Namer {
  name(path: string): { display: string; inside: boolean };
  /** Line `line` (0-based) of a file inside the working directory, or undefined. */
  line(path: string, line: number): Promise<string | undefined>;
}

export async function formatLocations(
  result: Location | Location[] | LocationLink[] | null,
  namer: Namer,
): Promise<string[]> {
  const list = result === null ? [] : Array.isArray(result) ? result : [result];
  const out: string[] = [];
  for (const item of list.slice(0, MAX_ITEMS)) {
    const uri = "targetUri" in item ? item.targetUri : item.uri;
    const range = "targetUri" in item ? item.targetSelectionRange : item.range;
    if (!uri.startsWith("file:")) {
      out.push(`${uri}:${range.start.line + 1}:${range.start.character + 1}`);
      continue;
    }
    const path = fileURLToPath(uri);
    const { display, inside } = namer.name(path);
    const text = inside ? await namer.line(path, range.start.line) : undefined;
    out.push(
      `${display}:${range.start.line + 1}:${range.start.character + 1}${text ? `: ${text.trim()}` : ""}`,
    );
  }
  if (list.length > MAX_ITEMS) out.push(`… ${list.length - MAX_ITEMS} more`);
  return out;
}

export function formatSymbols(result: DocumentSymbol[] | SymbolInformation[] | null): string[] {
  const out: string[] = [];
  const walk = (symbols: DocumentSymbol[], depth: number) => {
    for (const s of symbols) {
      if (out.length >= MAX_ITEMS * 2) return;
      const r = s.range;
      out.push(
        `${"  ".repeat(depth)}${KIND_NAMES.get(s.kind) ?? "Symbol"} ${s.name} ` +
          `${r.start.line + 1}:${r.start.character + 1}-${r.end.line + 1}:${r.end.character + 1}`,
      );
      if (s.children) walk(s.children, depth + 1);
    }
  };
  if (!result) return out;
  if (result.length > 0 && "location" in result[0]) {
    for (const s of (result as SymbolInformation[]).slice(0, MAX_ITEMS * 2)) {
      const r = s.location.range;
      out.push(
        `${KIND_NAMES.get(s.kind) ?? "Symbol"} ${s.name} ${r.start.line + 1}:${r.start.character + 1}`,
      );
    }
    return out;
  }
  walk(result as DocumentSymbol[], 0);
  return out;
}
