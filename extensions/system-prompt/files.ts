// Reading the instruction files a prompt quotes (AGENTS.md, SKILL.md) from folders the user did not write
// for Dispatch: a cloned repository may hold `AGENTS.md -> ~/.ssh/id_rsa`. A file is read only when its real
// path stays inside the folder it was found in, it is a regular text file, and it is not under a protected path
// (the daemon's data dir and env file); it is capped in size.
import { dirname } from "node:path";
import { isInside } from "../../src/sdk/roots.ts";
import { looksBinary } from "../../src/sdk/text.ts";

export interface ConfinedText {
  /** The path as found (not resolved), for the model to read. */
  path: string;
  text: string;
  /** The file's full size, when only the first `maxBytes` were read. */
  truncatedFrom?: number;
}

export type Refusal = "missing" | "escapes" | "protected" | "not-a-file" | "binary";

/**
 * The text of `path` when it is safe to quote, else why not. `within` must be a real path (see `realDir`).
 */
export async function readConfined(
  path: string,
  within: string,
  maxBytes: number,
  protectedPaths: readonly string[] = [],
): Promise<ConfinedText | Refusal> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch {
    return "missing";
  }
  if (!isInside(real, within)) return "escapes";
  if (protectedPaths.some((p) => isInside(real, p))) return "protected";
  let file: Deno.FsFile;
  try {
    file = await Deno.open(real, { read: true });
  } catch {
    return "missing";
  }
  try {
    const info = await file.stat();
    if (!info.isFile) return "not-a-file";
    const buffer = new Uint8Array(Math.min(info.size, maxBytes));
    let got = 0;
    while (got < buffer.length) {
      const n = await file.read(buffer.subarray(got));
      if (n === null) break;
      got += n;
    }
    const bytes = buffer.subarray(0, got);
    if (looksBinary(bytes)) return "binary";
    const text = new TextDecoder().decode(bytes);
    return info.size > got ? { path, text, truncatedFrom: info.size } : { path, text };
  } catch {
    return "missing";
  } finally {
    file.close();
  }
}

/** The real path of a folder, or undefined when it does not exist. */
export async function realDir(path: string): Promise<string | undefined> {
  try {
    const real = await Deno.realPath(path);
    return (await Deno.stat(real)).isDirectory ? real : undefined;
  } catch {
    return undefined;
  }
}

/** `dir` and each of its parents up to the root, nearest first. */
export function ancestors(dir: string): string[] {
  const out = [dir];
  for (let d = dir; dirname(d) !== d; d = dirname(d)) out.push(dirname(d));
  return out;
}

/** Protected paths from the host's public config (DISPATCH_PROTECTED_PATHS, a JSON list), as real paths. */
export function protectedPaths(config: Readonly<Record<string, string>>): string[] {
  let list: unknown;
  try {
    list = JSON.parse(config.DISPATCH_PROTECTED_PATHS ?? "[]");
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  return list.filter((p): p is string => typeof p === "string").map((p) => {
    try {
      return Deno.realPathSync(p);
    } catch {
      return p; // not there yet: compared as given
    }
  });
}
