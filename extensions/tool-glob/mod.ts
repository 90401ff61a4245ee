// glob: files whose path matches a glob pattern, sorted.
import { join } from "node:path";
import type { ExtensionContext } from "../../src/kernel/contracts.ts";
import { globToRegExp, splitGlobBase } from "../../src/sdk/glob.ts";
import { fail } from "../../src/sdk/tool.ts";
import { DEFAULT_SKIP_DIRS, newWalkReport, walkFiles } from "../../src/sdk/walk.ts";
import { slashedRelative } from "../../src/sdk/workspace.ts";
import { defineWorkspaceTool } from "../../src/sdk/workspace_tool.ts";
import { description, inputSchema, MAX_RESULTS, NAME } from "./tool_spec.ts";

export { manifest } from "./manifest.ts";
export { MAX_RESULTS } from "./tool_spec.ts";

export function activate(ctx: ExtensionContext): void {
  ctx.tools.register(defineWorkspaceTool(ctx.config, {
    name: NAME,
    description,
    inputSchema,
    check(input) {
      relativePattern(input.pattern);
    },
    async execute(input, ws, tctx) {
      const pattern = relativePattern(input.pattern);
      const top = await ws.resolve(input.path ?? ".");
      if (!top.info) fail(`${input.path} does not exist`);
      if (!top.info.isDirectory) fail(`${top.display} is not a folder; path must be a folder to search in`);

      // Start at the pattern's literal folders (`src/lib/**/*.ts` walks src/lib only).
      const { base } = splitGlobBase(pattern);
      const start = base ? await ws.resolve(join(top.path, base)) : top;
      if (!start.info?.isDirectory) return `no files match ${input.pattern}`;

      // .git / node_modules are skipped unless the pattern names them.
      const named = new Set(pattern.split("/"));
      const skipDirs = new Set([...DEFAULT_SKIP_DIRS].filter((d) => !named.has(d)));
      const re = globToRegExp(pattern);
      const report = newWalkReport();
      const found: string[] = [];
      let more = false;
      for await (const file of walkFiles(ws, start.path, report, { signal: tctx.signal, skipDirs })) {
        if (!re.test(slashedRelative(top.path, file.path))) continue;
        if (found.length >= MAX_RESULTS) {
          more = true;
          break;
        }
        found.push(ws.display(file.path));
      }
      found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      if (found.length === 0) {
        return `no files match ${input.pattern}${top.display === "." ? "" : ` in ${top.display}`}`;
      }
      const notes: string[] = [];
      if (more) notes.push(`[stopped at ${MAX_RESULTS} files; use a narrower pattern or path]`);
      if (report.truncated) notes.push(`[the search stopped after ${report.entries} entries; narrow path]`);
      return [...found, ...(notes.length ? ["", ...notes] : [])].join("\n");
    },
  }));
}

/** The pattern without a leading `./`; one that could reach outside path fails the call. */
function relativePattern(pattern: string): string {
  const relative = pattern.replace(/^\.\//, "");
  if (relative.startsWith("/")) {
    fail("the pattern must be relative (e.g. `**/*.ts`); give the folder to search as path");
  }
  if (relative.split("/").includes("..")) {
    fail("the pattern may not contain `..`; give the folder as path");
  }
  return relative;
}
