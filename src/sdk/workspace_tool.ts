// Tools that work in the conversation's working directory. The protected paths are read from the extension's
// config once, when the tool is defined (so a malformed value fails activation); the working directory is
// opened on every call, since a conversation's can change, or vanish, between calls.
import type { z } from "zod";
import type { Tool, ToolContext, ToolResult } from "../kernel/contracts.ts";
import { defineTool, type ToolDefinition } from "./tool.ts";
import { type Workspace, workspaceOpener } from "./workspace.ts";

export interface WorkspaceToolDefinition<S extends z.ZodType> extends Omit<ToolDefinition<S>, "execute"> {
  /** Checks of the input alone: they run before the working directory is opened, so they fail first. */
  check?(input: z.output<S>): void;
  execute(input: z.output<S>, ws: Workspace, ctx: ToolContext): Promise<ToolResult | string>;
}

/** `defineTool` for a tool working in the conversation's working directory: `execute` gets it opened. */
export function defineWorkspaceTool<S extends z.ZodType>(
  config: Readonly<Record<string, string>>,
  def: WorkspaceToolDefinition<S>,
): Tool<z.output<S>> {
  const openWorkspace = workspaceOpener(config);
  return defineTool({
    name: def.name,
    description: def.description,
    inputSchema: def.inputSchema,
    async execute(input, ctx) {
      def.check?.(input);
      return await def.execute(input, await openWorkspace(ctx.cwd), ctx);
    },
  });
}
