// grep: regular-expression search through the text files under a folder.
//
// Which files: the workspace walker (src/sdk/walk.ts) picks them, inside the working directory, never a
// protected path or a link leading out, filtered by the glob. Matching: ripgrep, whose regex engine runs in
// linear time, so no pattern can hang a call; it runs under bubblewrap with only the searched folder in view
// (protected paths masked, no network), and each call has a time limit after which its processes are killed.
// bwrap and rg are probed at activation; when either cannot run, every call returns one clear error.
import type { ExtensionContext } from "../../src/kernel/contracts.ts";
import { BWRAP, bwrapArgs, probeBwrap } from "../../src/sandbox/bwrap.ts";
import { globMatcher } from "../../src/sdk/glob.ts";
import { MAX_TEXT_FILE_BYTES, truncateLine } from "../../src/sdk/text.ts";
import { fail } from "../../src/sdk/tool.ts";
import { DEFAULT_SKIP_DIRS, newWalkReport, type WalkedFile, walkFiles } from "../../src/sdk/walk.ts";
import { parseProtectedPaths, slashedRelative } from "../../src/sdk/workspace.ts";
import { defineWorkspaceTool } from "../../src/sdk/workspace_tool.ts";
import { type RgMatch, searchWithRg } from "./rg.ts";
import {
  DEFAULT_GREP_TIMEOUT_MS,
  description,
  inputSchema,
  MAX_GREP_TIMEOUT_MS,
  MAX_MATCHES,
  NAME,
} from "./tool_spec.ts";

export { manifest } from "./manifest.ts";

export { DEFAULT_GREP_TIMEOUT_MS, MAX_GREP_TIMEOUT_MS, MAX_MATCHES } from "./tool_spec.ts";
/** Longest matching line shown whole. */
export const MAX_MATCH_LINE_CHARS = 400;
/** Config: the time limit of one search in milliseconds (at most MAX_GREP_TIMEOUT_MS). */
export const GREP_TIMEOUT_KEY = "DISPATCH_GREP_TIMEOUT_MS";

export async function activate(ctx: ExtensionContext): Promise<void> {
  const protectedPaths = parseProtectedPaths(ctx.config);
  const timeoutMs = timeLimit(ctx.config);
  const refusal = await unavailable();
  if (refusal) ctx.log.warn(refusal);
  ctx.tools.register(defineWorkspaceTool(ctx.config, {
    name: NAME,
    description,
    inputSchema,
    async execute(input, ws, tctx) {
      if (refusal) fail(refusal);
      if (input.pattern.includes("\0")) fail("the pattern contains a NUL character");
      const show = (m: RgMatch) =>
        `${ws.display(m.path)}:${m.line}:${truncateLine(m.text, MAX_MATCH_LINE_CHARS)}`;
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

      const chosen: string[] = [];
      let skippedLarge = 0;
      try {
        for await (const file of files) {
          if (target.info.isDirectory && !matchesGlob(slashedRelative(target.path, file.path))) continue;
          if (file.info.size > MAX_TEXT_FILE_BYTES) skippedLarge++;
          else chosen.push(file.path);
        }
      } catch (error) {
        if (tctx.signal.aborted) fail("aborted");
        throw error;
      }

      const result = await searchWithRg({
        pattern: input.pattern,
        files: chosen,
        // The whole working directory: a link the walker followed may lead out of the searched folder.
        view: { base: "minimal", readOnly: [ws.root], masked: protectedPaths, network: false },
        maxMatches: MAX_MATCHES,
        timeoutMs,
        signal: tctx.signal,
      });
      switch (result.kind) {
        case "invalid-pattern":
          fail(`invalid regular expression ${JSON.stringify(input.pattern)}: ${result.message}`);
          break;
        case "aborted":
          fail("aborted");
          break;
        case "failed":
          fail(`the search failed: ${result.message}`);
          break;
        case "timeout":
          return {
            content: [
              ...result.matches.map(show),
              `[the search was stopped after its time limit of ${
                timeoutMs / 1000
              } s; narrow the path or glob]`,
            ].join("\n"),
            isError: true,
          };
      }
      const out = result.matches.map(show);
      const notes: string[] = [];
      if (result.stoppedEarly) {
        notes.push(`[stopped at ${MAX_MATCHES} matches; narrow the pattern, path or glob to see the rest]`);
      }
      if (report.truncated) notes.push(`[the search stopped after ${report.entries} entries; narrow path]`);
      if (skippedLarge) notes.push(`[${skippedLarge} file(s) over 5 MB not searched]`);
      if (result.longLines) notes.push(`[${result.longLines} matching line(s) over 1 MB left out]`);
      if (out.length === 0) {
        const where = target.display === "." ? "the working directory" : target.display;
        const scope = input.glob ? ` (files matching ${input.glob})` : "";
        const binary = result.binary ? `; ${result.binary} binary file(s) skipped` : "";
        const searched = chosen.length - result.binary;
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

/** Why grep cannot search here (bwrap or rg missing or refused), or undefined when it can. */
async function unavailable(): Promise<string | undefined> {
  const probe = await probeBwrap();
  const why = probe.ok ? await probeRg() : probe.reason;
  if (!why) return undefined;
  return "grep is unavailable: it searches with ripgrep (Debian package `ripgrep`) under bubblewrap " +
    `(Debian package \`bubblewrap\`), and ${why}`;
}

async function probeRg(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(BWRAP, {
      args: [...bwrapArgs({ base: "minimal", network: false }), "rg", "--version"],
      clearEnv: true,
      env: { PATH: "/usr/local/bin:/usr/bin:/bin" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.success) return undefined;
    const stderr = new TextDecoder().decode(out.stderr).trim();
    return `rg cannot run in the confined view: ${stderr || `exit code ${out.code}`}`;
  } catch (error) {
    return `bwrap could not be started: ${(error as Error).message}`;
  }
}

function timeLimit(config: Readonly<Record<string, string>>): number {
  const raw = config[GREP_TIMEOUT_KEY]?.trim();
  if (!raw) return DEFAULT_GREP_TIMEOUT_MS;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_GREP_TIMEOUT_MS) {
    throw new Error(`${GREP_TIMEOUT_KEY} must be a whole number of ms from 1 to ${MAX_GREP_TIMEOUT_MS}`);
  }
  return ms;
}
