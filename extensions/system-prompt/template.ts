// The template language, pure: `[type:name]` inserts a variable; `[if type:name]…[else]…[endif]` keeps a section
// only when the variable is set (a non-blank value), `[if !type:name]` when it is not; sections nest. A tag
// alone on its line takes the line with it, so sections leave no blank lines behind. Anything else in square
// brackets (`[x]`, `[a b]`, markdown links) is plain text.
import { invalid } from "../../src/kernel/mod.ts";

export type Node =
  | { kind: "text"; text: string }
  | { kind: "var"; key: string; line: number }
  | { kind: "if"; key: string; negated: boolean; then: Node[]; else: Node[]; line: number };

/** `type:name`, both lower-case identifiers. */
const KEY = "[a-z][a-z0-9_]*:[a-z][a-z0-9_]*";
const TAG = new RegExp(`\\[(?:(if) (!?)(${KEY})|(else)|(endif)|(${KEY}))\\]`, "g");

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

/** Parses a template; throws TemplateError naming the first unbalanced tag or unknown placeholder. */
export function parseTemplate(template: string, known?: (key: string) => boolean): Node[] {
  const root: Node[] = [];
  const open: { node: Node & { kind: "if" }; inElse: boolean }[] = [];
  const target = () => {
    const top = open.at(-1);
    return top ? (top.inElse ? top.node.else : top.node.then) : root;
  };
  const lines = new Lines(template);
  let at = 0;
  for (const m of template.matchAll(TAG)) {
    const [whole, ifWord, bang, ifKey, elseWord, endifWord, varKey] = m;
    let start = m.index, end = start + whole.length;
    const line = lines.of(start);
    if (!varKey) [start, end] = lines.standalone(line, start, end);
    if (start > at) target().push({ kind: "text", text: template.slice(at, start) });
    at = end;
    if (varKey) {
      if (known && !known(varKey)) throw unknownPlaceholder(varKey, line);
      target().push({ kind: "var", key: varKey, line });
    } else if (ifWord) {
      if (known && !known(ifKey)) throw unknownPlaceholder(ifKey, line);
      const node: Node & { kind: "if" } = {
        kind: "if",
        key: ifKey,
        negated: bang === "!",
        then: [],
        else: [],
        line,
      };
      target().push(node);
      open.push({ node, inElse: false });
    } else if (elseWord) {
      const top = open.at(-1);
      if (!top) {
        throw new TemplateError(`unbalanced conditional: [else] on line ${line} has no [if] before it`);
      }
      if (top.inElse) {
        throw new TemplateError(
          `unbalanced conditional: a second [else] on line ${line} for [if ${top.node.key}] of line ${top.node.line}`,
        );
      }
      top.inElse = true;
    } else if (endifWord) {
      if (!open.pop()) {
        throw new TemplateError(`unbalanced conditional: [endif] on line ${line} has no [if] before it`);
      }
    }
  }
  const unclosed = open.at(-1);
  if (unclosed) {
    const { key, negated, line } = unclosed.node;
    throw new TemplateError(
      `unbalanced conditional: [if ${negated ? "!" : ""}${key}] on line ${line} is never closed with [endif]`,
    );
  }
  if (at < template.length) root.push({ kind: "text", text: template.slice(at) });
  return root;
}

function unknownPlaceholder(key: string, line: number): TemplateError {
  return new TemplateError(
    `unknown placeholder [${key}] on line ${line} (GET /system-prompt/variables lists the known ones)`,
  );
}

/** Line numbers and line extents of a text, found in linear time (templates are long, tags many). */
class Lines {
  readonly #starts = [0];
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
    for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) this.#starts.push(i + 1);
  }

  /** The 1-based line holding `index`. */
  of(index: number): number {
    let lo = 0, hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  /** Widens a tag's span to its whole line (newline included) when nothing else is on that line. */
  standalone(line: number, start: number, end: number): [number, number] {
    const lineStart = this.#starts[line - 1];
    const lineEnd = this.#starts[line] ?? this.#text.length;
    const blank = (from: number, to: number) => {
      // Stops at the first visible character: a long line of tags is not rescanned for each of them.
      for (let i = from; i < to; i++) if (!/\s/.test(this.#text[i])) return false;
      return true;
    };
    return blank(lineStart, start) && blank(end, lineEnd) ? [lineStart, lineEnd] : [start, end];
  }
}

/** Every variable a template uses, in first-use order: only these need resolving. */
export function referencedKeys(nodes: Node[], out = new Set<string>()): Set<string> {
  for (const n of nodes) {
    if (n.kind === "var") out.add(n.key);
    if (n.kind === "if") {
      out.add(n.key);
      referencedKeys(n.then, out);
      referencedKeys(n.else, out);
    }
  }
  return out;
}

/** A variable counts as set when it has a value that is not blank. */
export const isSet = (value: string | null | undefined): value is string =>
  typeof value === "string" && value.trim() !== "";

/**
 * Renders parsed nodes. Values are inserted as they are, never parsed again. Runs of blank lines left by empty
 * values shrink to one, and the end is trimmed: the same values always give the same bytes.
 */
export function renderTemplate(nodes: Node[], values: ReadonlyMap<string, string | null>): string {
  const out: string[] = [];
  const walk = (list: Node[]) => {
    for (const n of list) {
      if (n.kind === "text") out.push(n.text);
      else if (n.kind === "var") out.push(values.get(n.key) ?? "");
      else walk(isSet(values.get(n.key)) !== n.negated ? n.then : n.else);
    }
  };
  walk(nodes);
  return out.join("").replace(/\n[ \t]*\n(?:[ \t]*\n)+/g, "\n\n").trim();
}

/** The 400 a client gets for a template that does not parse. */
export function checkTemplate(template: string, known: (key: string) => boolean): Node[] {
  try {
    return parseTemplate(template, known);
  } catch (error) {
    if (error instanceof TemplateError) throw invalid("bad_template", error.message);
    throw error;
  }
}
