// `dispatch extensions`: the running daemon's extensions with their permissions and state (its loaded-extensions
// surface, read over the surface WebSocket). `dispatch extensions check DIR`: validates an external extension
// before it is installed, with no daemon: its manifest (read confined, as the daemon reads it), its ABI, what it
// asks for against the operator's grants, and its module type-checked against the kit.
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { CliIO } from "./main.ts";
import { failWith, parseSubcommand } from "./subcommand.ts";
import { serverUrl } from "./main.ts";
import { loadEnv } from "../dotenv.ts";
import {
  beyondGrant,
  checkManifest,
  EXTENSIONS_CONFIG_SETTING,
  readExternalConfig,
} from "../extensions_external.ts";
import { BUILD_KIND } from "../build_layout.ts";
import { describePermissions } from "../../extensions/surface-loaded-extensions/mod.ts";

export const EXTENSIONS_USAGE =
  `Usage: dispatch extensions [--json] [--server URL]    the daemon's extensions, permissions, state
       dispatch extensions check DIR [--config FILE]  validate an extension folder before installing it`;

const LIST_TIMEOUT_MS = 10_000;

/** Runs `dispatch extensions ...`; undefined when `args` is another command. */
export async function runExtensionsCommand(args: string[], io: CliIO): Promise<number | undefined> {
  if (args[0] !== "extensions") return undefined;
  const fail = failWith(io);
  const parsed = parseSubcommand(
    args,
    {
      json: { type: "boolean" },
      server: { type: "string" },
      config: { type: "string" },
    },
    EXTENSIONS_USAGE,
    io,
  );
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  let env: Record<string, string | undefined>;
  try {
    env = loadEnv(io.env, io.cwd).merged;
  } catch (error) {
    return fail((error as Error).message);
  }
  try {
    if (positionals[0] === "check") {
      if (!positionals[1] || positionals.length > 2) return fail(`dispatch extensions check DIR`);
      return await check(
        resolve(io.cwd, positionals[1]),
        values.config ?? env[EXTENSIONS_CONFIG_SETTING],
        io,
      );
    }
    if (positionals.length > 0) {
      return fail(`unknown argument "${positionals[0]}" (see dispatch extensions --help)`);
    }
    return await list(serverUrl(values.server, env), env.DISPATCH_TOKEN, !!values.json, io);
  } catch (error) {
    return fail((error as Error).message);
  }
}

async function check(dir: string, configPath: string | undefined, io: CliIO): Promise<number> {
  const problems: string[] = [];
  const result = await checkManifest(dir, ["1", "true"].includes(io.env.DISPATCH_UNCONFINED_SANDBOX ?? ""));
  if (!result.ok) {
    io.err(`dispatch: ${dir}: ${result.error}\n`);
    return 1;
  }
  const { manifest } = result;
  if (configPath) {
    const config = await readExternalConfig(configPath);
    const grant = config.extensions[manifest.id];
    const beyond = beyondGrant(manifest.permissions, grant?.permissions ?? {});
    if (beyond.length) problems.push(`asks for more than ${configPath} grants: ${beyond.join("; ")}`);
  }
  const typeErrors = await typeCheck(join(dir, "mod.ts"));
  if (typeErrors) problems.push(`mod.ts does not type-check:\n${typeErrors}`);
  const tools = manifest.tools?.map((t) => t.name).join(", ") || "registered at activation";
  io.out(
    `${manifest.id} ${manifest.version} (abi ${manifest.abi}): ${manifest.description}\n` +
      `  permissions: ${describePermissions(manifest.permissions)}\n  tools: ${tools}\n`,
  );
  for (const p of problems) io.err(`dispatch: ${manifest.id}: ${p}\n`);
  if (problems.length === 0) io.out(`ok: ${manifest.id} can be installed\n`);
  return problems.length ? 1 : 0;
}

/** `deno check` of the module against the program's config (its import map names the kit); "" when clean. */
async function typeCheck(modulePath: string): Promise<string> {
  if (BUILD_KIND !== "source") return ""; // a compiled or bundled program has no Deno to check with
  const config = fileURLToPath(new URL("../../deno.json", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--no-lock", "--config", config, modulePath],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (out.success) return "";
  // deno-lint-ignore no-control-regex
  const text = new TextDecoder().decode(out.stderr).replace(/\x1b\[[0-9;]*m/g, "");
  return text.split("\n").filter((l) => /ERROR|^\s+at /.test(l) || /^\S.*\S$/.test(l)).slice(0, 20).join(
    "\n",
  );
}

interface Field {
  id: string;
  label: string;
  value: string;
}

async function list(server: string, token: string | undefined, json: boolean, io: CliIO): Promise<number> {
  const fields = await loadedExtensions(server, token);
  if (json) io.out(JSON.stringify(fields.map((f) => ({ id: f.id, state: f.value }))) + "\n");
  else for (const f of fields) io.out(`${f.id}  ${f.value}\n`);
  return 0;
}

/** The loaded-extensions surface's fields, one subscribe over the surface WebSocket. */
function loadedExtensions(server: string, token: string | undefined): Promise<Field[]> {
  const url = server.replace(/^http/, "ws").replace(/\/$/, "") + "/surface";
  return new Promise((resolvePromise, reject) => {
    let socket: WebSocket;
    try {
      socket = new WebSocket(url, token ? [`bearer.${token}`] : []);
    } catch (error) {
      return reject(new Error(`cannot reach ${server}: ${(error as Error).message}`));
    }
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer from ${server} within ${LIST_TIMEOUT_MS / 1000} s`));
    }, LIST_TIMEOUT_MS);
    const done = (fn: () => void) => {
      clearTimeout(timer);
      socket.close();
      fn();
    };
    socket.onopen = () => socket.send(JSON.stringify({ type: "subscribe", surfaceId: "loaded-extensions" }));
    socket.onerror = () => done(() => reject(new Error(`cannot reach ${server} (is the daemon running?)`)));
    socket.onmessage = (e) => {
      const frame = JSON.parse(String(e.data));
      if (frame.type === "surface" && frame.spec?.id === "loaded-extensions") {
        done(() => resolvePromise(frame.spec.fields as Field[]));
      } else if (frame.type === "error") {
        done(() => reject(new Error(`the daemon refused: ${frame.message ?? frame.code}`)));
      }
    };
  });
}
