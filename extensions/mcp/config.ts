// DISPATCH_MCP_CONFIG: the servers, in the format the other agents use. Read only from the file the operator
// names (never from a project folder the model can write: a known command-injection route in other agents).
import { z } from "zod";
import { describeZodError } from "../../src/kernel/mod.ts";
import { modelWritableRoot } from "../../src/sdk/roots.ts";

const Name = z.string().regex(
  /^[a-zA-Z0-9_-]{1,32}$/,
  "server names are letters, digits, _ and - (at most 32)",
);
const Timeout = z.number().int().positive().max(3_600_000).optional();

export const StdioServerSchema = z.object({
  command: z.string().min(1),
  args: z.array(z.string()).max(256).default([]),
  /** The server's whole environment: nothing else is passed. */
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().min(1).optional(),
  /** The longest one tool call may take (default 60 s). */
  timeoutMs: Timeout,
}).strict();

export const HttpServerSchema = z.object({
  url: z.url({ protocol: /^https?$/ }),
  headers: z.record(z.string(), z.string()).default({}),
  timeoutMs: Timeout,
}).strict();

export const McpConfigSchema = z.object({
  mcpServers: z.record(Name, z.union([StdioServerSchema, HttpServerSchema])).default({}),
}).strict();

export type StdioServerConfig = z.infer<typeof StdioServerSchema>;
export type HttpServerConfig = z.infer<typeof HttpServerSchema>;
export type ServerConfig = StdioServerConfig | HttpServerConfig;
export type McpConfig = z.infer<typeof McpConfigSchema>;

export const isStdio = (s: ServerConfig): s is StdioServerConfig => "command" in s;

/**
 * The parsed file; throws a one-line Error naming the problem. `config` (the extension's) names the workspace
 * roots: a file the model could write there is refused.
 */
export async function readMcpConfig(
  path: string,
  config: Readonly<Record<string, string>>,
): Promise<McpConfig> {
  const root = await modelWritableRoot(path, config);
  if (root) {
    throw new Error(
      `DISPATCH_MCP_CONFIG ${path} is inside the workspace root ${root}, where the model can write: ` +
        "keep it outside the workspace roots (or in the data directory)",
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new Error(`DISPATCH_MCP_CONFIG ${path}: ${(error as Error).message}`);
  }
  const parsed = McpConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`DISPATCH_MCP_CONFIG ${path}: ${describeZodError(parsed.error, "config")}`);
  }
  return parsed.data;
}
