// Stored chunks → the messages a model is sent. Pure, so history replays the same way every time.
import type { StoredChunk } from "../../src/contract/events.ts";
import type { AssistantPart, ModelMessage, ToolResultPart } from "../../src/kernel/mod.ts";

export function chunksToMessages(chunks: StoredChunk[]): ModelMessage[] {
  const out: ModelMessage[] = [];
  let assistant: AssistantPart[] | undefined;
  let results: ToolResultPart[] | undefined;
  const close = () => {
    if (assistant?.length) out.push({ role: "assistant", parts: assistant });
    if (results?.length) out.push({ role: "tool", results });
    assistant = results = undefined;
  };
  for (const { role, chunk } of chunks) {
    switch (chunk.type) {
      case "text":
        if (role === "assistant") {
          if (results) close();
          (assistant ??= []).push({ type: "text", text: chunk.text });
        } else {
          close();
          out.push(
            role === "system"
              ? { role: "system", content: chunk.text }
              : { role: "user", content: chunk.text },
          );
        }
        break;
      case "thinking":
        if (results) close();
        (assistant ??= []).push({ type: "reasoning", text: chunk.text });
        break;
      case "tool-call":
        if (results) close();
        (assistant ??= []).push({
          type: "tool-call",
          toolCallId: chunk.toolCallId,
          toolName: chunk.toolName,
          input: chunk.input,
        });
        break;
      case "tool-result":
        (results ??= []).push({
          toolCallId: chunk.toolCallId,
          toolName: chunk.toolName,
          content: chunk.content,
          isError: chunk.isError,
        });
        break;
      case "system":
        close();
        out.push({ role: "system", content: chunk.text });
        break;
      case "error":
      case "image":
        // Errors are for people reading the history, not for the model; images are not sent yet.
        break;
    }
  }
  close();
  return out;
}
