// todo: the `todo_write` tool (the model rewrites its whole task list each call) and the per-conversation `todo`
// surface (custom renderer `todo`, payload `{todos}`).
//
// Written to run sandboxed: it imports only the kernel, zod, the kit's service keys and (type-only) the
// contract's types, reaches the surface registry through its service (every call awaited: across the bridge
// each is a message), and needs no permission. The lists live in the surface registry, in memory; after a restart the
// model's next todo_write brings them back.
import { z } from "zod";
import type { ExtensionContext, Tool } from "../../src/kernel/mod.ts";
// From the kit, not from surface-registry: the sandbox preloads the kit, and may read nothing else outside todo/.
import { SurfaceRegistryKey } from "../../src/sdk/keys.ts";
import type { SurfaceField, TodoItem } from "../../src/contract/ui.ts";

export { manifest } from "./manifest.ts";

export { SurfaceRegistryKey };

export const SURFACE_ID = "todo";
export const RENDERER_ID = "todo";
export const MAX_TODOS = 100;

const TodoSchema = z.object({
  content: z.string().trim().min(1).max(2000).describe("What to do, in a short imperative sentence."),
  status: z.enum(["pending", "in_progress", "completed"]).describe(
    "pending (not started), in_progress (being worked on now; keep at most one) or completed.",
  ),
});
const inputSchema = z.object({
  todos: z.array(TodoSchema).max(MAX_TODOS).describe(
    "The complete task list, in order. It replaces the previous list: include every task, done or not.",
  ),
});

const DESCRIPTION = [
  "Write this conversation's task list (shown to the user beside the chat). Use it for work with several",
  "steps: write the plan first, then call again whenever a task starts or finishes. Every call replaces the",
  "whole list, so always send every task with its status; mark a task completed as soon as it is done, and",
  "keep at most one in_progress. Send an empty list to clear it.",
].join(" ");

export const todoFields = (todos: TodoItem[]): SurfaceField[] => [
  { kind: "custom", rendererId: RENDERER_ID, payload: { todos } },
];

export async function activate(ctx: ExtensionContext) {
  const registry = ctx.services.require(SurfaceRegistryKey);
  await registry.contribute({
    id: SURFACE_ID,
    region: "side",
    title: "Todo",
    scope: "conversation",
    fields: todoFields([]),
  });

  const tool: Tool<z.output<typeof inputSchema>> = {
    name: "todo_write",
    description: DESCRIPTION,
    inputSchema,
    async execute(input, tctx) {
      const todos: TodoItem[] = input.todos.map((t) => ({ content: t.content, status: t.status }));
      await registry.update(SURFACE_ID, todoFields(todos), tctx.conversationId);
      return summary(todos);
    },
  };
  ctx.tools.register(tool);

  return async () => {
    await registry.withdraw(SURFACE_ID);
  };
}

function summary(todos: TodoItem[]): string {
  if (todos.length === 0) return "Task list cleared.";
  const count = (s: TodoItem["status"]) => todos.filter((t) => t.status === s).length;
  const mark = { pending: "[ ]", in_progress: "[~]", completed: "[x]" } as const;
  return [
    `Task list saved: ${todos.length} tasks (${count("completed")} completed, ${
      count("in_progress")
    } in progress, ` +
    `${count("pending")} pending).`,
    ...todos.map((t) => `${mark[t.status]} ${t.content}`),
  ].join("\n");
}
