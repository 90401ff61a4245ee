// glob's name, description and input schema, in one place: the manifest declares the tool with them (so the
// daemon offers it before the sandbox starts) and mod.ts registers it with them, so the two cannot differ.
import { z } from "zod";

export const NAME = "glob";
export const MAX_RESULTS = 1000;

export const inputSchema = z.object({
  pattern: z.string().min(1).describe(
    "Glob relative to path, e.g. `**/*.ts`, `src/**/*.{ts,tsx}`, `*.json` (top level only).",
  ),
  path: z.string().min(1).optional().describe(
    "Folder to search in, relative to the working directory. Default: the working directory.",
  ),
});

export const description = [
  "Find files by name with a glob pattern matched against each file's path relative to path (default the",
  "working directory): `*` and `?` stay within one folder level, `**` spans any number of levels, `{a,b}`",
  "gives alternatives, `[abc]` a character class; hidden files are included. `*.ts` finds only top-level",
  "files, `**/*.ts` finds them at any depth. Skips .git and node_modules unless the pattern names them.",
  `Returns matching file paths relative to the working directory, sorted, at most ${MAX_RESULTS}.`,
].join(" ");
