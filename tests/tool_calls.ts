// Calling a tool as the orchestrator does (parse, then execute with a ToolContext), for tests that boot
// extensions in an in-process ExtensionHost.
import { assert } from "./assert.ts";
import type { ExtensionHost } from "../src/kernel/mod.ts";

export interface CallOptions {
  cwd?: string;
  signal?: AbortSignal;
  onOutput?: (data: string, stream: "stdout" | "stderr") => void;
}

/** A caller of `host`'s tools; input that fails the tool's schema fails the test. */
export function toolCaller(host: ExtensionHost, defaults: CallOptions = {}) {
  return async (name: string, input: unknown, opts: CallOptions = {}) => {
    const tool = host.tools.list().find((t) => t.spec.name === name);
    assert(tool, `tool ${name} is registered`);
    const parsed = tool.parse(input);
    assert(parsed.ok, `valid input for ${name}`);
    const result = await tool.execute(parsed.value, {
      signal: opts.signal ?? defaults.signal ?? new AbortController().signal,
      conversationId: "c1",
      turnId: "t1",
      toolCallId: "call1",
      cwd: opts.cwd ?? defaults.cwd,
      emitOutput: opts.onOutput ?? defaults.onOutput ?? (() => {}),
    });
    return { content: result.content, isError: !!result.isError };
  };
}
