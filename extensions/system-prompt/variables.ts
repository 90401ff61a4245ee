// The built-in variables. Each is a function of the call's facts and of files on disk; times are at day
// granularity except system:time, which says what it costs.
import { formatInstructionFiles, projectAgentsMd, userAgentsMd } from "./agents_md.ts";
import type { PromptContext, PromptVariable } from "./api.ts";

export interface BuiltinOptions {
  now: () => number;
  home?: string;
  os: string;
  hostname: string;
  protectedPaths: readonly string[];
  onSkip: (path: string, why: string) => void;
}

/** Tool names that reach the web, by the names web tools are given in Dispatch and its peers. */
const WEB_TOOL = /^(web_|fetch_|http_|browse|youtube_)/;

const pad = (n: number) => String(n).padStart(2, "0");

export function localDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function localTime(ms: number): string {
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  return `${pad(d.getHours())}:${pad(d.getMinutes())} (UTC${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${
    pad(Math.abs(offset) % 60)
  })`;
}

export function builtinVariables(opts: BuiltinOptions): PromptVariable[] {
  const files = { protectedPaths: opts.protectedPaths, onSkip: opts.onSkip };
  const v = (
    type: string,
    name: string,
    description: string,
    resolve: (c: PromptContext) => string | null | undefined | Promise<string | null>,
  ): PromptVariable => ({ type, name, description, resolve: async (c) => (await resolve(c)) ?? null });
  return [
    v("system", "date", "Today's date, YYYY-MM-DD, in the daemon's time zone", () => localDate(opts.now())),
    v(
      "system",
      "time",
      "The current time, HH:MM with the UTC offset. It changes every turn, so a prompt using it is never " +
        "cached by the provider between turns: prefer system:date",
      () => localTime(opts.now()),
    ),
    v("system", "os", "The operating system the tools run on", () => opts.os),
    v("system", "hostname", "The machine's host name", () => opts.hostname),
    v("prompt", "cwd", "The conversation's working directory (unset when it has none)", (c) => c.cwd),
    v("prompt", "workspace_id", "The conversation's workspace", (c) => c.workspaceId),
    v("prompt", "model", "The model's id, as sent to its provider", (c) => c.model),
    v("prompt", "conversation_id", "The conversation's id", (c) => c.conversationId),
    v("prompt", "tools", "The tools the model has, by name, sorted", (c) => c.tools.join(", ") || null),
    v(
      "prompt",
      "web_tools",
      "The tools that reach the web, by name (unset when there are none)",
      (c) => c.tools.filter((t) => WEB_TOOL.test(t)).join(", ") || null,
    ),
    v(
      "agents",
      "project",
      "Every AGENTS.md from the filesystem root down to the working directory, outermost first, each under its path",
      async (c) => c.cwd ? formatInstructionFiles(await projectAgentsMd(c.cwd, files)) : null,
    ),
    v("agents", "user", "The user's own instructions, ~/.agents/AGENTS.md", async () => {
      if (!opts.home) return null;
      const file = await userAgentsMd(opts.home, files);
      return file ? formatInstructionFiles([file]) : null;
    }),
  ];
}

/** "Ubuntu 24.04.1 LTS (linux x86_64)", or just the platform when the release file says nothing. */
export function describeOs(osRelease: string | undefined, os: string, arch: string): string {
  const pretty = osRelease?.match(/^PRETTY_NAME="?([^"\n]+)"?$/m)?.[1];
  return pretty ? `${pretty} (${os} ${arch})` : `${os} ${arch}`;
}
