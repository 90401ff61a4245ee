// What system-prompt offers: other extensions add template variables (skills adds `prompt:skills`), and anyone
// may render the prompt a conversation's model call would get.
import { defineKey } from "../../src/kernel/mod.ts";

/** What a variable is resolved from: one model call's facts. */
export interface PromptContext {
  conversationId: string;
  /** The turn's working directory, absolute; undefined when the conversation has none. */
  cwd?: string;
  workspaceId?: string;
  /** The provider's model id, as sent. */
  model: string;
  /** The tool names of the call, sorted. */
  tools: string[];
}

export interface PromptVariable {
  type: string;
  name: string;
  description: string;
  /**
   * The value for one call; null (or blank) means "not set", so `[if type:name]` sections drop. Must be
   * deterministic: the same facts give the same bytes, or the provider's prompt cache misses every turn.
   */
  resolve(context: PromptContext): string | null | Promise<string | null>;
}

export interface SystemPromptService {
  /** Adds a variable (ids are `type:name`, lower-case identifiers); returns its removal. */
  addVariable(variable: PromptVariable): () => void;
  /** The stored template, or the built-in default. */
  template(): { template: string; isDefault: boolean };
  /** The system message for a call with these facts; "" when the template is empty. */
  render(context: PromptContext): Promise<string>;
}

export const SystemPromptKey = defineKey<SystemPromptService>("system-prompt");
