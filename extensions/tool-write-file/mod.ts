// write_file: creates a file, or replaces one when asked to, atomically.
import { dirname } from "node:path";
import { z } from "zod";
import type { ExtensionContext } from "../../src/kernel/contracts.ts";
import { atomicWrite } from "../../src/sdk/fs.ts";
import { fail } from "../../src/sdk/tool.ts";
import { defineWorkspaceTool } from "../../src/sdk/workspace_tool.ts";

export { manifest } from "./manifest.ts";

const inputSchema = z.object({
  path: z.string().min(1).describe(
    "File to write: relative to the working directory, or absolute inside it.",
  ),
  content: z.string().describe("The file's complete new content."),
  overwrite: z.boolean().optional().describe(
    "Set to true to replace a file that already exists. Default false.",
  ),
});

const description = [
  "Write a whole file in the working directory. Creates the file; an existing file is only replaced when",
  "overwrite is true (read it first, and prefer edit_file for changing part of a file). The folder must",
  "already exist (create it with run_shell `mkdir -p` first). The write is atomic: readers see the old",
  "file or the new one, never a half-written one. Paths outside the working directory are refused.",
].join(" ");

export function activate(ctx: ExtensionContext): void {
  ctx.tools.register(defineWorkspaceTool(ctx.config, {
    name: "write_file",
    description,
    inputSchema,
    async execute(input, ws) {
      const target = await ws.resolve(input.path);
      const name = target.display;
      if (target.info?.isDirectory) fail(`${name} is a folder; write_file writes files`);
      if (target.info && !target.info.isFile) fail(`${name} exists and is not a regular file`);
      if (target.info && !input.overwrite) {
        fail(
          `${name} already exists (${target.info.size} bytes); pass overwrite: true to replace it, ` +
            "or use edit_file to change part of it",
        );
      }
      const folder = dirname(target.path);
      const folderInfo = await Deno.stat(folder).catch(() => undefined);
      if (!folderInfo) {
        fail(`the folder ${ws.display(folder)} does not exist; create it first (e.g. run_shell "mkdir -p")`);
      }
      if (!folderInfo.isDirectory) fail(`${ws.display(folder)} is not a folder`);

      const data = new TextEncoder().encode(input.content);
      try {
        await atomicWrite(target.path, data, {
          overwrite: !!target.info || !!input.overwrite,
          mode: target.info?.mode ?? undefined,
        });
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) {
          fail(`${name} was created by something else meanwhile; pass overwrite: true to replace it`);
        }
        throw error;
      }
      return `${target.info ? "replaced" : "created"} ${name}: wrote ${data.length} bytes`;
    },
  }));
}
