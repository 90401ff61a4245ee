// What the build scripts share: the repository root and which extensions run sandboxed (their manifest says
// `core: false`), each of which gets its own module in the build.
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { ManifestInput } from "../src/kernel/mod.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

export async function sandboxedFolders(): Promise<string[]> {
  const folders: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "extensions"))) {
    if (!entry.isDirectory) continue;
    const dir = join(ROOT, "extensions", entry.name);
    if (!(await isFile(join(dir, "manifest.ts")) && await isFile(join(dir, "mod.ts")))) continue; // not one (yet)
    const url = pathToFileURL(join(dir, "manifest.ts"));
    const { manifest } = await import(url.href) as { manifest: ManifestInput };
    if (manifest.core === false) folders.push(entry.name);
  }
  return folders.sort();
}

const isFile = (path: string) => Deno.stat(path).then((s) => s.isFile, () => false);

/** Runs `deno` with `args` in the repository root; stderr is captured for the caller to judge. */
export async function deno(args: string[]): Promise<{ ok: boolean; stderr: string }> {
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { ok: success, stderr: new TextDecoder().decode(stderr) };
}

export function fail(message: string): never {
  console.error(`dispatch build: ${message}`);
  Deno.exit(1);
}
