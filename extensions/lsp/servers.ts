// Which language server handles which files. Built in: TypeScript and JavaScript through
// typescript-language-server. The operator replaces that list, for every working directory or for the ones
// below a folder, with DISPATCH_LSP_SERVERS:
//   {"servers": {"<id>": {"command": ["prog", "arg"], "extensions": [".py"], "name"?: "...",
//                         "initialization"?: {...}}},
//    "directories": {"/abs/folder": {"servers": {...}}}}
// A working directory gets the servers of the deepest listed folder holding it, else `servers`, else the
// built-in list. Nothing is read from the working directory itself: a command there would be configuration the
// model can write (the reference's `.dispatch/lsp.json` is not read). Every server runs confined (client.ts).
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { isInside } from "../../src/sdk/roots.ts";
import { TYPESCRIPT_SERVER } from "./typescript.ts";

export interface ServerSpec {
  id: string;
  name: string;
  /** argv, looked up on PATH inside the confined view. */
  command: string[];
  /** File name endings, lower case, with the dot. */
  extensions: string[];
  initializationOptions?: Record<string, unknown>;
  configSource: string;
  /** Run (unconfined, by the daemon) before the first start: fetches what the command needs. */
  prepare?: () => Promise<PreparedCommand>;
}

/** What `prepare` found: the argv to run and additions to the server's environment and initialization. */
export interface PreparedCommand {
  command: string[];
  env?: Record<string, string>;
  initializationOptions?: Record<string, unknown>;
}

export const SERVERS_SETTING = "DISPATCH_LSP_SERVERS";

const ServerConfigSchema = z.object({
  command: z.array(z.string().min(1).max(4096)).min(1).max(64),
  extensions: z.array(z.string().regex(/^\.[A-Za-z0-9_+-]{1,20}$/)).min(1).max(50),
  name: z.string().min(1).max(100).optional(),
  initialization: z.record(z.string(), z.unknown()).optional(),
}).strict();
const ServersSchema = z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), ServerConfigSchema);
export const LspSettingSchema = z.object({
  servers: ServersSchema.optional(),
  directories: z.record(
    z.string().refine(isAbsolute, "must be an absolute path"),
    z.object({ servers: ServersSchema }).strict(),
  )
    .optional(),
}).strict();

/** Which servers each working directory gets. */
export interface ServerTable {
  /** The servers of a working directory (its real path). */
  for(root: string): ServerSpec[];
}

/** The operator's setting (unset: the built-in list everywhere). Throws an Error naming it when malformed. */
export function serverTable(setting: string | undefined): ServerTable {
  if (!setting?.trim()) return { for: () => [TYPESCRIPT_SERVER] };
  let raw: unknown;
  try {
    raw = JSON.parse(setting);
  } catch (error) {
    throw new Error(`${SERVERS_SETTING} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = LspSettingSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${SERVERS_SETTING}: ${issue.path.join(".") || "value"}: ${issue.message}`);
  }
  const fallback = parsed.data.servers ? specs(parsed.data.servers, SERVERS_SETTING) : [TYPESCRIPT_SERVER];
  const folders = Object.entries(parsed.data.directories ?? {}).map(([folder, d]) => ({
    folder: resolve(folder),
    servers: specs(d.servers, `${SERVERS_SETTING} (${folder})`),
  })).sort((a, b) => b.folder.length - a.folder.length);
  return { for: (root) => folders.find((f) => isInside(root, f.folder))?.servers ?? fallback };
}

function specs(servers: z.infer<typeof ServersSchema>, source: string): ServerSpec[] {
  return Object.entries(servers).map(([id, s]) => ({
    id,
    name: s.name ?? id,
    command: s.command,
    extensions: s.extensions.map((e) => e.toLowerCase()),
    ...(s.initialization ? { initializationOptions: s.initialization } : {}),
    configSource: source,
  }));
}

/** The first server handling files named like `path`. */
export function serverForFile(servers: ServerSpec[], path: string): ServerSpec | undefined {
  const lower = path.toLowerCase();
  return servers.find((s) => s.extensions.some((e) => lower.endsWith(e)));
}

const LANGUAGE_IDS: Record<string, string> = {
  ".ts": "typescript",
  ".mts": "typescript",
  ".cts": "typescript",
  ".tsx": "typescriptreact",
  ".js": "javascript",
  ".mjs": "javascript",
  ".cjs": "javascript",
  ".jsx": "javascriptreact",
  ".py": "python",
  ".rs": "rust",
  ".go": "go",
};

/** The LSP languageId of a file (its ending without the dot when unknown). */
export function languageId(path: string): string {
  const dot = path.lastIndexOf(".");
  const ext = dot >= 0 ? path.slice(dot).toLowerCase() : "";
  return LANGUAGE_IDS[ext] ?? (ext.slice(1) || "plaintext");
}
