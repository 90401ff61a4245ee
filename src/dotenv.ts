// A small `.env` parser: `KEY=VALUE` lines, `export ` prefixes, `#` comments, single/double/backtick quotes.
// Double quotes understand \n \r \t \" \\ escapes; every quote style may span lines. No `$VAR` expansion.
// Also where the daemon's and the CLI's environment come from (loadEnv), so both read the same file the same way.
import { resolve } from "node:path";

export interface DotenvProblem {
  line: number;
  message: string;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Parses `.env` text. Lines that are not assignments are skipped (and reported through `onProblem`). */
export function parseDotenv(
  text: string,
  onProblem?: (problem: DotenvProblem) => void,
): Record<string, string> {
  const out: Record<string, string> = {};
  const src = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  let i = 0;
  let line = 1;

  const skipLine = () => {
    const nl = src.indexOf("\n", i);
    i = nl === -1 ? src.length : nl + 1;
    line++;
  };

  while (i < src.length) {
    // leading blanks
    while (i < src.length && (src[i] === " " || src[i] === "\t")) i++;
    if (i >= src.length) break;
    if (src[i] === "\n") {
      i++;
      line++;
      continue;
    }
    if (src[i] === "#") {
      skipLine();
      continue;
    }

    const startLine = line;
    const eol = src.indexOf("\n", i) === -1 ? src.length : src.indexOf("\n", i);
    const eq = src.indexOf("=", i);
    if (eq === -1 || eq > eol) {
      onProblem?.({ line: startLine, message: `not a KEY=VALUE line: ${src.slice(i, eol).trim()}` });
      skipLine();
      continue;
    }
    let key = src.slice(i, eq).trim();
    if (key.startsWith("export ") || key.startsWith("export\t")) key = key.slice(7).trim();
    if (!KEY.test(key)) {
      onProblem?.({ line: startLine, message: `invalid variable name "${key}"` });
      skipLine();
      continue;
    }

    i = eq + 1;
    while (i < src.length && (src[i] === " " || src[i] === "\t")) i++;
    const quote = src[i];
    if (quote === '"' || quote === "'" || quote === "`") {
      const close = findClosingQuote(src, i + 1, quote);
      if (close === -1) {
        onProblem?.({ line: startLine, message: `unterminated ${quote} quote for ${key}` });
        skipLine();
        continue;
      }
      const rawValue = src.slice(i + 1, close);
      out[key] = quote === '"' ? unescapeDouble(rawValue) : rawValue;
      line += countNewlines(rawValue);
      i = close + 1;
      // Anything after the closing quote must be blank or a comment.
      const rest = src.slice(i, src.indexOf("\n", i) === -1 ? src.length : src.indexOf("\n", i));
      if (rest.trim() && !rest.trim().startsWith("#")) {
        onProblem?.({ line, message: `unexpected text after the quoted value of ${key}: ${rest.trim()}` });
      }
      skipLine();
      continue;
    }

    // Unquoted: up to the end of the line, minus a ` #comment` (`#` right after `=` is part of the value).
    let value = src.slice(eq + 1, eol);
    const hash = value.search(/\s#/);
    if (hash !== -1) value = value.slice(0, hash);
    out[key] = value.trim();
    i = eol;
  }
  return out;
}

function findClosingQuote(src: string, from: number, quote: string): number {
  for (let j = from; j < src.length; j++) {
    if (quote === '"' && src[j] === "\\") {
      j++;
      continue;
    }
    if (src[j] === quote) return j;
  }
  return -1;
}

function unescapeDouble(s: string): string {
  return s.replace(/\\([\s\S])/g, (_, c: string) => {
    switch (c) {
      case "n":
        return "\n";
      case "r":
        return "\r";
      case "t":
        return "\t";
      case '"':
      case "\\":
        return c;
      default:
        return `\\${c}`;
    }
  });
}

function countNewlines(s: string): number {
  let n = 0;
  for (const c of s) if (c === "\n") n++;
  return n;
}

/** `.env` values overlaid by the process environment (the process environment wins). */
export function mergeEnv(
  dotenv: Record<string, string>,
  processEnv: Record<string, string | undefined>,
): Record<string, string> {
  const out: Record<string, string> = { ...dotenv };
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) out[k] = v;
  return out;
}

/** The env file a process reads: DISPATCH_ENV_FILE (relative to `cwd`) when set, else `./.env`. */
export function envFilePath(env: Record<string, string | undefined>, cwd: string): string {
  return env.DISPATCH_ENV_FILE ? resolve(cwd, env.DISPATCH_ENV_FILE) : resolve(cwd, ".env");
}

/**
 * What the daemon and the CLI both see: the env file's variables overlaid by the process environment, with
 * empty values counting as unset (as in most shells' `VAR= cmd`). A missing file is an empty one; a file that
 * exists but cannot be read throws, naming it.
 */
export function loadEnv(
  env: Record<string, string | undefined>,
  cwd: string,
): { envFile: string; merged: Record<string, string> } {
  const envFile = envFilePath(env, cwd);
  let fileVars: Record<string, string> = {};
  try {
    fileVars = parseDotenv(Deno.readTextFileSync(envFile));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new Error(`cannot read env file ${envFile}: ${(error as Error).message}`);
    }
  }
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries(mergeEnv(fileVars, env))) if (v !== "") merged[k] = v;
  return { envFile, merged };
}
