// The shared start of a subcommand that has its own module (trace, extensions): strict flag parsing, `--help`,
// and one-line errors, so each command's module holds only what it does.
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import type { CliIO } from "./main.ts";

/** Writes a one-line error and returns the exit code 1. */
export function failWith(io: CliIO): (message: string) => number {
  return (message) => {
    io.err(`dispatch: ${message.replaceAll("\n", " ")}\n`);
    return 1;
  };
}

/**
 * Parses `args` (the subcommand's name first) with `options` plus `--help`. Returns the parsed flags, or the
 * exit code when it already answered (the usage, or a one-line error naming the command's help).
 */
export function parseSubcommand<const O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
  usage: string,
  io: CliIO,
) {
  let parsed;
  try {
    parsed = parseArgs({
      args: args.slice(1),
      options: { ...options, help: { type: "boolean", short: "h" } } as O & ParseArgsOptionsConfig,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    return failWith(io)(`${(error as Error).message.split("\n")[0]} (see dispatch ${args[0]} --help)`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.out(usage + "\n");
    return 0;
  }
  return parsed;
}
