// Tool registration: turns a zod-typed Tool into the ToolHandle the turn loop runs, and keeps the registry.
import { z } from "zod";
import type { Tool, ToolContext, ToolHandle, ToolResult, ToolSpec } from "./contracts.ts";

/** What a model is shown of a tool: the JSON Schema comes from its zod schema, the same way every time. */
export function toolSpec(tool: Pick<Tool, "name" | "description" | "inputSchema">): ToolSpec {
  const parameters = z.toJSONSchema(tool.inputSchema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  delete parameters.$schema;
  return { name: tool.name, description: tool.description, parameters };
}

export function toolHandle<I>(tool: Tool<I>): ToolHandle {
  return {
    spec: toolSpec(tool as Tool),
    parse(input) {
      const parsed = tool.inputSchema.safeParse(input);
      return parsed.success
        ? { ok: true, value: parsed.data }
        : { ok: false, error: describeZodError(parsed.error) };
    },
    async execute(input, ctx: ToolContext): Promise<ToolResult> {
      const out = await tool.execute(input as I, ctx);
      return typeof out === "string"
        ? { content: out, isError: false }
        : { content: out.content, isError: !!out.isError };
    },
  };
}

/**
 * One line per problem, naming the argument, so a model (or a person) can correct it. `whole` names the value
 * itself when a problem has no path; `max` caps how many problems are listed.
 */
export function describeZodError(error: z.ZodError, whole = "input", max = Infinity): string {
  return error.issues.slice(0, max).map((i) => `${i.path.length ? i.path.join(".") : whole}: ${i.message}`)
    .join("; ");
}

export interface Tools {
  /**
   * A zod-typed tool (its input's type is the schema's, so `execute`'s argument is checked) or a ready handle;
   * returns the unregistration.
   */
  register<I>(tool: Tool<I>): () => void;
  register(tool: ToolHandle): () => void;
  list(): ToolHandle[];
}

export class ToolRegistry {
  #tools = new Map<string, { owner: string; handle: ToolHandle }>();

  register(handle: ToolHandle, owner = "?"): () => void {
    const name = handle.spec.name;
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(name)) {
      throw new Error(`tool name "${name}" must match [a-zA-Z0-9_-]{1,64}`);
    }
    const existing = this.#tools.get(name);
    if (existing) throw new Error(`tool "${name}" is already registered by ${existing.owner}`);
    const entry = { owner, handle };
    this.#tools.set(name, entry);
    return () => {
      if (this.#tools.get(name) === entry) this.#tools.delete(name);
    };
  }

  list(): ToolHandle[] {
    return [...this.#tools.values()].map((e) => e.handle);
  }

  owners(): { name: string; owner: string }[] {
    return [...this.#tools.entries()].map(([name, e]) => ({ name, owner: e.owner }));
  }

  withdraw(owner: string): void {
    for (const [name, e] of this.#tools) if (e.owner === owner) this.#tools.delete(name);
  }

  /** The view one extension gets: what it registers is recorded as its own. */
  scope(owner: string): Tools {
    return {
      // deno-lint-ignore no-explicit-any
      register: (tool: Tool<any> | ToolHandle) =>
        this.register(isToolHandle(tool) ? tool : toolHandle(tool), owner),
      list: () => this.list(),
    };
  }
}

export const isToolHandle = (t: unknown): t is ToolHandle =>
  typeof t === "object" && t !== null && "spec" in t && "parse" in t;
