// read_file: a text file's lines, numbered, one window at a time; or a folder's entries.
import type { ExtensionContext } from "../../src/kernel/contracts.ts";
import { fail } from "../../src/sdk/tool.ts";
import type { ResolvedPath } from "../../src/sdk/workspace.ts";
import { defineWorkspaceTool } from "../../src/sdk/workspace_tool.ts";
import {
  formatBytes,
  looksBinary,
  MAX_TEXT_FILE_BYTES,
  SNIFF_BYTES,
  splitLines,
  truncateLine,
} from "../../src/sdk/text.ts";
import { DEFAULT_LIMIT, description, inputSchema, MAX_LINE_CHARS, NAME } from "./tool_spec.ts";

export { manifest } from "./manifest.ts";
export { DEFAULT_LIMIT, MAX_LIMIT, MAX_LINE_CHARS } from "./tool_spec.ts";

/** Most characters one call returns; the window ends early (and says where to go on) past this. */
export const MAX_OUTPUT_CHARS = 200_000;

export function activate(ctx: ExtensionContext): void {
  ctx.tools.register(defineWorkspaceTool(ctx.config, {
    name: NAME,
    description,
    inputSchema,
    async execute(input, ws) {
      const target = await ws.resolve(input.path);
      if (!target.info) fail(`${input.path} does not exist (looked for ${target.path})`);
      const offset = input.offset ?? 1;
      const limit = input.limit ?? DEFAULT_LIMIT;
      if (target.info.isDirectory) return await listFolder(target, offset, limit);
      if (!target.info.isFile) fail(`${input.path} is not a regular file or folder`);
      // Read through one handle checked after opening, not by path: the path may be swapped meanwhile.
      const { bytes, info } = await ws.readFile(target, MAX_TEXT_FILE_BYTES);
      return readText(target, bytes, info, offset, limit);
    },
  }));
}

function readText(
  target: ResolvedPath,
  bytes: Uint8Array,
  info: Deno.FileInfo,
  offset: number,
  limit: number,
) {
  const name = target.display;
  if (info.size > MAX_TEXT_FILE_BYTES) {
    fail(
      `${name} is ${formatBytes(info.size)}, over read_file's ${formatBytes(MAX_TEXT_FILE_BYTES)} limit ` +
        "(offset/limit do not lift it). Look at parts of it with run_shell (head, tail, sed -n 'A,Bp'), " +
        "or search it with grep via run_shell.",
    );
  }
  if (looksBinary(bytes.subarray(0, SNIFF_BYTES))) {
    fail(`${name} looks like a binary file (${formatBytes(bytes.length)}); read_file only shows text`);
  }
  const lines = splitLines(new TextDecoder().decode(bytes));
  if (lines.length === 0) return `(${name} is empty)`;
  if (offset > lines.length) {
    fail(`offset ${offset} is past the end of ${name}, which has ${lines.length} line(s)`);
  }
  const out: string[] = [];
  let chars = 0;
  let next = offset;
  const end = Math.min(lines.length, offset + limit - 1);
  for (; next <= end; next++) {
    const line = `${String(next).padStart(6)}\t${truncateLine(lines[next - 1], MAX_LINE_CHARS)}`;
    if (chars + line.length > MAX_OUTPUT_CHARS && out.length > 0) break;
    out.push(line);
    chars += line.length + 1;
  }
  const last = next - 1;
  if (last < lines.length) {
    out.push(
      `\n[showing lines ${offset}-${last} of ${lines.length}; call read_file with offset=${
        last + 1
      } to read more]`,
    );
  }
  return out.join("\n");
}

async function listFolder(target: ResolvedPath, offset: number, limit: number) {
  const names: string[] = [];
  for await (const e of Deno.readDir(target.path)) {
    names.push(e.isDirectory ? `${e.name}/` : e.isSymlink ? `${e.name}@` : e.name);
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header = `${target.display === "." ? "./" : `${target.display}/`} (folder, ${names.length} entries)`;
  if (names.length === 0) return `${header}\n(empty)`;
  if (offset > names.length) fail(`offset ${offset} is past the end of the folder's ${names.length} entries`);
  const shown = names.slice(offset - 1, offset - 1 + limit);
  const last = offset - 1 + shown.length;
  const more = last < names.length
    ? `\n\n[showing entries ${offset}-${last} of ${names.length}; call read_file with offset=${
      last + 1
    } for more]`
    : "";
  return `${header}\n${shown.join("\n")}${more}`;
}
