// Pure parts of compaction: where the history is cut, and the summarized part as text for the summary call.
import type { StoredChunk } from "../../src/contract/events.ts";

/** The history split at a turn: the part a summary replaces and the latest turn, kept as it is. */
export interface Split {
  summarized: StoredChunk[];
  kept: StoredChunk[];
}

/**
 * Cuts before the last user message (a turn's or a steering one: either starts where every earlier tool call
 * has its result). With a single user message everything is summarized.
 */
export function splitHistory(chunks: StoredChunk[]): Split {
  const users = chunks.flatMap((c, i) => (c.role === "user" && c.chunk.type === "text" ? [i] : []));
  const cut = users.length >= 2 ? users.at(-1)! : chunks.length;
  return { summarized: chunks.slice(0, cut), kept: chunks.slice(cut) };
}

/** One entry of the transcript is cut to this many characters (tool output can be huge). */
const ENTRY_CHARS = 4_000;

const clip = (text: string) =>
  text.length > ENTRY_CHARS
    ? `${text.slice(0, ENTRY_CHARS)} [... ${text.length - ENTRY_CHARS} more characters]`
    : text;

/** The chunks as a plain transcript, at most `maxChars` long (the oldest entries go first when it is longer). */
export function transcript(chunks: StoredChunk[], maxChars: number): string {
  const entries: string[] = [];
  for (const { role, chunk } of chunks) {
    switch (chunk.type) {
      case "text":
        entries.push(
          `${role === "assistant" ? "Assistant" : role === "system" ? "System" : "User"}: ${
            clip(chunk.text)
          }`,
        );
        break;
      case "system":
        entries.push(`System: ${clip(chunk.text)}`);
        break;
      case "tool-call":
        entries.push(
          `Assistant called ${chunk.toolName} with ${clip(JSON.stringify(chunk.input) ?? "null")}`,
        );
        break;
      case "tool-result":
        entries.push(`${chunk.toolName} ${chunk.isError ? "failed" : "returned"}: ${clip(chunk.content)}`);
        break;
      case "error":
        entries.push(`Error: ${clip(chunk.message)}`);
        break;
      case "thinking":
      case "image":
        break; // the model's private reasoning and pictures are not summarized
    }
  }
  let total = entries.reduce((n, e) => n + e.length + 2, 0);
  let first = 0;
  while (total > maxChars && first < entries.length - 1) total -= entries[first++].length + 2;
  return (first > 0 ? "[earlier messages omitted]\n\n" : "") + entries.slice(first).join("\n\n");
}

/** A rough token count of model input (about four characters a token), for deciding when to compact. */
export const estimateTokens = (value: unknown): number =>
  Math.ceil((typeof value === "string" ? value : JSON.stringify(value) ?? "").length / 4);
