// Tool authoring helpers: expected failures become `{content, isError: true}` results a model can act on,
// instead of exceptions the turn loop reports as "tool failed".
import type { z } from "zod";
import type { Tool, ToolContext, ToolResult } from "../kernel/contracts.ts";

/** An expected failure (bad path, missing file, refused access): its message is shown to the model as is. */
export class ToolFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolFailure";
  }
}

/** Ends the tool call with an error result carrying `message`. */
export function fail(message: string): never {
  throw new ToolFailure(message);
}

export interface ToolDefinition<S extends z.ZodType> {
  name: string;
  description: string;
  inputSchema: S;
  execute(input: z.output<S>, ctx: ToolContext): Promise<ToolResult | string>;
}

/**
 * A kernel `Tool` whose `execute` turns `ToolFailure`s and file-system errors (`Deno.errors.*`) into error
 * results; anything else (a bug) still throws.
 */
export function defineTool<S extends z.ZodType>(def: ToolDefinition<S>): Tool<z.output<S>> {
  return {
    name: def.name,
    description: def.description,
    inputSchema: def.inputSchema as unknown as z.ZodType<z.output<S>>,
    async execute(input, ctx) {
      try {
        return await def.execute(input, ctx);
      } catch (error) {
        const message = failureMessage(error);
        if (message === undefined) throw error;
        return { content: message, isError: true };
      }
    },
  };
}

/** The model-facing text for an expected failure, or undefined when `error` is not one. */
export function failureMessage(error: unknown): string | undefined {
  if (error instanceof ToolFailure) return error.message;
  if (!(error instanceof Error)) return undefined;
  const E = Deno.errors;
  if (error instanceof E.NotCapable || error instanceof E.PermissionDenied) {
    return `permission denied: ${error.message} (tools may only touch the configured workspace roots)`;
  }
  if (error instanceof E.NotFound) return `not found: ${error.message}`;
  if (error instanceof E.FilesystemLoop) return `too many levels of symbolic links: ${error.message}`;
  const known = Object.values(E) as (new (...args: never[]) => Error)[];
  if (known.some((K) => error instanceof K)) return `${error.name}: ${error.message}`;
  return undefined;
}
