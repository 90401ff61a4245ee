// AGENTS.md: the project's instructions, found in the cwd and each folder above it, and the user's own in
// ~/.agents/AGENTS.md. Quoted outermost first, so the nearest (most specific) file comes last.
import { join } from "node:path";
import { ancestors, type ConfinedText, readConfined, realDir } from "./files.ts";

export const AGENTS_FILE = "AGENTS.md";
export const MAX_AGENTS_BYTES = 64 * 1024;

export interface AgentsMdOptions {
  protectedPaths?: readonly string[];
  maxBytes?: number;
  /** Told of each file skipped for a reason other than its absence. */
  onSkip?: (path: string, why: string) => void;
}

/** Every AGENTS.md from the filesystem root down to `cwd`, outermost first. */
export async function projectAgentsMd(cwd: string, opts: AgentsMdOptions = {}): Promise<ConfinedText[]> {
  const found = await Promise.all(
    ancestors(cwd).reverse().map(async (dir) => {
      const real = await realDir(dir);
      return real ? await readOne(join(dir, AGENTS_FILE), real, opts) : undefined;
    }),
  );
  return found.filter((f) => f !== undefined);
}

/** ~/.agents/AGENTS.md, when there is one. */
export async function userAgentsMd(
  home: string,
  opts: AgentsMdOptions = {},
): Promise<ConfinedText | undefined> {
  const dir = join(home, ".agents");
  const real = await realDir(dir);
  return real ? await readOne(join(dir, AGENTS_FILE), real, opts) : undefined;
}

async function readOne(
  path: string,
  within: string,
  opts: AgentsMdOptions,
): Promise<ConfinedText | undefined> {
  const out = await readConfined(path, within, opts.maxBytes ?? MAX_AGENTS_BYTES, opts.protectedPaths);
  if (typeof out === "string") {
    if (out !== "missing") opts.onSkip?.(path, out);
    return undefined;
  }
  return out.text.trim() === "" ? undefined : out;
}

/** The files as one variable value, each under its path; null when there are none. */
export function formatInstructionFiles(files: ConfinedText[]): string | null {
  if (files.length === 0) return null;
  return files.map((f) => {
    const note = f.truncatedFrom === undefined
      ? ""
      : `\n[cut at ${f.text.length} of ${f.truncatedFrom} bytes: read the file for the rest]`;
    return `<instructions path="${f.path}">\n${f.text.trim()}${note}\n</instructions>`;
  }).join("\n\n");
}
