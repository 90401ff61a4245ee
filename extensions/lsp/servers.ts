// Which language server handles which files. Built in: TypeScript and JavaScript through
// typescript-language-server. An operator replaces that list with DISPATCH_LSP_SERVERS, and a working directory
// with its own `.dispatch/lsp.json` (the reference's file), both of the shape
//   {"servers": {"<id>": {"command": ["prog", "arg"], "extensions": [".py"], "name"?: "...",
//                         "initialization"?: {...}}}}
// The first source that names any server wins, whole. Every server runs confined (client.ts), whoever named it.
import { z } from "zod";
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
export const CWD_CONFIG_FILE = ".dispatch/lsp.json";
const MAX_CONFIG_BYTES = 64 * 1024;

const ServerConfigSchema = z.object({
  command: z.array(z.string().min(1).max(4096)).min(1).max(64),
  extensions: z.array(z.string().regex(/^\.[A-Za-z0-9_+-]{1,20}$/)).min(1).max(50),
  name: z.string().min(1).max(100).optional(),
  initialization: z.record(z.string(), z.unknown()).optional(),
});
export const ServersConfigSchema = z.object({
  servers: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), ServerConfigSchema),
});

/** The servers of a config text; throws an Error naming `source` when it does not fit. */
export function parseServers(text: string, source: string): ServerSpec[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = ServersConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${source}: ${issue.path.join(".") || "value"}: ${issue.message}`);
  }
  return Object.entries(parsed.data.servers).map(([id, s]) => ({
    id,
    name: s.name ?? id,
    command: s.command,
    extensions: s.extensions.map((e) => e.toLowerCase()),
    ...(s.initialization ? { initializationOptions: s.initialization } : {}),
    configSource: source,
  }));
}

/** The daemon-wide list: the operator's setting, else the built-in one. Throws on a malformed setting. */
export function defaultServers(setting: string | undefined): ServerSpec[] {
  if (setting?.trim()) return parseServers(setting, SERVERS_SETTING);
  return [TYPESCRIPT_SERVER];
}

/**
 * The servers for a working directory: its `.dispatch/lsp.json` when it has one, else `fallback`. `readConfig`
 * reads the file through the workspace's containment (a protected or outside path reads as absent).
 */
export async function serversFor(
  readConfig: () => Promise<string | undefined>,
  fallback: ServerSpec[],
): Promise<ServerSpec[]> {
  const text = await readConfig();
  if (text === undefined) return fallback;
  if (text.length > MAX_CONFIG_BYTES) throw new Error(`${CWD_CONFIG_FILE} is over ${MAX_CONFIG_BYTES} bytes`);
  const servers = parseServers(text, CWD_CONFIG_FILE);
  return servers.length > 0 ? servers : fallback;
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
