// The built-in server: typescript-language-server with a pinned TypeScript, both run through Deno's npm
// support (no global install). The daemon fetches them into Deno's cache once, unconfined (fetching runs no
// package code); the server then runs confined with that cache read-only and --cached-only.
import { basename } from "node:path";
import type { PreparedCommand, ServerSpec } from "./servers.ts";

export const TS_SERVER_PACKAGE = "npm:typescript-language-server@5.1.3";
export const TYPESCRIPT_PACKAGE = "npm:typescript@5.9.3";

/** The deno to run: this one when the daemon runs from source, else the one on PATH (a compiled daemon). */
export function denoProgram(): string {
  const exec = Deno.execPath();
  return basename(exec) === "deno" ? exec : "deno";
}

let prepared: Promise<PreparedCommand> | undefined;

/** Caches the packages (once per daemon; a failure is retried on the next start). */
export function prepareTypescript(): Promise<PreparedCommand> {
  prepared ??= fetchPackages().catch((error) => {
    prepared = undefined;
    throw error;
  });
  return prepared;
}

async function fetchPackages(): Promise<PreparedCommand> {
  const deno = denoProgram();
  await deno_(deno, ["cache", "--no-config", "--no-lock", TS_SERVER_PACKAGE, TYPESCRIPT_PACKAGE]);
  const info = JSON.parse(
    await deno_(deno, ["info", "--json", "--no-config", "--no-lock", TYPESCRIPT_PACKAGE]),
  );
  const denoDir = JSON.parse(await deno_(deno, ["info", "--json", "--no-config"])).denoDir as string;
  const pkg = Object.values(info.npmPackages ?? {})[0] as { localPath?: string } | undefined;
  if (!pkg?.localPath || !denoDir) {
    throw new Error(`deno info did not say where ${TYPESCRIPT_PACKAGE} is cached`);
  }
  return {
    command: [deno, "run", "-A", "--no-config", "--no-lock", "--cached-only", TS_SERVER_PACKAGE, "--stdio"],
    env: { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" },
    initializationOptions: {
      // One full server: a syntax server would answer references from open files only while loading.
      tsserver: { path: `${pkg.localPath}/lib/tsserver.js`, useSyntaxServer: "never" },
      disableAutomaticTypingAcquisition: true,
    },
  };
}

async function deno_(deno: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(deno, {
    args,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join("; ");
    throw new Error(`deno ${args[0]} failed (${err || `exit ${out.code}`})`);
  }
  return new TextDecoder().decode(out.stdout);
}

export const TYPESCRIPT_SERVER: ServerSpec = {
  id: "typescript",
  name: "TypeScript Language Server",
  command: ["typescript-language-server", "--stdio"],
  extensions: [".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs"],
  configSource: "built-in",
  prepare: prepareTypescript,
};
