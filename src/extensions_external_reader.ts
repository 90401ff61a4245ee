// `dispatch read-manifest FOLDER`, run confined by src/extensions_external.ts: prints FOLDER/manifest.ts's
// `manifest` export as JSON. Its own small graph: the process may read only the folder and src/.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export async function runManifestReader(folder: string): Promise<void> {
  const mod = await import(pathToFileURL(join(folder, "manifest.ts")).href);
  const text = JSON.stringify(mod.manifest ?? null) ?? "null";
  await Deno.stdout.write(new TextEncoder().encode(text));
}
