// A small glob matcher for `/`-separated relative paths.
//
//   *       any characters except `/` (dot files included)
//   ?       one character except `/`
//   **      as a whole segment: any number of segments, none included (`src/**` + `/x.ts` matches src/x.ts)
//   [abc]   a character class; [!abc] or [^abc] negates; ranges like [a-z]
//   {a,b}   alternatives, which may hold patterns themselves ({src,test}/*.ts)
//   \x      the character x literally
//
// Patterns match the whole path. `globMatcher(p, {matchBase: true})` matches a pattern with no `/` against
// the last segment only (so `*.ts` finds .ts files at any depth, as in ripgrep's --glob).

/** A regular expression matching the paths `glob` matches. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${convert(glob)}$`);
}

export interface GlobMatcherOptions {
  /** A pattern without `/` is tested against the path's last segment. */
  matchBase?: boolean;
}

/** A predicate over `/`-separated relative paths. */
export function globMatcher(glob: string, opts: GlobMatcherOptions = {}): (path: string) => boolean {
  const re = globToRegExp(glob);
  if (opts.matchBase && !glob.includes("/")) {
    return (path) => re.test(path.slice(path.lastIndexOf("/") + 1));
  }
  return (path) => re.test(path);
}

/** True when `segment` holds glob syntax (anything but a literal name). */
export function hasGlobSyntax(segment: string): boolean {
  return /[*?[\]{}\\]/.test(segment);
}

/**
 * Splits a pattern into its literal leading folders and the rest: `src/lib/**` + `/*.ts` gives
 * `{base: "src/lib", rest: "**" + "/*.ts"}`. A walk can start at `base` instead of the top.
 */
export function splitGlobBase(glob: string): { base: string; rest: string } {
  const segments = glob.split("/");
  let i = 0;
  while (i < segments.length - 1 && !hasGlobSyntax(segments[i])) i++;
  return {
    base: segments.slice(0, i).filter((s) => s !== "" && s !== ".").join("/"),
    rest: segments.slice(i).join("/"),
  };
}

const escapeChar = (c: string) => (/[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c);

function convert(glob: string): string {
  let re = "";
  let i = 0;
  while (i < glob.length) {
    const c = glob[i];
    if (c === "\\" && i + 1 < glob.length) {
      re += escapeChar(glob[i + 1]);
      i += 2;
    } else if (c === "*") {
      let j = i;
      while (glob[j] === "*") j++;
      const starts = i === 0 || glob[i - 1] === "/";
      const ends = j === glob.length || glob[j] === "/";
      if (j - i >= 2 && starts && ends) {
        if (j === glob.length) {
          re += ".*"; // trailing `**`: everything below
          i = j;
        } else {
          re += "(?:[^/]*/)*"; // `**/`: zero or more whole segments
          i = j + 1;
        }
      } else {
        re += "[^/]*";
        i = j;
      }
    } else if (c === "?") {
      re += "[^/]";
      i++;
    } else if (c === "[") {
      const end = classEnd(glob, i);
      if (end < 0) {
        re += "\\[";
        i++;
        continue;
      }
      let body = glob.slice(i + 1, end);
      let negate = false;
      if (body[0] === "!" || body[0] === "^") {
        negate = true;
        body = body.slice(1);
      }
      const inner = body.replace(/\\/g, "\\\\").replace(/\[/g, "\\[").replace(/\]/g, "\\]").replace(
        /\^/g,
        "\\^",
      );
      re += negate ? `[^/${inner}]` : `(?!/)[${inner}]`;
      i = end + 1;
    } else if (c === "{") {
      const parts = braceParts(glob, i);
      if (!parts) {
        re += "\\{";
        i++;
        continue;
      }
      re += `(?:${parts.alternatives.map(convert).join("|")})`;
      i = parts.end + 1;
    } else {
      re += escapeChar(c);
      i++;
    }
  }
  return re;
}

/** Index of the `]` closing the class opened at `start`, or -1. A `]` right after `[` or `[!` is literal. */
function classEnd(glob: string, start: number): number {
  let j = start + 1;
  if (glob[j] === "!" || glob[j] === "^") j++;
  if (glob[j] === "]") j++;
  for (; j < glob.length; j++) {
    if (glob[j] === "\\") j++;
    else if (glob[j] === "]") return j;
    else if (glob[j] === "/") return -1;
  }
  return -1;
}

/** The top-level comma-separated alternatives of the `{...}` opened at `start`, or undefined when unclosed. */
function braceParts(glob: string, start: number): { alternatives: string[]; end: number } | undefined {
  let depth = 0;
  let from = start + 1;
  const alternatives: string[] = [];
  for (let j = start; j < glob.length; j++) {
    const c = glob[j];
    if (c === "\\") j++;
    else if (c === "{") depth++;
    else if (c === "}") {
      depth--;
      if (depth === 0) {
        alternatives.push(glob.slice(from, j));
        return { alternatives, end: j };
      }
    } else if (c === "," && depth === 1) {
      alternatives.push(glob.slice(from, j));
      from = j + 1;
    }
  }
  return undefined;
}
