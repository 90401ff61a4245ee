// The variable registry, the stored template and rendering. A variable that fails to resolve counts as unset
// (logged): a broken file or extension never fails a turn.
import type { Logger } from "../../src/kernel/mod.ts";
import type { PromptContext, PromptVariable, SystemPromptService } from "./api.ts";
import { DEFAULT_TEMPLATE } from "./default_template.ts";
import type { TemplateStore } from "./store.ts";
import { checkTemplate, type Node, parseTemplate, referencedKeys, renderTemplate } from "./template.ts";

const VARIABLE_ID = /^[a-z][a-z0-9_]*$/;

export class SystemPrompt implements SystemPromptService {
  readonly #variables = new Map<string, PromptVariable>();
  #parsed?: { template: string; nodes: Node[] };
  readonly #warned = new Set<string>();

  constructor(private readonly store: TemplateStore, private readonly log: Logger) {}

  addVariable(variable: PromptVariable): () => void {
    if (!VARIABLE_ID.test(variable.type) || !VARIABLE_ID.test(variable.name)) {
      throw new Error(
        `variable ${variable.type}:${variable.name}: type and name must be lower-case identifiers`,
      );
    }
    const key = `${variable.type}:${variable.name}`;
    if (this.#variables.has(key)) throw new Error(`variable ${key} is already defined`);
    this.#variables.set(key, variable);
    return () => {
      if (this.#variables.get(key) === variable) this.#variables.delete(key);
    };
  }

  variables(): PromptVariable[] {
    return [...this.#variables.values()];
  }

  template(): { template: string; isDefault: boolean } {
    const stored = this.store.get();
    return stored === undefined
      ? { template: DEFAULT_TEMPLATE, isDefault: true }
      : { template: stored, isDefault: false };
  }

  /** Stores a template after checking it against the variables defined now; throws DispatchError (400). */
  setTemplate(template: string): void {
    checkTemplate(template, (key) => this.#variables.has(key));
    this.store.set(template);
    this.#parsed = undefined;
  }

  async render(context: PromptContext): Promise<string> {
    const nodes = this.#nodes();
    const values = await this.resolve(context, referencedKeys(nodes));
    return renderTemplate(nodes, values);
  }

  /** The values of `keys` (all variables when omitted) for a call with these facts. */
  async resolve(context: PromptContext, keys?: Iterable<string>): Promise<Map<string, string | null>> {
    const wanted = [...(keys ?? this.#variables.keys())];
    const values = await Promise.all(wanted.map(async (key) => {
      const variable = this.#variables.get(key);
      if (!variable) {
        // A stored template may name a variable whose extension is no longer loaded.
        this.#warnOnce(`unknown:${key}`, "the system prompt template names an unknown variable", {
          variable: key,
        });
        return null;
      }
      try {
        return await variable.resolve(context);
      } catch (error) {
        this.log.warn("a system prompt variable failed; it counts as unset", {
          variable: key,
          error: String(error),
        });
        return null;
      }
    }));
    return new Map(wanted.map((key, i) => [key, values[i]]));
  }

  #nodes(): Node[] {
    const { template } = this.template();
    if (this.#parsed?.template !== template) {
      let nodes: Node[];
      try {
        nodes = parseTemplate(template);
      } catch (error) {
        // Only a template stored by an older build can fail here; send it as written rather than nothing.
        this.#warnOnce(`parse:${template}`, "the stored system prompt template does not parse", {
          error: String(error),
        });
        nodes = [{ kind: "text", text: template }];
      }
      this.#parsed = { template, nodes };
    }
    return this.#parsed.nodes;
  }

  #warnOnce(id: string, msg: string, fields: Record<string, unknown>): void {
    if (this.#warned.has(id)) return;
    this.#warned.add(id);
    this.log.warn(msg, fields);
  }
}
