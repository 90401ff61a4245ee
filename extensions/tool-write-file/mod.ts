// write_file: creates a file, or replaces one when asked to, atomically.
import { dirname } from "node:path";
import type { ExtensionContext } from "../../src/kernel/contracts.ts";
import { atomicWrite } from "../../src/sdk/fs.ts";
import { fail } from "../../src/sdk/tool.ts";
import { defineWorkspaceTool } from "../../src/sdk/workspace_tool.ts";
import { description, inputSchema, NAME } from "./tool_spec.ts";

export { manifest } from "./manifest.ts";

export function activate(ctx: ExtensionContext): void {
  ctx.tools.register(defineWorkspaceTool(ctx.config, {
    name: NAME,
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
