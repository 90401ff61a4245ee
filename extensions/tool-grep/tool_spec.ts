// grep's name, description and input schema, in one place: the manifest declares the tool with them (so the
// daemon offers it before the sandbox starts) and mod.ts registers it with them, so the two cannot differ.
import { z } from "zod";

export const NAME = "grep";
export const MAX_MATCHES = 200;
/** How long one search may take before its processes are killed (DISPATCH_GREP_TIMEOUT_MS changes it). */
export const DEFAULT_GREP_TIMEOUT_MS = 30_000;
/** The longest time limit the setting may give; the manifest declares it as the call's limit. */
export const MAX_GREP_TIMEOUT_MS = 120_000;
/** A pattern goes to ripgrep as one argument, and the kernel refuses one over 128 KiB (E2BIG). */
export const MAX_PATTERN_CHARS = 10_000;

export const inputSchema = z.object({
  pattern: z.string().min(1).max(MAX_PATTERN_CHARS).describe(
    "Regular expression (ripgrep's Rust syntax), e.g. `function\\s+\\w+` or `TODO|FIXME`.",
  ),
  path: z.string().min(1).optional().describe(
    "File or folder to search, relative to the working directory. Default: the working directory.",
  ),
  glob: z.string().min(1).max(1_000).optional().describe(
    "Only search files matching this glob, e.g. `*.ts` (any depth) or `src/**/*.{ts,tsx}` (relative to path).",
  ),
});

export const description = [
  "Search file contents with a regular expression (ripgrep's Rust syntax: like JavaScript's without",
  "look-around or backreferences; matched per line; case-insensitive with `(?i:...)`). Searches the files",
  "under path (default the working directory), optionally only those matching glob: a glob without `/`",
  "matches file names at any depth (`*.ts`), one with `/` matches the path relative to path (`src/**/*.ts`).",
  "Skips .git, node_modules, binary files and files over 5 MB. Prints `file:line:text` per matching line",
  `(paths relative to the working directory), at most ${MAX_MATCHES} matches; narrow the search when it says`,
  "it stopped early.",
].join(" ");
