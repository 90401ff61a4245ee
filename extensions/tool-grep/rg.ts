// Matching with ripgrep (linear time: no pattern can make it backtrack for ever) under bubblewrap: the files
// to search are chosen by the caller and handed to `rg` in argv-sized batches, in order, inside a view that
// holds only the system folders and the searched folder read-only, with the protected paths masked and no
// network. Stopping (time limit, abort, enough matches) ends the batch's whole sandbox.
import { type ConfinedChild, type ConfinedView, spawnConfined } from "../../src/sandbox/bwrap.ts";

export interface RgMatch {
  /** The path as given to rg. */
  path: string;
  line: number;
  text: string;
}

export interface RgSearch {
  pattern: string;
  /** Absolute paths, searched in this order. */
  files: string[];
  view: ConfinedView;
  /** Stop after this many matches (the result says it stopped early). */
  maxMatches: number;
  timeoutMs: number;
  signal: AbortSignal;
}

export type RgResult =
  | { kind: "done"; matches: RgMatch[]; stoppedEarly: boolean; binary: number; longLines: number }
  | { kind: "invalid-pattern"; message: string }
  | { kind: "timeout"; matches: RgMatch[] }
  | { kind: "aborted" }
  | { kind: "failed"; message: string };

/** A JSON line longer than this (a huge matching line) is left out rather than held in memory. */
const MAX_JSON_LINE = 1 << 20;

/**
 * rg options: JSON out (paths and lines survive any bytes in them), one thread (the given order is kept), no
 * config file; /dev/null first, so rg always has a path and never falls back to searching its cwd.
 */
function rgArgv(pattern: string, files: string[]): string[] {
  return [
    "rg",
    "--json",
    "--threads=1",
    "--no-config",
    "--no-messages",
    `--regexp=${pattern}`,
    "--",
    "/dev/null",
    ...files,
  ];
}

/** Files per rg run: well under the kernel's argument size limit. */
const BATCH_FILES = 2000;
const BATCH_BYTES = 256 * 1024;

function* batches(files: string[]): Generator<string[]> {
  let batch: string[] = [];
  let bytes = 0;
  for (const file of files) {
    if (batch.length > 0 && (batch.length >= BATCH_FILES || bytes + file.length + 1 > BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(file);
    bytes += file.length + 1;
  }
  yield batch; // possibly empty: rg still checks the pattern
}

export async function searchWithRg(search: RgSearch): Promise<RgResult> {
  if (search.signal.aborted) return { kind: "aborted" };
  let current: ConfinedChild | undefined;
  let stopped: "timeout" | "aborted" | undefined;
  const stop = (why: "timeout" | "aborted") => {
    stopped ??= why;
    current?.stop();
  };
  const deadline = setTimeout(() => stop("timeout"), search.timeoutMs);
  const onAbort = () => stop("aborted");
  search.signal.addEventListener("abort", onAbort, { once: true });

  const matches: RgMatch[] = [];
  let binary = 0, longLines = 0, stoppedEarly = false;
  try {
    for (const batch of batches(search.files)) {
      if (stopped || stoppedEarly) break;
      const child = spawnConfined({
        view: search.view,
        argv: rgArgv(search.pattern, batch),
        env: { PATH: "/usr/local/bin:/usr/bin:/bin", LC_ALL: "C.UTF-8" },
      });
      current = child;
      const stderr = new Response(child.stderr).text().catch(() => "");
      let pending: RgMatch[] = []; // the current file's, kept until rg says whether it is binary
      for await (const line of jsonLines(child.stdout, () => longLines++)) {
        let message: { type?: string; data?: Record<string, unknown> };
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        const data = message.data ?? {};
        if (message.type === "match") {
          pending.push({
            path: text(data.path),
            line: Number(data.line_number),
            text: text(data.lines).replace(/\r?\n$/, ""),
          });
        } else if (message.type === "end") {
          if (data.binary_offset !== null && data.binary_offset !== undefined) binary++;
          else matches.push(...pending);
          pending = [];
          if (matches.length > search.maxMatches) {
            matches.length = search.maxMatches;
            stoppedEarly = true;
            break;
          }
        }
      }
      await child.stop();
      const status = await child.status;
      const errors = await stderr;
      if (stopped || stoppedEarly) break;
      // rg: 0 matches found, 1 none found, 2 an error (a bad pattern; unreadable files are not reported)
      if (status.code > 1) {
        const regexError = /regex parse error[\s\S]*|error parsing regex[\s\S]*|the literal [\s\S]*/.exec(
          errors,
        );
        if (regexError) return { kind: "invalid-pattern", message: oneLine(regexError[0]) };
        return { kind: "failed", message: oneLine(errors) || `exit code ${status.code}` };
      }
    }
  } finally {
    clearTimeout(deadline);
    search.signal.removeEventListener("abort", onAbort);
    await current?.stop();
  }
  if (stopped === "aborted") return { kind: "aborted" };
  if (stopped === "timeout") return { kind: "timeout", matches };
  return { kind: "done", matches, stoppedEarly, binary, longLines };
}

/** Lines of a byte stream; one over MAX_JSON_LINE is dropped (and counted) instead of being held. */
async function* jsonLines(stream: ReadableStream<Uint8Array>, onDropped: () => void): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  let dropping = false;
  for await (const chunk of stream) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (dropping) dropping = false;
      else yield line;
    }
    if (buffer.length > MAX_JSON_LINE) {
      if (!dropping) onDropped();
      dropping = true;
      buffer = "";
    }
  }
  if (buffer && !dropping) yield buffer;
}

/** rg's `{text}` or `{bytes}` (base64, for data that is not UTF-8) as a string. */
function text(value: unknown): string {
  const v = (value ?? {}) as { text?: string; bytes?: string };
  if (typeof v.text === "string") return v.text;
  if (typeof v.bytes === "string") {
    return new TextDecoder().decode(Uint8Array.from(atob(v.bytes), (c) => c.charCodeAt(0)));
  }
  return "";
}

function oneLine(text: string): string {
  return text.trim().split("\n").map((l) => l.trim()).filter(Boolean).join(" ").slice(0, 500);
}
