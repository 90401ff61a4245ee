// run_shell's name, description and input schema, in one place: the manifest declares the tool with them (so the
// daemon offers it before the sandbox starts) and mod.ts registers it with them, so the two cannot differ.
import { z } from "zod";

export const NAME = "run_shell";
export const DEFAULT_TIMEOUT_MS = 120_000;
export const MAX_TIMEOUT_MS = 600_000;
/** Characters of combined output kept in the result: the first and the last half of this. */
export const OUTPUT_LIMIT = 100_000;

export const inputSchema = z.object({
  command: z.string().min(1).describe("The bash command line to run, e.g. `deno test -A 2>&1 | tail -n 50`."),
  timeoutMs: z.number().int().min(1).max(MAX_TIMEOUT_MS).optional().describe(
    `Milliseconds before the command is killed. Default ${DEFAULT_TIMEOUT_MS}, at most ${MAX_TIMEOUT_MS}.`,
  ),
});

export const description = [
  "Run a bash command (`bash -c`) in the working directory and return its combined stdout and stderr,",
  "followed by `exit code N`. Output is streamed live while it runs; the result keeps at most",
  `${OUTPUT_LIMIT / 1000}K characters (start and end, with a marker where the middle was cut), so pipe`,
  "long output through head, tail or grep. There is no stdin and no terminal: use non-interactive flags.",
  `The command is killed after timeoutMs (default ${DEFAULT_TIMEOUT_MS / 1000} s, max ${
    MAX_TIMEOUT_MS / 1000
  } s)`,
  "or when the user stops the turn. Background processes (`&`) do not outlive the command: everything it",
  "started is killed when it ends. Each call is a fresh shell (cd and variables do not carry over).",
  "Prefer read_file, edit_file, grep and glob for reading and changing files.",
].join(" ");
