// write_file's name, description and input schema, in one place: the manifest declares the tool with them (so the
// daemon offers it before the sandbox starts) and mod.ts registers it with them, so the two cannot differ.
import { z } from "zod";

export const NAME = "write_file";

export const inputSchema = z.object({
  path: z.string().min(1).describe(
    "File to write: relative to the working directory, or absolute inside it.",
  ),
  content: z.string().describe("The file's complete new content."),
  overwrite: z.boolean().optional().describe(
    "Set to true to replace a file that already exists. Default false.",
  ),
});

export const description = [
  "Write a whole file in the working directory. Creates the file; an existing file is only replaced when",
  "overwrite is true (read it first, and prefer edit_file for changing part of a file). The folder must",
  "already exist (create it with run_shell `mkdir -p` first). The write is atomic: readers see the old",
  "file or the new one, never a half-written one. Paths outside the working directory are refused.",
].join(" ");
