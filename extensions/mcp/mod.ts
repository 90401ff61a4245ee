// mcp-client: the tools of the MCP servers named in DISPATCH_MCP_CONFIG, offered to the model as
// `mcp__<server>__<tool>`. Servers start in the background at activation (a slow one delays no boot), and
// restart after a crash; all stop with the daemon. A stdio server runs under bubblewrap like run_shell's
// commands: the host read-only, the data dir and env file masked, a fresh /tmp, the config's env and no other.
import type { ExtensionContext, ExtensionModule, ToolHandle } from "../../src/kernel/mod.ts";
import { probeBwrap } from "../../src/sandbox/bwrap.ts";
import type { ConfinedView } from "../../src/sandbox/bwrap.ts";
import { parseProtectedPaths } from "../../src/sdk/roots.ts";
import { McpStatusKey } from "./api.ts";
import { isStdio, readMcpConfig, type ServerConfig } from "./config.ts";
import { McpServerConnection, type McpToolInfo } from "./server.ts";

export { manifest } from "./manifest.ts";

export const MCP_CONFIG_SETTING = "DISPATCH_MCP_CONFIG";
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export interface McpClientOptions {
  /** The config file (DISPATCH_MCP_CONFIG); none: no servers. */
  configPath?: string;
  /** Run stdio servers without bubblewrap (the operator's opt-out, as for run_shell). */
  unconfined?: boolean;
  connectTimeoutMs?: number;
  callTimeoutMs?: number;
  restartBackoffMs?: number;
}

export const mcpToolName = (server: string, tool: string) => `mcp__${server}__${tool}`;

export function createMcpClient(options: McpClientOptions): ExtensionModule {
  return {
    async activate(ctx: ExtensionContext) {
      const servers: McpServerConnection[] = [];
      ctx.services.provide(McpStatusKey, {
        servers: () =>
          servers.map((s) => ({
            id: s.name,
            state: s.state,
            ...(s.error ? { error: s.error } : {}),
            toolCount: s.toolCount,
            configSource: options.configPath,
          })),
      });
      if (!options.configPath) return;
      const config = await readMcpConfig(options.configPath, ctx.config);
      const protectedPaths = parseProtectedPaths(ctx.config);
      const confine = !options.unconfined;
      const probe = confine && Object.values(config.mcpServers).some(isStdio)
        ? await probeBwrap()
        : undefined;
      const view = (server: ServerConfig): ConfinedView | undefined => {
        if (!confine) return undefined;
        if (probe && !probe.ok) {
          throw new Error(
            `stdio MCP servers run only under bubblewrap, which cannot run here: ${probe.reason}`,
          );
        }
        return {
          base: "host",
          masked: protectedPaths,
          ...(isStdio(server) && server.cwd ? { cwd: server.cwd } : {}),
        };
      };
      for (const [name, server] of Object.entries(config.mcpServers)) {
        let unregister: (() => void)[] = [];
        const connection: McpServerConnection = new McpServerConnection(name, server, {
          view,
          log: ctx.log,
          connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
          callTimeoutMs: options.callTimeoutMs ?? 60_000,
          restartBackoffMs: options.restartBackoffMs ?? 1_000,
          maxBackoffMs: 60_000,
          onTools: (tools) => {
            for (const u of unregister) u();
            unregister = tools.flatMap((tool) => {
              const handle = toolHandleFor(connection, tool);
              if (!handle) {
                ctx.log.warn("MCP tool skipped: its name does not fit", { server: name, tool: tool.name });
                return [];
              }
              try {
                return [ctx.tools.register(handle)];
              } catch (error) {
                ctx.log.warn("MCP tool skipped", { server: name, tool: tool.name, error: String(error) });
                return [];
              }
            });
          },
        });
        servers.push(connection);
      }
      for (const s of servers) void s.start();
      return async () => {
        await Promise.all(servers.map((s) => s.stop()));
      };
    },
  };
}

function toolHandleFor(connection: McpServerConnection, tool: McpToolInfo): ToolHandle | undefined {
  const name = mcpToolName(connection.name, tool.name);
  if (!TOOL_NAME.test(name)) return undefined;
  const { $schema: _, ...parameters } = tool.inputSchema ?? { type: "object" };
  return {
    spec: {
      name,
      description: tool.description?.trim() || `${tool.name} (MCP server ${connection.name})`,
      parameters,
    },
    parse(input) {
      const value = input ?? {};
      return typeof value === "object" && !Array.isArray(value)
        ? { ok: true, value }
        : { ok: false, error: "input: the arguments must be a JSON object" };
    },
    execute: (input, ctx) => connection.call(tool.name, input as Record<string, unknown>, ctx.signal),
  };
}
