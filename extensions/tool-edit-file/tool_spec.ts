// edit_file's name, description and input schema, in one place: the manifest declares the tool with them (so the
// daemon offers it before the sandbox starts) and mod.ts registers it with them, so the two cannot differ.
import { z } from "zod";

export const NAME = "edit_file";

export const inputSchema = z.object({
  path: z.string().min(1).describe("File to edit: relative to the working directory, or absolute inside it."),
  oldString: z.string().min(1).describe(
    "The exact text to replace, including whitespace and indentation, as it appears in the file.",
  ),
  newString: z.string().describe("The text to put in its place (may be empty to delete oldString)."),
  replaceAll: z.boolean().optional().describe(
    "Replace every occurrence of oldString. Default false: oldString must then occur exactly once.",
  ),
});

export const description = [
  "Edit a text file in the working directory by replacing an exact string. oldString must match the file",
  "character for character (whitespace and indentation included; read the file first, and leave out the",
  "line-number prefix read_file adds). Unless replaceAll is true, oldString must occur exactly once: add",
  "surrounding lines to make it unique. Returns how many replacements were made. The file is rewritten",
  "atomically. Use write_file to create files.",
].join(" ");
