// Where the modules the program loads separately (sandbox worker entry, sandboxed extensions) live, in each of
// the three ways it runs: from the source tree (`deno run src/main.ts`), compiled (`deno compile`, which embeds
// the source tree as it is) and bundled (`deno task bundle` → dist/). In a bundle every module's import.meta.url
// is the bundle file's own, so this file's URL ending in ".js" means "bundled".
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import denoJson from "../deno.json" with { type: "json" };

const HERE = new URL(import.meta.url);

export type BuildKind = "source" | "compiled" | "bundle";

export const BUILD_KIND: BuildKind = HERE.pathname.endsWith(".js")
  ? "bundle"
  : Deno.build.standalone
  ? "compiled"
  : "source";

export const DISPATCH_VERSION: string = denoJson.version;

/** The bundle's layout, relative to dist/dispatch.js; the build script writes exactly these paths. */
export const BUNDLE_PATHS = {
  main: "dispatch.js",
  worker: "sandbox/worker_bootstrap.js",
  extension: (folder: string) => `extensions/${folder}/mod.js`,
} as const;

/** The module a sandboxed extension's worker imports, for the extension in extensions/<folder>/. */
export function extensionModuleUrl(folder: string): URL {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(folder)) throw new Error(`not an extension folder name: ${folder}`);
  return BUILD_KIND === "bundle"
    ? new URL(BUNDLE_PATHS.extension(folder), HERE)
    : new URL(`../extensions/${folder}/mod.ts`, HERE);
}

/** The entry module of every sandbox Worker. */
export function sandboxWorkerUrl(): URL {
  return BUILD_KIND === "bundle"
    ? new URL(BUNDLE_PATHS.worker, HERE)
    : new URL("./sandbox/worker_bootstrap.ts", HERE);
}

/** The program's entry module (src/main.ts, or dist/dispatch.js in a bundle). */
export function mainModuleUrl(): URL {
  return BUILD_KIND === "bundle" ? new URL(BUNDLE_PATHS.main, HERE) : new URL("./main.ts", HERE);
}

/**
 * Deno's flags the program needs besides permissions. The bundle runs without any config file (it may sit
 * under someone else's deno.json); the source tree needs its own for the import map.
 */
export function runtimeFlags(): string[] {
  if (BUILD_KIND === "compiled") return []; // baked in at compile time
  const config = BUILD_KIND === "bundle"
    ? ["--no-config"]
    : ["--config", fileURLToPath(new URL("../deno.json", HERE))];
  return [...config, "--unstable-worker-options"];
}

/**
 * The command line that runs this same program with `args` (e.g. an internal subcommand in a child process):
 * the compiled executable itself, or Deno running the entry module with `permissionFlags` (compiled: baked in).
 */
export function selfCommand(
  args: string[],
  permissionFlags: string[] = [],
): { command: string; args: string[] } {
  if (BUILD_KIND === "compiled") return { command: Deno.execPath(), args };
  return {
    command: Deno.execPath(),
    args: ["run", ...runtimeFlags(), ...permissionFlags, fileURLToPath(mainModuleUrl()), ...args],
  };
}

/**
 * What a child running this program (a sandbox host, a manifest reader) must read: its source (or bundle), config
 * and lock file; nothing for a compiled one (the executable itself, bound as Deno.execPath()).
 */
export function programPaths(): string[] {
  if (BUILD_KIND === "compiled") return [];
  const main = fileURLToPath(mainModuleUrl());
  if (BUILD_KIND === "bundle") return [dirname(main)];
  const root = dirname(dirname(main));
  return [dirname(main), join(root, "deno.json"), join(root, "deno.lock")];
}

/** Deno's module cache, which such a child reads (none for a compiled program). */
export function denoCacheDir(): string | undefined {
  if (BUILD_KIND === "compiled") return undefined;
  const env = (name: string) => Deno.env.get(name) || undefined;
  const dir = env("DENO_DIR") ??
    (env("XDG_CACHE_HOME") ? join(env("XDG_CACHE_HOME")!, "deno") : undefined) ??
    (env("HOME") ? join(env("HOME")!, ".cache", "deno") : undefined);
  return dir;
}
