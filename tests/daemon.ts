// Starts the real daemon (`src/main.ts serve`) as a subprocess on a free port, for end-to-end tests, and runs
// the CLI as one. Every child is isolated from the developer's machine: a scrubbed environment (nothing from the
// shell but PATH and Deno's cache), its own HOME, data dir, working directory and env file (DISPATCH_ENV_FILE,
// so the checkout's `./.env` is never read), and free ports.
import { fileURLToPath } from "node:url";
import { type FakeProvider, startFakeProvider } from "./fake_provider.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const DENO = Deno.execPath();

export interface Daemon {
  url: string;
  dataDir: string;
  /** The daemon's env file (DISPATCH_ENV_FILE), its HOME and its working directory. */
  envFile: string;
  home: string;
  cwd: string;
  child: Deno.ChildProcess;
  /** Everything the daemon wrote to stderr (its JSON log). */
  logs(): string;
  /** SIGTERM and wait. */
  stop(): Promise<Deno.CommandStatus>;
  /** SIGKILL and wait: a crash. */
  kill(): Promise<Deno.CommandStatus>;
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

export interface DaemonOptions {
  /** Added to (or overriding) the child's environment; `undefined` removes a variable (e.g. BACKEND_PORT, to
   * let the env file set it). */
  env?: Record<string, string | undefined>;
  dataDir?: string;
  cwd?: string;
  /** What the daemon's own env file holds (empty by default). */
  envFile?: string;
  /** The program and its arguments before "serve" (default: Deno running src/main.ts). */
  program?: string[];
}

/** A child's private places: HOME, a working directory and an env file, in one fresh temp dir. */
export interface Isolation {
  root: string;
  home: string;
  cwd: string;
  envFile: string;
  /** The scrubbed environment: PATH, DENO_DIR, HOME, NO_COLOR and DISPATCH_ENV_FILE, nothing else. */
  env: Record<string, string>;
}

export async function isolation(envFileText = ""): Promise<Isolation> {
  const root = await Deno.makeTempDir({ prefix: "dispatch-test-" });
  const home = `${root}/home`;
  const cwd = `${root}/cwd`;
  const envFile = `${root}/env`;
  await Promise.all([Deno.mkdir(home), Deno.mkdir(cwd), Deno.writeTextFile(envFile, envFileText)]);
  return {
    root,
    home,
    cwd,
    envFile,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      // HOME is a fresh one (skills, prompts and the like are read from HOME), so Deno's cache is named.
      DENO_DIR: denoDir(),
      HOME: home,
      NO_COLOR: "1",
      DISPATCH_ENV_FILE: envFile,
    },
  };
}

function defined(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

let cachedDenoDir: string | undefined;
/** Where this Deno keeps its module cache (as `deno info` says), so a child with another HOME finds it. */
function denoDir(): string {
  cachedDenoDir ??= JSON.parse(
    new TextDecoder().decode(
      new Deno.Command(DENO, { args: ["info", "--json"], env: { NO_COLOR: "1" } }).outputSync().stdout,
    ),
  ).denoDir as string;
  return cachedDenoDir;
}

export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  const own = await isolation(opts.envFile);
  const dataDir = opts.dataDir ?? `${own.root}/data`;
  const cwd = opts.cwd ?? own.cwd;
  const [command, ...args] = opts.program ?? [DENO, "run", "--allow-all", "--unstable-worker-options", MAIN];
  const child = new Deno.Command(command, {
    args: [...args, "serve"],
    cwd,
    env: defined({
      ...own.env,
      BACKEND_PORT: "0",
      DISPATCH_DATA_DIR: dataDir,
      DISPATCH_LOG_LEVEL: "info",
      DISPATCH_WORKSPACE_ROOTS: "/tmp",
      ...opts.env,
    }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  let stderr = "";
  const decoder = new TextDecoder();
  const errDone = (async () => {
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  const url = await readListenLine(child, () => stderr);
  const status = child.status;

  const d: Daemon = {
    url,
    dataDir,
    envFile: own.envFile,
    home: own.home,
    cwd,
    child,
    logs: () => stderr,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const s = await status;
      await errDone;
      return s;
    },
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      const s = await status;
      await errDone;
      return s;
    },
    fetch: (path, init) => fetch(new URL(path, url), init),
  };
  return d;
}

/**
 * A fake provider that requires `apiKey`, and a daemon using it with model `fake-model`; `env` adds to (or
 * overrides) the daemon's environment, which is returned too, for starting the daemon again.
 */
export async function startDaemonWithFake(
  apiKey: string,
  env: Record<string, string> = {},
): Promise<{ fake: FakeProvider; daemon: Daemon; env: Record<string, string> }> {
  const fake = await startFakeProvider({ apiKey });
  const daemonEnv = {
    DISPATCH_API_KEY: apiKey,
    DISPATCH_BASE_URL: fake.baseUrl,
    DISPATCH_MODEL: "fake-model",
    ...env,
  };
  const daemon = await startDaemon({ env: daemonEnv });
  return { fake, daemon, env: daemonEnv };
}

async function readListenLine(child: Deno.ChildProcess, stderr: () => string): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const timeout = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`daemon exited before listening:\n${stderr()}`);
      buffer += value;
      const match = buffer.match(/listening on (http:\/\/\S+)/);
      if (match) {
        // Keep draining stdout so the daemon never blocks on a full pipe.
        (async () => {
          while (!(await reader.read()).done) { /* discard */ }
        })().catch(() => {});
        return match[1];
      }
    }
  } finally {
    clearTimeout(timeout);
  }
}

/** Reads an NDJSON response into parsed objects; `onEvent` sees each one as it arrives. */
export async function readNdjson(
  res: Response,
  onEvent?: (event: Record<string, unknown>) => void,
): Promise<Record<string, unknown>[]> {
  if (!onEvent || !res.body) {
    const text = await res.text();
    return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  }
  const events: Record<string, unknown>[] = [];
  let buffered = "";
  const take = (line: string) => {
    if (!line.trim()) return;
    const event = JSON.parse(line);
    events.push(event);
    onEvent(event);
  };
  for await (const text of res.body.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    lines.forEach(take);
  }
  take(buffered);
  return events;
}

/**
 * Runs the CLI (`src/main.ts ARGS`) as a subprocess, isolated like the daemon: by default in a fresh working
 * directory with an empty env file of its own; `env` adds to (or overrides) that.
 */
export async function runCliProcess(
  args: string[],
  env: Record<string, string | undefined> = {},
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const own = await isolation();
  try {
    const out = await new Deno.Command(DENO, {
      args: ["run", "--allow-all", MAIN, ...args],
      env: defined({ ...own.env, ...env }),
      clearEnv: true,
      cwd: cwd ?? own.cwd,
      stdin: "null",
    }).output();
    const d = new TextDecoder();
    return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
  } finally {
    await Deno.remove(own.root, { recursive: true }).catch(() => {});
  }
}
