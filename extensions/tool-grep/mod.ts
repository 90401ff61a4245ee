// grep: regular-expression search through the text files under a folder (in TypeScript: no ripgrep needed).
import { z } from "zod";
import type { ExtensionContext } from "../../src/kernel/contracts.ts";
import { globMatcher } from "../../src/sdk/glob.ts";
import {
  looksBinary,
  MAX_TEXT_FILE_BYTES,
  SNIFF_BYTES,
  splitLines,
  truncateLine,
} from "../../src/sdk/text.ts";
import { fail } from "../../src/sdk/tool.ts";
import { DEFAULT_SKIP_DIRS, newWalkReport, type WalkedFile, walkFiles } from "../../src/sdk/walk.ts";
import { slashedRelative } from "../../src/sdk/workspace.ts";
import { defineWorkspaceTool } from "../../src/sdk/workspace_tool.ts";

export { manifest } from "./manifest.ts";

export const MAX_MATCHES = 200;
/** Longest matching line shown whole. */
export const MAX_MATCH_LINE_CHARS = 400;

const inputSchema = z.object({
  pattern: z.string().min(1).describe(
    "JavaScript regular expression, e.g. `function\\s+\\w+` or `TODO|FIXME`.",
  ),
  path: z.string().min(1).optional().describe(
    "File or folder to search, relative to the working directory. Default: the working directory.",
  ),
  glob: z.string().min(1).optional().describe(
    "Only search files matching this glob, e.g. `*.ts` (any depth) or `src/**/*.{ts,tsx}` (relative to path).",
  ),
});

const description = [
  "Search file contents with a regular expression (JavaScript RegExp syntax, matched per line;",
  "case-insensitive with `(?i:...)`). Searches the files under path (default the working directory),",
  "optionally only those matching glob: a glob without `/` matches file names at any depth (`*.ts`), one",
  "with `/` matches the path relative to path (`src/**/*.ts`). Skips .git, node_modules, binary files and",
  `files over 5 MB. Prints \`file:line:text\` per matching line (paths relative to the working directory),`,
  `at most ${MAX_MATCHES} matches; narrow the search when it says it stopped early.`,
].join(" ");

export function activate(ctx: ExtensionContext): void {
  ctx.tools.register(defineWorkspaceTool(ctx.config, {
    name: "grep",
    description,
    inputSchema,
    check(input) {
      patternRegExp(input.pattern);
    },
    async execute(input, ws, tctx) {
      const re = patternRegExp(input.pattern);
      const target = await ws.resolve(input.path ?? ".");
      if (!target.info) fail(`${input.path} does not exist`);

      const report = newWalkReport();
      let files: AsyncIterable<WalkedFile> | WalkedFile[];
      let matchesGlob: (path: string) => boolean = () => true;
      if (target.info.isDirectory) {
        if (input.glob) matchesGlob = globMatcher(input.glob, { matchBase: true });
        files = walkFiles(ws, target.path, report, { signal: tctx.signal, skipDirs: DEFAULT_SKIP_DIRS });
      } else if (target.info.isFile) {
        files = [{ path: target.path, info: target.info }];
      } else {
        fail(`${target.display} is not a file or folder`);
      }

      const out: string[] = [];
      let searched = 0, skippedLarge = 0, skippedBinary = 0, stoppedEarly = false;
      for await (const file of files) {
        if (target.info.isDirectory) {
          if (!matchesGlob(slashedRelative(target.path, file.path))) continue;
        }
        if (file.info.size > MAX_TEXT_FILE_BYTES) {
          skippedLarge++;
          continue;
        }
        let bytes: Uint8Array;
        try {
          bytes = await Deno.readFile(file.path);
        } catch {
          continue;
        }
        if (looksBinary(bytes.subarray(0, SNIFF_BYTES))) {
          skippedBinary++;
          continue;
        }
        searched++;
        const name = ws.display(file.path);
        const lines = splitLines(new TextDecoder().decode(bytes));
        for (let i = 0; i < lines.length; i++) {
          if (!re.test(lines[i])) continue;
          if (out.length >= MAX_MATCHES) {
            stoppedEarly = true;
            break;
          }
          out.push(`${name}:${i + 1}:${truncateLine(lines[i], MAX_MATCH_LINE_CHARS)}`);
        }
        if (stoppedEarly) break;
      }

      const notes: string[] = [];
      if (stoppedEarly) {
        notes.push(`[stopped at ${MAX_MATCHES} matches; narrow the pattern, path or glob to see the rest]`);
      }
      if (report.truncated) notes.push(`[the search stopped after ${report.entries} entries; narrow path]`);
      if (skippedLarge) notes.push(`[${skippedLarge} file(s) over 5 MB not searched]`);
      if (out.length === 0) {
        const where = target.display === "." ? "the working directory" : target.display;
        const scope = input.glob ? ` (files matching ${input.glob})` : "";
        const binary = skippedBinary ? `; ${skippedBinary} binary file(s) skipped` : "";
        return [
          `no matches for /${input.pattern}/ in ${where}${scope}: ${searched} file(s) searched${binary}`,
          ...notes,
        ]
          .join("\n");
      }
      return [...out, ...(notes.length ? ["", ...notes] : [])].join("\n");
    },
  }));
}

/** The pattern as a RegExp; an invalid one fails the call with the parser's complaint. */
function patternRegExp(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (error) {
    fail(`invalid regular expression ${JSON.stringify(pattern)}: ${(error as Error).message}`);
  }
}
