// Starts the real daemon (`src/main.ts serve`) as a subprocess on a free port, for end-to-end tests.
import { fileURLToPath } from "node:url";
import { type FakeProvider, startFakeProvider } from "./fake_provider.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const DENO = Deno.execPath();

export interface Daemon {
  url: string;
  dataDir: string;
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
  env?: Record<string, string>;
  dataDir?: string;
  cwd?: string;
}

export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  const dataDir = opts.dataDir ?? await Deno.makeTempDir({ prefix: "dispatch-data-" });
  const cwd = opts.cwd ?? await Deno.makeTempDir({ prefix: "dispatch-cwd-" });
  const child = new Deno.Command(DENO, {
    args: ["run", "--allow-all", "--unstable-worker-options", MAIN, "serve"],
    cwd,
    env: {
      BACKEND_PORT: "0",
      DISPATCH_DATA_DIR: dataDir,
      DISPATCH_LOG_LEVEL: "info",
      DISPATCH_WORKSPACE_ROOTS: "/tmp",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      NO_COLOR: "1",
      ...opts.env,
    },
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

/** Reads an NDJSON response into parsed objects. */
export async function readNdjson(res: Response): Promise<Record<string, unknown>[]> {
  const text = await res.text();
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** Runs the CLI (`src/main.ts ARGS`) as a subprocess. */
export async function runCliProcess(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(DENO, {
    args: ["run", "--allow-all", MAIN, ...args],
    env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    clearEnv: true,
    cwd,
    stdin: "null",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}
