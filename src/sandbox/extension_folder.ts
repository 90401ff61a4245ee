// Where a sandboxed extension lives. Deno checks a path as written and then follows symlinks, so a link inside
// the (always readable) extension folder would carry the read grant outside it: such folders are refused.
import { dirname, join } from "node:path";
import { isInside as inside } from "../sdk/roots.ts";
import { fileURLToPath, pathToFileURL } from "node:url";

const MAX_ENTRIES = 20_000;

export interface ExtensionLocation {
  /** The module by its real path: the worker's read grant is checked against the path it imports by. */
  moduleUrl: URL;
  /** The folder's real path, absolute. */
  folder: string;
}

export async function locateExtension(moduleUrl: URL, folderUrl?: URL): Promise<ExtensionLocation> {
  if (moduleUrl.protocol !== "file:") {
    throw new Error(`sandboxed extensions load from local files; got ${moduleUrl.href}`);
  }
  const modulePath = await Deno.realPath(fileURLToPath(moduleUrl));
  const folder = await Deno.realPath(folderUrl ? fileURLToPath(folderUrl) : dirname(modulePath));
  if (!inside(modulePath, folder)) throw new Error(`${modulePath} is not inside its folder ${folder}`);
  await refuseEscapingLinks(folder);
  return { moduleUrl: pathToFileURL(modulePath), folder };
}

async function refuseEscapingLinks(folder: string): Promise<void> {
  let seen = 0;
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      if (++seen > MAX_ENTRIES) throw new Error(`extension folder ${folder} has over ${MAX_ENTRIES} entries`);
      const path = join(dir, entry.name);
      if (entry.isSymlink) {
        const target = await Deno.realPath(path).catch(() => undefined);
        if (!target || !inside(target, folder)) {
          throw new Error(`extension folder holds a symlink leading outside it: ${path}`);
        }
      } else if (entry.isDirectory) {
        await walk(path);
      }
    }
  };
  await walk(folder);
}
