// Configuration from the environment and an env file (the environment wins). Secrets stay in `secrets` and are
// handed only to the core extensions that need them; `public` is what every extension may see.
import { resolve } from "node:path";
import { z } from "zod";
import { loadEnv } from "./dotenv.ts";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const port = (name: string) =>
  z.string().regex(/^\d{1,5}$/, `${name} must be a port number`).transform(Number).pipe(
    z.number().max(65535, `${name} must be at most 65535`),
  );

/**
 * The web pages that may call the daemon unless DISPATCH_ALLOWED_ORIGINS says otherwise: the reference
 * frontend's dev server only. Not every loopback port (any local page could then run tools); `loopback`
 * opts in to that.
 */
export const DEFAULT_ALLOWED_ORIGINS = ["http://localhost:24204", "http://127.0.0.1:24204"];

const EnvSchema = z.object({
  BACKEND_PORT: port("BACKEND_PORT").default(24203),
  SURFACE_WS_PORT: port("SURFACE_WS_PORT").optional(),
  DISPATCH_HOST: z.string().min(1).default("127.0.0.1"),
  DISPATCH_DATA_DIR: z.string().min(1).optional(),
  DISPATCH_JOURNAL_DIR: z.string().min(1).optional(),
  DISPATCH_WORKSPACE_ROOTS: z.string().optional(),
  DISPATCH_ALLOWED_ORIGINS: z.string().default(DEFAULT_ALLOWED_ORIGINS.join(",")),
  DISPATCH_ALLOWED_HOSTS: z.string().optional(),
  DISPATCH_ALLOW_INSECURE_BIND: z.enum(["0", "1", "true", "false"]).optional(),
  DISPATCH_LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  DISPATCH_MAX_STEPS: z.string().regex(/^\d+$/, "DISPATCH_MAX_STEPS must be a whole number").optional(),
  DISPATCH_CONTEXT_WINDOW: z.string().regex(
    /^[1-9]\d{2,8}$/,
    "DISPATCH_CONTEXT_WINDOW must be a whole number of tokens, at least 100",
  ).optional(),
  DISPATCH_TOKEN: z.string().min(16, "DISPATCH_TOKEN must be at least 16 characters").optional(),
});

export interface Config {
  hostname: string;
  port: number;
  surfaceWsPort?: number;
  dataDir: string;
  /** Where the journal is written (default: journal/ in the data dir); protected like the data dir. */
  journalDir: string;
  envFile?: string;
  workspaceRoots: string[];
  allowedOrigins: string[];
  /** Host header names served; undefined (any) when bound beyond loopback, where the token guards instead. */
  allowedHosts?: string[];
  allowInsecureBind: boolean;
  logLevel: "debug" | "info" | "warn" | "error";
  /** Safe to show to any extension (sandboxed ones included). */
  public: Record<string, string>;
  /** Everything merged, secrets included: for core factories only. */
  secrets: Record<string, string | undefined>;
  token?: string;
}

export function loadConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
  cwd = Deno.cwd(),
): Config {
  let loaded;
  try {
    loaded = loadEnv(env, cwd);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const { envFile, merged } = loaded;

  const parsed = EnvSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${issue.path.join(".") || "config"}: ${issue.message}`);
  }
  const e = parsed.data;
  const home = merged.HOME ?? "/";
  const dataDir = resolve(cwd, e.DISPATCH_DATA_DIR ?? ".dispatch");
  const journalDir = e.DISPATCH_JOURNAL_DIR
    ? resolve(cwd, e.DISPATCH_JOURNAL_DIR)
    : resolve(dataDir, "journal");
  const workspaceRoots = (e.DISPATCH_WORKSPACE_ROOTS ?? home).split(":").filter(Boolean).map((r) =>
    resolve(cwd, r)
  );
  const allowedOrigins = e.DISPATCH_ALLOWED_ORIGINS.split(",").map((s) => s.trim()).filter(Boolean);
  const allowInsecureBind = e.DISPATCH_ALLOW_INSECURE_BIND === "1" ||
    e.DISPATCH_ALLOW_INSECURE_BIND === "true";

  if (!isLoopback(e.DISPATCH_HOST) && !e.DISPATCH_TOKEN && !allowInsecureBind) {
    throw new ConfigError(
      `refusing to listen on ${e.DISPATCH_HOST} without DISPATCH_TOKEN (set a token, or DISPATCH_ALLOW_INSECURE_BIND=1)`,
    );
  }

  const extraHosts = (e.DISPATCH_ALLOWED_HOSTS ?? "").split(",").map((h) => h.trim().toLowerCase()).filter(
    Boolean,
  );
  const allowedHosts = isLoopback(e.DISPATCH_HOST)
    ? ["localhost", "127.0.0.1", "[::1]", e.DISPATCH_HOST.toLowerCase(), ...extraHosts]
    : extraHosts.length > 0
    ? extraHosts
    : undefined;

  const protectedPaths = [dataDir, envFile, journalDir];
  return {
    hostname: e.DISPATCH_HOST,
    port: e.BACKEND_PORT,
    surfaceWsPort: e.SURFACE_WS_PORT,
    dataDir,
    journalDir,
    envFile,
    workspaceRoots,
    allowedOrigins,
    allowedHosts,
    allowInsecureBind,
    logLevel: e.DISPATCH_LOG_LEVEL,
    token: e.DISPATCH_TOKEN,
    secrets: merged,
    public: {
      DISPATCH_WORKSPACE_ROOTS: workspaceRoots.join(":"),
      DISPATCH_PROTECTED_PATHS: JSON.stringify(protectedPaths),
      ...(e.DISPATCH_MAX_STEPS ? { DISPATCH_MAX_STEPS: e.DISPATCH_MAX_STEPS } : {}),
      ...(e.DISPATCH_CONTEXT_WINDOW ? { DISPATCH_CONTEXT_WINDOW: e.DISPATCH_CONTEXT_WINDOW } : {}),
      // The tools' confinement settings (run_shell and grep check their values at activation).
      ...pick(merged, ["DISPATCH_SHELL_NETWORK", "DISPATCH_UNCONFINED_SHELL", "DISPATCH_GREP_TIMEOUT_MS"]),
    },
  };
}

/** The entries of `vars` named in `names` that are set. */
function pick(vars: Record<string, string>, names: string[]): Record<string, string> {
  return Object.fromEntries(names.filter((n) => vars[n] !== undefined).map((n) => [n, vars[n]]));
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
