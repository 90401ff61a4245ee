// edit_file: exact-string replacement in a text file, written back atomically.
import type { ExtensionContext } from "../../src/kernel/contracts.ts";
import { atomicWrite } from "../../src/sdk/fs.ts";
import { formatBytes, looksBinary, MAX_TEXT_FILE_BYTES, SNIFF_BYTES } from "../../src/sdk/text.ts";
import { fail } from "../../src/sdk/tool.ts";
import { defineWorkspaceTool } from "../../src/sdk/workspace_tool.ts";
import { description, inputSchema, NAME } from "./tool_spec.ts";

export { manifest } from "./manifest.ts";

export function activate(ctx: ExtensionContext): void {
  ctx.tools.register(defineWorkspaceTool(ctx.config, {
    name: NAME,
    description,
    inputSchema,
    check(input) {
      if (input.oldString === input.newString) {
        fail("oldString and newString are the same; there is nothing to change");
      }
    },
    async execute(input, ws) {
      const target = await ws.resolve(input.path);
      const name = target.display;
      if (!target.info) fail(`${input.path} does not exist; use write_file to create a file`);
      if (!target.info.isFile) fail(`${name} is not a regular file`);
      if (target.info.size > MAX_TEXT_FILE_BYTES) {
        fail(
          `${name} is ${formatBytes(target.info.size)}, over edit_file's ${
            formatBytes(MAX_TEXT_FILE_BYTES)
          } limit`,
        );
      }
      const { bytes, info } = await ws.readFile(target, MAX_TEXT_FILE_BYTES);
      if (info.size > MAX_TEXT_FILE_BYTES) fail(`${name} grew over edit_file's limit while being opened`);
      let text: string;
      try {
        if (looksBinary(bytes.subarray(0, SNIFF_BYTES))) throw new Error("binary");
        // Keep a byte-order mark as it is: it goes back out unchanged.
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
      } catch {
        fail(`${name} is not a UTF-8 text file; edit_file only edits text`);
      }

      let oldString = input.oldString;
      let newString = input.newString;
      let count = countOccurrences(text, oldString);
      let note = "";
      if (count === 0 && text.includes("\r\n") && /(?<!\r)\n/.test(oldString)) {
        // The file uses CRLF line endings and the model wrote LF: match (and write) CRLF instead.
        const crlf = (s: string) => s.replace(/\r?\n/g, "\r\n");
        const adapted = countOccurrences(text, crlf(oldString));
        if (adapted > 0) {
          oldString = crlf(oldString);
          newString = crlf(newString);
          count = adapted;
          note = " (line endings adapted to the file's CRLF)";
        }
      }
      if (count === 0) {
        fail(
          `oldString was not found in ${name}. It must match exactly, whitespace and indentation included; ` +
            "read the file again and copy the text (without read_file's line-number prefix)",
        );
      }
      if (count > 1 && !input.replaceAll) {
        fail(
          `oldString occurs ${count} times in ${name}; include more surrounding text to pick one occurrence, ` +
            "or pass replaceAll: true to replace all of them",
        );
      }
      const updated = input.replaceAll
        ? text.split(oldString).join(newString)
        : replaceFirst(text, oldString, newString);
      await atomicWrite(target.path, new TextEncoder().encode(updated), {
        overwrite: true,
        mode: target.info.mode ?? undefined,
      });
      const n = input.replaceAll ? count : 1;
      return `edited ${name}: ${n} replacement${n === 1 ? "" : "s"}${note}`;
    },
  }));
}

function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) count++;
  return count;
}

function replaceFirst(text: string, needle: string, replacement: string): string {
  const i = text.indexOf(needle);
  return text.slice(0, i) + replacement + text.slice(i + needle.length);
}
