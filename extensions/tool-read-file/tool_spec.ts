// read_file's name, description and input schema, in one place: the manifest declares the tool with them (so the
// daemon offers it before the sandbox starts) and mod.ts registers it with them, so the two cannot differ.
import { z } from "zod";
import { formatBytes, MAX_TEXT_FILE_BYTES } from "../../src/sdk/text.ts";

export const NAME = "read_file";
export const DEFAULT_LIMIT = 2000;
export const MAX_LIMIT = 10_000;
/** Longest line shown whole. */
export const MAX_LINE_CHARS = 2000;

export const inputSchema = z.object({
  path: z.string().min(1).describe(
    "File or folder to read: relative to the working directory, or absolute inside it.",
  ),
  offset: z.number().int().min(1).optional().describe(
    "1-based line number to start at (entry number for a folder). Default 1.",
  ),
  limit: z.number().int().min(1).max(MAX_LIMIT).optional().describe(
    `How many lines (or folder entries) to return. Default ${DEFAULT_LIMIT}.`,
  ),
});

export const description = [
  "Read a text file from the working directory. Lines come numbered (`   12\\tcontent`), the number being",
  `the 1-based line number; by default the first ${DEFAULT_LIMIT} lines. For longer files pass offset`,
  "(first line wanted) and limit (how many) to read another window; the output ends with a note saying",
  `how to get the rest when it was cut. Lines over ${MAX_LINE_CHARS} characters are shortened with a marker.`,
  `Files over ${formatBytes(MAX_TEXT_FILE_BYTES)} and binary files are refused (use run_shell with head,`,
  "tail, sed -n or file for those). A folder path lists its entries instead, sorted, folders ending in `/`,",
  "symbolic links in `@`. Paths outside the working directory are refused.",
].join(" ");
