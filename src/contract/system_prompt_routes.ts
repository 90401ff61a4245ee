// Routes of the system-prompt extension: the stored template and its variables. Shapes from shared/WIRE.md
// (`{template}`, `{variables: [{type, name, description}]}`); `value` is Dispatch's addition.
import { z } from "zod";
import { ConversationIdSchema } from "./http.ts";
import { route } from "./route.ts";

/** Large enough for a long hand-written prompt; a template is sent with every model call. */
export const MAX_TEMPLATE_CHARS = 100_000;

export const SystemPromptSchema = z.object({
  /** `[type:name]` placeholders, `[if type:name]…[else]…[endif]` sections (`[if !type:name]` negates). */
  template: z.string(),
  /** True when no template was stored and this is the built-in default. */
  isDefault: z.boolean().optional(),
});
export type SystemPromptView = z.infer<typeof SystemPromptSchema>;

export const SetSystemPromptRequestSchema = z.object({
  /** An empty template sends no system message at all. */
  template: z.string().max(MAX_TEMPLATE_CHARS),
});

export const SystemPromptVariableSchema = z.object({
  type: z.string(),
  name: z.string(),
  description: z.string(),
  /** With `?conversationId=`: what the conversation's next turn would get (null: not set, its sections drop). */
  value: z.string().nullable().optional(),
});
export type SystemPromptVariableView = z.infer<typeof SystemPromptVariableSchema>;

export const SystemPromptVariablesQuerySchema = z.object({ conversationId: ConversationIdSchema.optional() });
export const SystemPromptVariablesSchema = z.object({ variables: z.array(SystemPromptVariableSchema) });

export const systemPromptRoutes = {
  getSystemPrompt: route({
    method: "GET",
    path: "/system-prompt",
    summary: "The system prompt template (the built-in default until one is stored)",
    response: SystemPromptSchema,
  }),
  setSystemPrompt: route({
    method: "PUT",
    path: "/system-prompt",
    summary: "Store the system prompt template; turns that start after it use it",
    body: SetSystemPromptRequestSchema,
    response: SystemPromptSchema,
    errors: { 400: "unknown placeholder or unbalanced conditional (the message names it and its line)" },
  }),
  systemPromptVariables: route({
    method: "GET",
    path: "/system-prompt/variables",
    summary: "The variables a template may use; with conversationId, each one's value for its next turn",
    query: SystemPromptVariablesQuerySchema,
    response: SystemPromptVariablesSchema,
    errors: { 404: "unknown conversation" },
  }),
};
export type SystemPromptRoutes = typeof systemPromptRoutes;
