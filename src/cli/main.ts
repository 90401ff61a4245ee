// The CLI: a line-oriented HTTP client of a running daemon. Errors are one line and a non-zero exit.
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { compactionRoutes, type ConversationView, ReasoningEffortSchema, routes } from "../contract/http.ts";
import { sessionRoutes } from "../contract/session_routes.ts";
import { CliError, DispatchClient } from "./client.ts";
import { USAGE } from "./usage.ts";
import { loadEnv } from "../dotenv.ts";
import { runSetupCommand } from "./setup.ts";
import { runTraceCommand } from "./trace.ts";
import { runExtensionsCommand } from "./extensions.ts";

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  cwd: string;
}

type Flags = Record<string, string | boolean | undefined>;

const FLAGS = {
  server: { type: "string" },
  text: { type: "string" },
  file: { type: "string" },
  cwd: { type: "string" },
  conversation: { type: "string" },
  effort: { type: "string" },
  workspace: { type: "string" },
  status: { type: "string" },
  all: { type: "boolean" },
  json: { type: "boolean" },
  queue: { type: "boolean" },
  open: { type: "boolean" },
  "show-reasoning": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Flag = keyof typeof FLAGS;

const EFFORTS: readonly string[] = ReasoningEffortSchema.options;

interface Run {
  client: DispatchClient;
  values: Flags;
  rest: string[];
  io: CliIO;
}

interface Command {
  /** Flags it takes besides --server and --help. */
  flags: Flag[];
  /** How many positional arguments it takes at most. */
  args: number;
  usage: string;
  run(run: Run): Promise<number>;
}

export async function runCli(args: string[], io: CliIO): Promise<number> {
  const local = await runSetupCommand(args, io); // setup, sync-env, --version: no daemon involved
  if (local !== undefined) return local;
  const traced = runTraceCommand(args, io); // reads the trace store: no daemon involved
  if (traced !== undefined) return traced;
  const extensions = await runExtensionsCommand(args, io);
  if (extensions !== undefined) return extensions;
  try {
    let parsed;
    try {
      parsed = parseArgs({ args, options: FLAGS, allowPositionals: true, strict: true });
    } catch (error) {
      throw new CliError(`${(error as Error).message.split("\n")[0]} (see dispatch --help)`);
    }
    const { values, positionals } = parsed as { values: Flags; positionals: string[] };
    if (values.help || positionals.length === 0) {
      io.out(USAGE + "\n");
      return positionals.length === 0 && !values.help ? 2 : 0;
    }
    const [name, ...rest] = positionals;
    const command = COMMANDS[name] ?? (name.includes("/") ? ONE_SHOT : undefined);
    if (!command) {
      throw new CliError(
        `unknown command "${name}"; models are named <credential>/<model> (see dispatch --help)`,
      );
    }
    const given = (Object.keys(values) as Flag[]).filter((f) => values[f] !== undefined);
    const stray = given.find((f) => f !== "server" && !command.flags.includes(f));
    if (stray) throw new CliError(`--${stray} does not apply here: dispatch ${command.usage}`);
    if (rest.length > command.args) {
      throw new CliError(
        `unexpected argument "${rest[command.args]}" (quote a message and pass it with --text): ` +
          `dispatch ${command.usage}`,
      );
    }
    const env = cliEnv(io);
    const client = new DispatchClient({
      server: serverUrl(values.server as string | undefined, env),
      token: env.DISPATCH_TOKEN,
    });
    return await command.run({ client, values, rest: command === ONE_SHOT ? positionals : rest, io });
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`dispatch: ${error.message.replaceAll("\n", " ")}\n`);
      return 1;
    }
    throw error;
  }
}

const need = (rest: string[], what: string, usage: string): string => {
  if (!rest[0]) throw new CliError(`missing ${what}: dispatch ${usage}`);
  return rest[0];
};

/**
 * A full id, or a unique prefix of one (`list` shows them); closed conversations count too. With `orNew`, an id
 * nothing matches is returned as is (a turn creates it).
 */
async function resolveId(client: DispatchClient, given: string, orNew = false): Promise<string> {
  const { conversations } = await client.call(routes.listConversations, { query: { q: given, all: "true" } });
  if (conversations.some((c) => c.id === given)) return given;
  const matches = conversations.filter((c) => c.id.startsWith(given));
  if (matches.length === 1) return matches[0].id;
  if (matches.length > 1) {
    throw new CliError(
      `"${given}" matches ${matches.length} conversations (${
        matches.slice(0, 3).map((c) => c.id).join(", ")
      }${matches.length > 3 ? ", ..." : ""}); give more of the id`,
    );
  }
  if (orNew) return given;
  throw new CliError(`no conversation ${given}`);
}

const printJson = (io: CliIO, value: unknown) => io.out(JSON.stringify(value) + "\n");

const COMMANDS: Record<string, Command> = {
  models: {
    flags: ["json"],
    args: 0,
    usage: "models [--json]",
    async run({ client, values, io }) {
      const listing = await client.call(routes.models);
      if (values.json) printJson(io, listing);
      else for (const m of listing.models) io.out(m + "\n");
      return 0;
    },
  },

  list: {
    flags: ["status", "all", "workspace", "json"],
    args: 1,
    usage: "list [QUERY] [--status S] [--all] [--workspace W] [--json]",
    async run({ client, values, rest, io }) {
      const { conversations } = await client.call(routes.listConversations, {
        query: {
          q: rest[0],
          status: values.status as string | undefined,
          all: values.all ? "true" : undefined,
          workspaceId: values.workspace as string | undefined,
        },
      });
      if (values.json) printJson(io, conversations);
      else for (const c of conversations) io.out(listLine(c) + "\n");
      return 0;
    },
  },

  read: {
    flags: ["json"],
    args: 1,
    usage: "read ID [--json]",
    async run({ client, values, rest, io }) {
      const id = await resolveId(client, need(rest, "conversation id", "read ID"));
      const last = await client.call(routes.last, { params: { id } });
      if (values.json) printJson(io, last);
      else io.out(last.content + "\n");
      return 0;
    },
  },

  stop: {
    flags: ["json"],
    args: 1,
    usage: "stop ID [--json]",
    async run({ client, values, rest, io }) {
      const id = await resolveId(client, need(rest, "conversation id", "stop ID"));
      const out = await client.call(routes.stop, { params: { id } });
      if (values.json) printJson(io, out);
      else io.out(out.abortedTurn ? `stopped the running turn of ${id}\n` : `no turn was running in ${id}\n`);
      return 0;
    },
  },

  compact: {
    flags: ["json"],
    args: 1,
    usage: "compact ID [--json]",
    async run({ client, values, rest, io }) {
      const id = await resolveId(client, need(rest, "conversation id", "compact ID"));
      const out = await client.call(compactionRoutes.compact, { params: { id } });
      if (values.json) printJson(io, out);
      else {
        io.out(
          `compacted ${id} into ${out.newConversationId} ` +
            `(${out.messagesSummarized} messages summarized, ${out.messagesKept} kept)\n`,
        );
      }
      return 0;
    },
  },

  open: {
    flags: ["json"],
    args: 1,
    usage: "open ID [--json]",
    async run({ client, values, rest, io }) {
      const id = await resolveId(client, need(rest, "conversation id", "open ID"));
      const out = await client.call(routes.open, { params: { id } });
      if (values.json) printJson(io, out);
      else io.out(`asked frontends to open ${id}\n`);
      return 0;
    },
  },

  send: {
    flags: ["text", "file", "queue", "open", "cwd", "effort", "workspace", "show-reasoning", "json"],
    args: 1,
    usage: 'send ID --text "..." [--queue] [--open] [--cwd DIR] [--effort E] [--workspace W]',
    async run({ client, values, rest, io }) {
      const id = await resolveId(client, need(rest, "conversation id", "send ID --text ..."));
      const message = await messageFrom(values, io);
      const effort = effortFrom(values);
      const cwd = values.cwd ? resolve(io.cwd, values.cwd as string) : undefined;
      const workspaceId = values.workspace as string | undefined;
      if (!values.queue) {
        if (values.json) throw new CliError("--json applies to send --queue only");
        return await streamTurn(
          { client, values, rest, io },
          { conversationId: id, message, cwd, reasoningEffort: effort, workspaceId },
        );
      }
      if (values["show-reasoning"]) throw new CliError("--show-reasoning does not apply to send --queue");
      // A queued message carries only its text: settings go first, as the conversation's own.
      if (workspaceId && !cwd) throw new CliError("send --queue --workspace needs --cwd too");
      if (cwd) await client.call(routes.setCwd, { params: { id }, body: { cwd, workspaceId } });
      if (effort) {
        await client.call(routes.setReasoningEffort, { params: { id }, body: { reasoningEffort: effort } });
      }
      const out = await client.call(sessionRoutes.queue, { params: { id }, body: { message } });
      if (values.open) await client.call(routes.open, { params: { id } });
      if (values.json) printJson(io, out);
      else if (out.startedTurn) io.out(`started a turn in ${id}\n`);
      else io.out(`queued in ${id} (${out.queue.length} waiting)\n`);
      return 0;
    },
  },
};

const ONE_SHOT: Command = {
  flags: ["text", "file", "cwd", "conversation", "effort", "workspace", "show-reasoning", "open"],
  args: 1,
  usage: 'MODEL --text "..." [--file F] [--cwd DIR] [--conversation ID] [--effort E] [--workspace W] ...',
  async run(run) {
    const { client, values, rest, io } = run;
    const [model] = rest;
    const message = await messageFrom(values, io);
    const effort = effortFrom(values);
    const given = values.conversation as string | undefined;
    return await streamTurn(run, {
      message,
      model,
      conversationId: given ? await resolveId(client, given, true) : undefined,
      cwd: values.cwd ? resolve(io.cwd, values.cwd as string) : undefined,
      reasoningEffort: effort,
      workspaceId: values.workspace as string | undefined,
    });
  },
};

/** Runs one turn and prints it: the answer on stdout, everything else on stderr, the id last. */
async function streamTurn(
  { client, values, io }: Run,
  body: Record<string, string | undefined>,
): Promise<number> {
  const { response, events } = await client.open(routes.chat, {
    body,
    headers: { "x-client-request-id": crypto.randomUUID() },
  });
  const conversationId = response.headers.get("x-conversation-id") ?? body.conversationId;
  if (values.open && conversationId) await client.call(routes.open, { params: { id: conversationId } });
  let failed = false;
  let inText = false;
  const endLine = () => {
    if (inText) io.out("\n");
    inText = false;
  };
  for await (const event of events) {
    switch (event.type) {
      case "text-delta":
        io.out(event.delta);
        inText = true;
        break;
      case "reasoning-delta":
        if (values["show-reasoning"]) io.err(event.delta);
        break;
      case "tool-call":
        endLine();
        io.err(`[tool] ${event.toolName} ${firstLine(JSON.stringify(event.input) ?? "")}\n`);
        break;
      case "tool-result":
        io.err(
          `[${event.isError ? "tool error" : "tool done"}] ${event.toolName}: ${firstLine(event.content)}\n`,
        );
        break;
      case "provider-retry":
        io.err(`[retry ${event.attempt + 1} in ${waitText(event.delayMs)}] ${event.message}\n`);
        break;
      case "error":
        endLine();
        io.err(`[error] ${event.message}\n`);
        failed = true;
        break;
      case "done":
        endLine();
        if (event.reason === "aborted") io.err("[aborted]\n");
        if (event.reason === "max-steps") io.err("[stopped: too many steps]\n");
        break;
    }
  }
  endLine();
  io.err(`conversation: ${conversationId}\n`);
  return failed ? 1 : 0;
}

/** `250 ms`, `1.5 s`, `30 s`. */
function waitText(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function effortFrom(values: Flags): string | undefined {
  const effort = values.effort as string | undefined;
  if (effort !== undefined && !EFFORTS.includes(effort)) {
    throw new CliError(`--effort must be one of ${EFFORTS.join(", ")}`);
  }
  return effort;
}

async function messageFrom(values: Flags, io: CliIO): Promise<string> {
  let text = (values.text as string | undefined) ?? "";
  if (values.file) {
    const path = resolve(io.cwd, values.file as string);
    try {
      text = `${text}${text ? "\n\n" : ""}${await Deno.readTextFile(path)}`;
    } catch (error) {
      throw new CliError(`cannot read --file ${path}: ${(error as Error).message}`);
    }
  }
  if (!text.trim()) throw new CliError('missing message: pass --text "..." (or --file)');
  return text;
}

/** The daemon's settings as the daemon reads them: the env file (DISPATCH_ENV_FILE or ./.env) under the environment. */
function cliEnv(io: CliIO): Record<string, string> {
  try {
    return loadEnv(io.env, io.cwd).merged;
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

/**
 * `--server`, else the daemon's own address: DISPATCH_HOST (a wildcard bind is reached on loopback) and
 * BACKEND_PORT, with the daemon's defaults.
 */
export function serverUrl(flag: string | undefined, env: Record<string, string | undefined>): string {
  let raw = flag;
  if (raw === undefined) {
    const host = (env.DISPATCH_HOST || "127.0.0.1").replace(/^\[(.*)\]$/, "$1");
    const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
    raw = `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${env.BACKEND_PORT || "24203"}`;
  }
  try {
    const url = new URL(raw);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
    return url.toString();
  } catch {
    throw new CliError(
      flag === undefined
        ? `DISPATCH_HOST and BACKEND_PORT do not make a URL ("${raw}"); fix them or pass --server URL`
        : `--server must be an http(s) URL, got "${raw}"`,
    );
  }
}

function listLine(c: ConversationView): string {
  const title = (c.title || "(untitled)").replaceAll(/\s+/g, " ");
  return `${c.id}  ${c.status.padEnd(6)}  ${ago(c.lastActivityAt)}  ${title}`;
}

const firstLine = (s: string) => {
  const line = s.split("\n")[0];
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
};

function ago(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`.padStart(8);
  if (s < 3600) return `${Math.round(s / 60)}m ago`.padStart(8);
  if (s < 86400) return `${Math.round(s / 3600)}h ago`.padStart(8);
  return `${Math.round(s / 86400)}d ago`.padStart(8);
}
