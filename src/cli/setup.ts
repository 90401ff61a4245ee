// The installed daemon's env file (/etc/dispatch/env, systemd's EnvironmentFile): `dispatch setup` writes it
// interactively, `dispatch sync-env` copies provider settings and keys into it from another env file, and
// neither ever changes a port. Also `dispatch --version`.
import { parseArgs } from "node:util";
import { basename, dirname, join, resolve } from "node:path";
import { parseDotenv } from "../dotenv.ts";
import { looksSecret } from "../secrets.ts";
import { BUILD_KIND, DISPATCH_VERSION } from "../build_layout.ts";
import { CliError } from "./client.ts";
import type { CliIO } from "./main.ts";

export const DEFAULT_ENV_FILE = "/etc/dispatch/env";
export const DEFAULT_BASE_URL = "https://opencode.ai/zen/go/v1";
export const DEFAULT_MODEL = "deepseek-v4-flash";

/** What a fresh env file holds besides the provider: the production ports and the installed paths. */
const PRODUCTION_SETTINGS = `# Ports (24991 HTTP, 24990 surface WebSocket); sync-env never changes them.
BACKEND_PORT=24991
SURFACE_WS_PORT=24990
DISPATCH_HOST=127.0.0.1
DISPATCH_DATA_DIR=/var/lib/dispatch
# Folders the tools may work in (colon-separated). After changing it, run install.sh --no-build again so the
# service's sandbox (ReadWritePaths, ProtectHome) follows.
DISPATCH_WORKSPACE_ROOTS=/srv/dispatch
DISPATCH_LOG_LEVEL=info
`;

/** The commands of this file, or undefined when `args` is for another one. */
export async function runSetupCommand(args: string[], io: CliIO): Promise<number | undefined> {
  const [name, ...rest] = args;
  if (name !== "setup" && name !== "sync-env" && name !== "--version") return undefined;
  try {
    if (name === "--version") {
      if (rest.length > 0) throw new CliError(`--version takes nothing else (see dispatch --help)`);
      io.out(versionText());
      return 0;
    }
    return name === "setup" ? await setup(rest, io, stdinLines()) : await syncEnv(rest, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`dispatch: ${error.message.replaceAll("\n", " ")}\n`);
      return 1;
    }
    throw error;
  }
}

export function versionText(): string {
  const v = Deno.version;
  return `dispatch ${DISPATCH_VERSION} (${BUILD_KIND})\ndeno ${v.deno} (v8 ${v.v8}, typescript ${v.typescript})\n`;
}

function flags(args: string[], options: Record<string, { type: "string" | "boolean" }>, usage: string) {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0]}"`);
    return values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new CliError(`${(error as Error).message.split("\n")[0]}: dispatch ${usage}`);
  }
}

// ---------------------------------------------------------------- setup

/** Reads answers one line at a time; `secret` hides the typing on a terminal. */
export interface LineSource {
  read(prompt: string, opts?: { secret?: boolean }): Promise<string | null>;
}

async function setup(args: string[], io: CliIO, input: LineSource): Promise<number> {
  const values = flags(
    args,
    { "env-file": { type: "string" }, "no-input": { type: "boolean" } },
    "setup [--env-file F] [--no-input]",
  );
  const path = resolve(io.cwd, String(values["env-file"] ?? DEFAULT_ENV_FILE));
  const existing = await readIfPresent(path);
  if (values["no-input"]) {
    // For installers: the defaults, no key yet; an existing file is left alone.
    if (existing === undefined) await writeEnvFile(path, freshEnvFile({}));
    io.out(`${existing === undefined ? "wrote" : "kept"} ${path}\n`);
    return 0;
  }
  const current = existing === undefined ? {} : parseDotenv(existing);
  if (existing !== undefined) io.out(`${path} exists: the provider settings are updated, the rest is kept\n`);

  const ask = async (
    label: string,
    fallback: string | undefined,
    check: (v: string) => string | undefined,
    secret = false,
  ): Promise<string> => {
    const shown = fallback === undefined ? "" : secret ? " [keep the current one]" : ` [${fallback}]`;
    for (let tries = 0; tries < 3; tries++) {
      const line = await input.read(`${label}${shown}: `, { secret });
      if (line === null) throw new CliError(`setup: input ended before the ${label.toLowerCase()} was given`);
      const value = line.trim() || fallback;
      const problem = value === undefined ? "a value is needed" : check(value);
      if (problem === undefined) return value!;
      io.err(`dispatch: ${label.toLowerCase()}: ${problem}\n`);
    }
    throw new CliError(`setup: no valid ${label.toLowerCase()} after 3 tries`);
  };
  const baseUrl = await ask(
    "Provider base URL",
    current.DISPATCH_BASE_URL ?? DEFAULT_BASE_URL,
    checkBaseUrl,
  );
  const apiKey = await ask("API key", current.DISPATCH_API_KEY || undefined, checkToken, true);
  const model = await ask("Default model", current.DISPATCH_MODEL ?? DEFAULT_MODEL, checkToken);

  const updates = { DISPATCH_BASE_URL: baseUrl, DISPATCH_API_KEY: apiKey, DISPATCH_MODEL: model };
  await writeEnvFile(
    path,
    existing === undefined ? freshEnvFile(updates) : updateEnvText(existing, updates).text,
  );
  io.out(`wrote ${path} (mode 0600); start or restart the daemon: systemctl restart dispatch\n`);
  return 0;
}

function freshEnvFile(
  provider: Partial<Record<"DISPATCH_BASE_URL" | "DISPATCH_API_KEY" | "DISPATCH_MODEL", string>>,
) {
  const text =
    `# Dispatch daemon settings, read by systemd (EnvironmentFile=) for dispatch.service. Mode 0600: it holds
# the API key. \`dispatch setup\` and \`dispatch sync-env\` update the provider lines.
DISPATCH_BASE_URL=${DEFAULT_BASE_URL}
DISPATCH_API_KEY=
DISPATCH_MODEL=${DEFAULT_MODEL}
${PRODUCTION_SETTINGS}`;
  return updateEnvText(text, provider).text;
}

function checkBaseUrl(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL (e.g. ${DEFAULT_BASE_URL})`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return "the URL must start with http:// or https://";
  }
  if (url.username || url.password) return "put the key in the API key, not in the URL";
  return undefined;
}

function checkToken(value: string): string | undefined {
  return /^[\x21-\x7e]+$/.test(value) ? undefined : "one word of printable characters, no spaces";
}

// ---------------------------------------------------------------- sync-env

/** Provider settings and keys: what sync-env copies. Ports and paths never are. */
export function isSyncedName(name: string): boolean {
  if (/PORT/i.test(name)) return false;
  return looksSecret(name) || /_(BASE_URL|MODEL)$/.test(name);
}

async function syncEnv(args: string[], io: CliIO): Promise<number> {
  const usage = "sync-env [--from F] [--env-file F]";
  const values = flags(args, { from: { type: "string" }, "env-file": { type: "string" } }, usage);
  const from = resolve(io.cwd, String(values.from ?? ".env"));
  const path = resolve(io.cwd, String(values["env-file"] ?? DEFAULT_ENV_FILE));
  const source = await readIfPresent(from);
  if (source === undefined) {
    throw new CliError(`sync-env: no env file to copy from at ${from} (use --from F)`);
  }
  const target = await readIfPresent(path);
  if (target === undefined) throw new CliError(`sync-env: no env file at ${path}; run dispatch setup first`);

  const updates = Object.fromEntries(Object.entries(parseDotenv(source)).filter(([k]) => isSyncedName(k)));
  const { text, changed } = updateEnvText(target, updates);
  if (changed.length === 0) {
    io.out(`${path} is up to date\n`);
    return 0;
  }
  await writeEnvFile(path, text);
  io.out(`updated ${changed.join(", ")} in ${path}; restart the daemon: systemctl restart dispatch\n`);
  return 0;
}

// ---------------------------------------------------------------- the file

/**
 * Sets each `updates` key in env-file text: its last assignment is rewritten in place (comments and order are
 * kept), a missing one is appended. Returns the names whose value changed.
 */
export function updateEnvText(
  text: string,
  updates: Record<string, string>,
): { text: string; changed: string[] } {
  const before = parseDotenv(text);
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const changed: string[] = [];
  for (const [name, value] of Object.entries(updates)) {
    if (before[name] === value) continue;
    changed.push(name);
    const line = `${name}=${quote(name, value)}`;
    const at = lines.findLastIndex((l) => new RegExp(`^\\s*(export\\s+)?${name}\\s*=`).test(l));
    if (at === -1 || isMultiline(lines[at])) lines.push(line);
    else lines[at] = line;
  }
  return { text: lines.join("\n") + "\n", changed };
}

/** A quoted value left open on its line continues on the next; such a line is not rewritten in place. */
function isMultiline(line: string): boolean {
  const value = line.slice(line.indexOf("=") + 1).trim();
  const q = value[0];
  return (q === '"' || q === "'" || q === "`") && (value.length === 1 || !value.endsWith(q));
}

/** Bare when safe for both systemd's EnvironmentFile and our parser, else double-quoted. */
function quote(name: string, value: string): string {
  if (/[\n\r]/.test(value)) throw new CliError(`${name}: a value must fit on one line`);
  if (/^[A-Za-z0-9_\-.:/@+=,%~]*$/.test(value)) return value;
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("$", "\\$")}"`;
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Written beside the target and renamed over it, mode 0600 from the start: the key is never world-readable. */
async function writeEnvFile(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await Deno.writeTextFile(tmp, text, { mode: 0o600, createNew: true });
    await Deno.chmod(tmp, 0o600); // the mode above is filtered by the umask
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw new CliError(`cannot write ${path}: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------- stdin

function stdinLines(): LineSource {
  const reader = Deno.stdin.readable.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let ended = false;
  const more = async (): Promise<boolean> => {
    if (ended) return false;
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      return false;
    }
    buffer += decoder.decode(value, { stream: true });
    return true;
  };
  const write = (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text));
  return {
    async read(prompt, opts = {}) {
      write(prompt);
      const hide = opts.secret === true && Deno.stdin.isTerminal();
      if (hide) Deno.stdin.setRaw(true);
      try {
        while (true) {
          if (hide && buffer.includes("\x03")) throw new CliError("setup: interrupted");
          const nl = buffer.search(/\r|\n/);
          if (nl !== -1) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
            return hide ? eraseBackspaces(line) : line;
          }
          if (!(await more())) {
            const rest = buffer;
            buffer = "";
            return rest === "" ? null : rest;
          }
        }
      } finally {
        if (hide) {
          Deno.stdin.setRaw(false);
          write("\n");
        }
      }
    },
  };
}

/** In raw mode the terminal does not edit the line; apply the backspaces typed. */
function eraseBackspaces(line: string): string {
  const out: string[] = [];
  for (const ch of line) {
    if (ch === "\x7f" || ch === "\b") out.pop();
    else out.push(ch);
  }
  return out.join("");
}
