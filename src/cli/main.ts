// The CLI: a line-oriented HTTP client of a running daemon. Errors are one line and a non-zero exit.
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { routes } from "../contract/http.ts";
import { CliError, DispatchClient } from "./client.ts";
import { USAGE } from "./usage.ts";

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

const EFFORTS = ["low", "medium", "high", "xhigh", "max"];

export async function runCli(args: string[], io: CliIO): Promise<number> {
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
    const client = new DispatchClient({
      server: serverUrl(values.server as string | undefined, io.env),
      token: io.env.DISPATCH_TOKEN,
    });
    const [command, ...rest] = positionals;
    const command_ = COMMANDS[command];
    if (command_) return await command_({ client, values, rest, io });
    if (!command.includes("/")) {
      throw new CliError(
        `unknown command "${command}"; models are named <credential>/<model> (see dispatch --help)`,
      );
    }
    return await oneShot({ client, values, rest: [command, ...rest], io });
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`dispatch: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

interface Run {
  client: DispatchClient;
  values: Flags;
  rest: string[];
  io: CliIO;
}

const need = (rest: string[], what: string, usage: string): string => {
  if (!rest[0]) throw new CliError(`missing ${what}: dispatch ${usage}`);
  return rest[0];
};

const COMMANDS: Record<string, (run: Run) => Promise<number>> = {
  async models({ client, values, io }) {
    const { models } = await client.call(routes.models);
    if (values.json) io.out(JSON.stringify(models) + "\n");
    else for (const m of models) io.out(m + "\n");
    return 0;
  },

  async list({ client, values, rest, io }) {
    const { conversations } = await client.call(routes.listConversations, {
      query: {
        q: rest[0],
        status: values.status as string | undefined,
        all: values.all ? "true" : undefined,
      },
    });
    if (values.json) io.out(JSON.stringify(conversations) + "\n");
    else {
      for (const c of conversations) {
        io.out(`${c.id}  ${c.status.padEnd(6)}  ${ago(c.lastActivityAt)}  ${c.title || "(untitled)"}\n`);
      }
    }
    return 0;
  },

  async read({ client, values, rest, io }) {
    const id = need(rest, "conversation id", "read <id>");
    const last = await client.call(routes.last, { params: { id } });
    io.out((values.json ? JSON.stringify(last) : last.content) + "\n");
    return 0;
  },

  async stop({ client, rest, io }) {
    const id = need(rest, "conversation id", "stop <id>");
    const { abortedTurn } = await client.call(routes.stop, { params: { id } });
    io.out(abortedTurn ? `stopped the running turn of ${id}\n` : `no turn was running in ${id}\n`);
    return 0;
  },
};

async function oneShot({ client, values, rest, io }: Run): Promise<number> {
  const [model] = rest;
  if (rest.length > 1) {
    throw new CliError(`unexpected argument "${rest[1]}" (quote the message and pass it with --text)`);
  }
  const message = await messageFrom(values, io);
  const effort = values.effort as string | undefined;
  if (effort && !EFFORTS.includes(effort)) {
    throw new CliError(`--effort must be one of ${EFFORTS.join(", ")}`);
  }
  let conversationId = values.conversation as string | undefined;
  let failed = false;
  let inText = false;
  const endLine = () => {
    if (inText) io.out("\n");
    inText = false;
  };
  for await (
    const event of client.stream(routes.chat, {
      body: {
        message,
        model,
        conversationId,
        cwd: values.cwd ? resolve(io.cwd, values.cwd as string) : undefined,
        reasoningEffort: effort,
        workspaceId: values.workspace,
      },
    }, (res) => conversationId = res.headers.get("x-conversation-id") ?? conversationId)
  ) {
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
        io.err(`[tool] ${event.toolName} ${JSON.stringify(event.input)}\n`);
        break;
      case "tool-result":
        io.err(
          `[${event.isError ? "tool error" : "tool done"}] ${event.toolName}: ${firstLine(event.content)}\n`,
        );
        break;
      case "error":
        endLine();
        io.err(`[error] ${event.message}\n`);
        failed = true;
        break;
      case "done":
        endLine();
        if (event.reason === "aborted") io.err("[aborted]\n");
        break;
    }
  }
  endLine();
  io.err(`conversation: ${conversationId}\n`);
  return failed ? 1 : 0;
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

export function serverUrl(flag: string | undefined, env: Record<string, string | undefined>): string {
  const raw = flag ?? `http://127.0.0.1:${env.BACKEND_PORT || "24203"}`;
  try {
    const url = new URL(raw);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
    return url.toString();
  } catch {
    throw new CliError(`--server must be an http(s) URL, got "${raw}"`);
  }
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
