// External extensions: folders named by DISPATCH_EXTENSIONS_DIR (`:`-separated; a folder holding manifest.ts is one
// extension, any other folder holds one extension per subfolder), always sandboxed, with no more than the
// operator grants in DISPATCH_EXTENSIONS_CONFIG. Their manifests are code, so they are read in a confined child
// process (`dispatch read-manifest`), never imported by the daemon. Whatever is wrong with one extension (its
// manifest, its ABI, its grants, its module, its activate) disables that extension only.
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import type { Config } from "./config.ts";
import { ConfigError } from "./config.ts";
import {
  type ExtensionEntry,
  type ExtensionManifest,
  KERNEL_ABI,
  type Logger,
  ManifestSchema,
  type Permissions,
  PermissionsSchema,
} from "./kernel/mod.ts";
import { describeZodError } from "./kernel/tools.ts";
import { denoCacheDir, programPaths, selfCommand } from "./build_layout.ts";
import { spawnConfined } from "./sandbox/bwrap.ts";
import { locateExtension } from "./sandbox/extension_folder.ts";
import { modelWritableRoot } from "./sdk/roots.ts";
import { type BroadKind, UNCONFINED_SETTING } from "./sandbox/mod.ts";
import { sandboxed } from "./extensions.ts";

export const EXTENSIONS_DIR_SETTING = "DISPATCH_EXTENSIONS_DIR";
export const EXTENSIONS_CONFIG_SETTING = "DISPATCH_EXTENSIONS_CONFIG";

/** What the operator grants one extension. */
const GrantSchema = z.object({
  /** The permissions it may have: each kind `true` (anything) or the entries it may list. */
  permissions: PermissionsSchema.default({}),
  /** Other extensions' services it may call (e.g. "surface-registry"). */
  services: z.array(z.string().min(1)).max(64).default([]),
  /** Host events it may hear / send, hooks it may join. */
  listenEvents: z.array(z.string().min(1)).max(64).default([]),
  emitEvents: z.array(z.string().min(1)).max(64).default([]),
  hooks: z.array(z.string().min(1)).max(64).default([]),
  /** Settings handed to it at activation (its config), such as a service URL. */
  config: z.record(z.string(), z.string()).default({}),
}).strict();
export type Grant = z.infer<typeof GrantSchema>;

export const ExternalConfigSchema = z.object({
  /** The longest an extension's activate may take (default 10 s). */
  activateTimeoutMs: z.number().int().positive().max(600_000).optional(),
  extensions: z.record(z.string(), GrantSchema).default({}),
}).strict();
export type ExternalConfig = z.infer<typeof ExternalConfigSchema>;

/** The most a manifest reader may print; a manifest is a few hundred bytes of data. */
const MAX_MANIFEST_BYTES = 256 * 1024;
const READ_TIMEOUT_MS = 15_000;

export async function readExternalConfig(
  path: string | undefined,
  settings?: Readonly<Record<string, string>>,
): Promise<ExternalConfig> {
  if (!path) return ExternalConfigSchema.parse({});
  await refuseModelWritable(EXTENSIONS_CONFIG_SETTING, path, settings);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(`${EXTENSIONS_CONFIG_SETTING}: cannot read ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${EXTENSIONS_CONFIG_SETTING}: ${path} is not JSON: ${(error as Error).message}`);
  }
  const parsed = ExternalConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(`${EXTENSIONS_CONFIG_SETTING}: ${describeZodError(parsed.error, "config")}`);
  }
  return parsed.data;
}

/** Refuses a path the model could write (inside a workspace root): it would grant itself, or run its code. */
async function refuseModelWritable(
  setting: string,
  path: string,
  settings: Readonly<Record<string, string>> | undefined,
): Promise<void> {
  const root = settings && await modelWritableRoot(path, settings);
  if (root) {
    throw new ConfigError(
      `${setting}: ${path} is inside the workspace root ${root}, where the model can write; keep it outside ` +
        "the workspace roots",
    );
  }
}

/** Each extension folder under the configured folders, in order. */
export async function discoverFolders(
  setting: string | undefined,
  settings?: Readonly<Record<string, string>>,
): Promise<string[]> {
  const out: string[] = [];
  for (const dir of (setting ?? "").split(":").filter(Boolean).map((d) => resolve(d))) {
    await refuseModelWritable(EXTENSIONS_DIR_SETTING, dir, settings);
    if (await isFile(join(dir, "manifest.ts"))) {
      out.push(dir);
      continue;
    }
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (error) {
      throw new ConfigError(`${EXTENSIONS_DIR_SETTING}: cannot read ${dir}: ${(error as Error).message}`);
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory) out.push(join(dir, e.name));
    }
  }
  return out;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

export type ManifestCheck =
  | { ok: true; manifest: ExtensionManifest }
  | { ok: false; error: string; manifest?: ExtensionManifest };

/** Reads and validates the manifest of one extension folder: the schema, the ABI, always sandboxed. */
export async function checkManifest(folder: string, unconfined = false): Promise<ManifestCheck> {
  let raw: unknown;
  try {
    await locateExtension(pathToFileURL(join(folder, "mod.ts")));
    raw = await readManifest(folder, unconfined);
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, error: `invalid manifest: ${describeZodError(parsed.error, "manifest")}` };
  }
  const manifest = parsed.data;
  if (manifest.abi !== KERNEL_ABI) {
    const named = manifest.abi === undefined ? "names no ABI" : `is written for ABI ${manifest.abi}`;
    return {
      ok: false,
      manifest,
      error: `manifest ${named}; this kernel's is ${KERNEL_ABI} (abi: ${KERNEL_ABI})`,
    };
  }
  if (manifest.core) {
    return { ok: false, manifest, error: "external extensions cannot be core (always sandboxed)" };
  }
  return { ok: true, manifest };
}

/** What a manifest asks for beyond the grant, one line per kind (empty: within it). */
export function beyondGrant(asked: Permissions, granted: Permissions): string[] {
  const out: string[] = [];
  for (const [kind, ask] of Object.entries(asked) as [keyof Permissions, Permissions[keyof Permissions]][]) {
    if (ask === undefined || ask === false) continue;
    const grant = granted[kind];
    if (grant === true) continue;
    if (ask === true) {
      out.push(`${kind}: all`);
      continue;
    }
    const allowed = Array.isArray(grant) ? grant : [];
    const extra = ask.filter((entry) => !allowed.includes(entry));
    if (extra.length) out.push(`${kind}: ${extra.join(", ")}`);
  }
  return out;
}

/** The entries of every external extension; refused ones fail at activation with the reason (and are listed). */
export async function externalEntries(
  config: Config,
  reserved: ReadonlySet<string>,
  log?: Logger,
): Promise<ExtensionEntry[]> {
  const folders = await discoverFolders(config.secrets[EXTENSIONS_DIR_SETTING], config.public);
  if (folders.length === 0) return [];
  const external = await readExternalConfig(config.secrets[EXTENSIONS_CONFIG_SETTING], config.public);
  const unconfined = ["1", "true"].includes(config.secrets[UNCONFINED_SETTING] ?? "");
  const checks = await Promise.all(folders.map((f) => checkManifest(f, unconfined)));
  const seen = new Set(reserved);
  const entries: ExtensionEntry[] = [];
  for (const [i, folder] of folders.entries()) {
    const check = checks[i];
    const manifest = check.manifest ?? stubManifest(folder);
    if (seen.has(manifest.id)) {
      // Two extensions with one id would stop the boot: the later one is left out (and cannot be listed).
      const why = `external extension in ${folder} is not loaded: id "${manifest.id}" is taken`;
      if (log) log.error(why, { extension: manifest.id, folder });
      else console.error(`dispatch: ${why}`);
      continue;
    }
    seen.add(manifest.id);
    if (!check.ok) {
      entries.push(refused(manifest, `${check.error} (${folder})`));
      continue;
    }
    const grant = external.extensions[manifest.id];
    const beyond = beyondGrant(manifest.permissions, grant?.permissions ?? {});
    if (beyond.length) {
      entries.push(refused(manifest, `asks for more than granted: ${beyond.join("; ")}`));
      continue;
    }
    const broad = (["read", "run", "net"] as const).filter((k) =>
      manifest.permissions[k] === true
    ) as BroadKind[];
    entries.push(sandboxed(config, manifest, pathToFileURL(join(folder, "mod.ts")), {
      folder: pathToFileURL(folder),
      allowBroad: broad,
      exposeServices: grant?.services ?? [],
      listenEvents: grant?.listenEvents ?? [],
      emitEvents: grant?.emitEvents ?? [],
      hooks: grant?.hooks ?? [],
      grantConfig: grant?.config ?? {},
      ...(external.activateTimeoutMs ? { activateTimeoutMs: external.activateTimeoutMs } : {}),
    }));
  }
  return entries;
}

/** A listed, never-started entry: its activate says why it was refused (the host logs and lists it). */
function refused(manifest: ExtensionManifest, why: string): ExtensionEntry {
  return {
    manifest: { ...manifest, dependsOn: [], core: false },
    sandboxed: true,
    activate: () => Promise.reject(new Error(why)),
  };
}

/** A manifest unreadable: listed under its folder's name. */
function stubManifest(folder: string): ExtensionManifest {
  const name = basename(folder).toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/^[^a-z]+/, "");
  return ManifestSchema.parse({
    id: (name || "external").slice(0, 63),
    version: "?",
    description: `external extension in ${folder}`,
  });
}

/**
 * Runs `dispatch read-manifest FOLDER` under bubblewrap (no network, the system, Deno and the program read-only,
 * the folder read-only) with Deno's permission to read those only: the manifest's module as JSON.
 */
async function readManifest(folder: string, unconfined: boolean): Promise<unknown> {
  const program = programPaths();
  const denoDir = denoCacheDir();
  const flags = ["--cached-only", "--no-prompt", `--allow-read=${[folder, ...program].join(",")}`];
  const self = selfCommand(["read-manifest", folder], flags);
  const env: Record<string, string> = { PATH: "/usr/bin:/bin", NO_COLOR: "1", HOME: "/nonexistent" };
  if (denoDir) env.DENO_DIR = denoDir;
  let stdout: ReadableStream<Uint8Array>;
  let status: Promise<Deno.CommandStatus>;
  let stop: () => void;
  let stderr: ReadableStream<Uint8Array> | null;
  if (unconfined) {
    const child = new Deno.Command(self.command, {
      args: self.args,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    ({ stdout, stderr, status } = child);
    stop = () => child.kill("SIGKILL");
  } else {
    const child = spawnConfined({
      view: {
        base: "minimal",
        readOnly: [Deno.execPath(), ...(env.DENO_DIR ? [env.DENO_DIR] : []), ...program, folder],
        network: false,
        cwd: folder,
      },
      argv: [self.command, ...self.args],
      env,
    });
    ({ stdout, stderr, status } = child);
    stop = () => void child.stop();
  }
  const timer = setTimeout(stop, READ_TIMEOUT_MS);
  try {
    const [out, err, code] = await Promise.all([
      readLimited(stdout),
      stderr ? readLimited(stderr) : "",
      status,
    ]);
    if (!code.success) {
      const why = err.trim().split("\n").filter(Boolean).slice(-3).join(" ") ||
        `reader exited with ${code.code}`;
      throw new Error(`manifest.ts could not be loaded: ${why.slice(0, 500)}`);
    }
    return JSON.parse(out);
  } finally {
    clearTimeout(timer);
  }
}

async function readLimited(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > MAX_MANIFEST_BYTES) throw new Error("manifest reader printed too much");
    chunks.push(chunk);
  }
  return new TextDecoder().decode(await new Blob(chunks as BlobPart[]).bytes());
}
