// Compaction as a non-destructive fork: the model summarizes the history up to the latest turn; a new
// conversation starts from that summary plus the latest turn, and the original stays as it was, readable.
import type { z } from "zod";
import type { CompactSchema } from "../../src/contract/http.ts";
import {
  conflict,
  DispatchError,
  type Events,
  type Logger,
  type ModelRequest,
  notFound,
  type Provider,
} from "../../src/kernel/mod.ts";
import type { ConversationStore } from "../conversation-store/api.ts";
import { ConversationCompacted, type Orchestrator } from "../session-orchestrator/api.ts";
import { chunksToMessages } from "../session-orchestrator/messages.ts";
import { splitHistory, transcript } from "./transcript.ts";

export type CompactResult = z.infer<typeof CompactSchema>;

export interface CompactorDeps {
  store: ConversationStore;
  orchestrator: Orchestrator;
  events: Events;
  log: Logger;
  /** The context window of a model (catalog name). */
  contextWindow: (modelName: string) => Promise<number>;
  newId?: () => string;
}

export const SUMMARY_INSTRUCTIONS =
  "You are compacting a coding agent's conversation so that the agent can go on in a fresh context. Write a " +
  "summary that lets it continue the work without the earlier messages: what the user asked for and still " +
  "wants, decisions made and why, files read or changed (with their paths), commands run and what they " +
  "showed, errors and how they were resolved, and what remains to be done. Be specific and factual, invent " +
  "nothing, and write only the summary.";

/** The summary call's transcript gets at most this share of the model's context window (4 characters a token). */
const TRANSCRIPT_SHARE = 0.6;

export class Compactor {
  #inFlight = new Set<string>();

  constructor(private readonly deps: CompactorDeps) {}

  /**
   * Forks the conversation. Refused (409) while a turn runs in it, while it is being compacted already, when
   * there is nothing to summarize, or when it changed during the summary; a failed summary (503) stores
   * nothing. `model` is the model that writes the summary (default: the conversation's next turn's).
   */
  async compact(
    conversationId: string,
    opts: { model?: string; signal?: AbortSignal } = {},
  ): Promise<CompactResult> {
    const { store, orchestrator } = this.deps;
    const original = store.get(conversationId);
    if (!original) throw notFound("unknown_conversation", `no conversation ${conversationId}`);
    if (orchestrator.running(conversationId)) {
      throw conflict("turn_running", `a turn is running in conversation ${conversationId}; wait or stop it`);
    }
    if (this.#inFlight.has(conversationId)) {
      throw conflict("compacting", `conversation ${conversationId} is being compacted already`);
    }
    this.#inFlight.add(conversationId);
    try {
      const chunks = store.allChunks(conversationId);
      const lastSeq = chunks.at(-1)?.seq ?? 0;
      const { summarized, kept } = splitHistory(chunks);
      if (summarized.length === 0) {
        throw conflict("nothing_to_compact", `conversation ${conversationId} has no history to compact`);
      }
      const prefix = await orchestrator.prefix(conversationId, opts.model ? { model: opts.model } : {});
      const window = await this.deps.contextWindow(prefix.modelName);
      const summary = await this.#summarize(prefix.provider, {
        model: prefix.model,
        messages: [
          { role: "system", content: SUMMARY_INSTRUCTIONS },
          {
            role: "user",
            content:
              `The conversation so far:\n\n${
                transcript(summarized, Math.floor(window * 4 * TRANSCRIPT_SHARE))
              }` +
              "\n\nWrite the summary now.",
          },
        ],
        tools: [],
      }, opts.signal);

      // A turn that ran meanwhile (from a client that did not wait) would be missing from the fork.
      const now = store.allChunks(conversationId).at(-1)?.seq ?? 0;
      if (orchestrator.running(conversationId) || now !== lastSeq) {
        throw conflict(
          "conversation_changed",
          `conversation ${conversationId} changed while it was compacted; try again`,
        );
      }

      const id = (this.deps.newId ?? (() => crypto.randomUUID()))();
      store.create({ id, workspaceId: original.workspaceId, title: original.title, cwd: original.cwd });
      store.update(id, { model: original.model, reasoningEffort: original.reasoningEffort });
      for (const [key, value] of Object.entries(original.settings)) store.setSetting(id, key, value);
      store.setSetting(id, "compactedFrom", conversationId);
      store.appendChunk(id, "system", {
        type: "system",
        text:
          `Summary of the conversation so far (compacted; the full history is conversation ${conversationId}):\n\n${summary}`,
      });
      for (const c of kept) store.appendChunk(id, c.role, c.chunk);

      const result = {
        conversationId,
        newConversationId: id,
        messagesSummarized: chunksToMessages(summarized).length,
        messagesKept: chunksToMessages(kept).length,
      };
      this.deps.log.info("conversation compacted", { ...result, summaryChars: summary.length });
      this.deps.events.emit(ConversationCompacted, result);
      return result;
    } finally {
      this.#inFlight.delete(conversationId);
    }
  }

  /** One model call without tools; its text is the summary. */
  async #summarize(provider: Provider, request: ModelRequest, signal?: AbortSignal): Promise<string> {
    let text = "";
    try {
      for await (const part of provider.stream(request, signal ?? new AbortController().signal)) {
        if (part.type === "text-delta") text += part.delta;
      }
    } catch (error) {
      throw summaryFailed(error instanceof Error ? error.message : String(error));
    }
    if (signal?.aborted) throw summaryFailed("the request was cancelled");
    if (!text.trim()) throw summaryFailed("the model wrote no summary");
    return text.trim();
  }
}

const summaryFailed = (why: string) =>
  new DispatchError(
    "unavailable",
    "summary_failed",
    `the summary could not be written, nothing changed: ${why}`,
  );
