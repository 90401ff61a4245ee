// Rows of the conversations database → the store's objects.
import type { Chunk, ChunkRole, StoredChunk } from "../../src/contract/events.ts";
import type { SqlValue, Usage } from "../../src/kernel/mod.ts";
import type { Conversation, ConversationStatus, TurnRecord, TurnStatus, Workspace } from "./api.ts";

export type Row = Record<string, SqlValue>;

export function toConversation(row: Row): Conversation {
  return {
    id: String(row.id),
    title: String(row.title),
    status: String(row.status) as ConversationStatus,
    createdAt: Number(row.created_at),
    lastActivityAt: Number(row.last_activity_at),
    workspaceId: String(row.workspace_id),
    cwd: row.cwd === null ? null : String(row.cwd),
    model: row.model === null ? null : String(row.model),
    reasoningEffort: row.reasoning_effort === null ? null : String(row.reasoning_effort),
    settings: parseObject(row.settings),
  };
}

export function toWorkspace(row: Row): Workspace {
  return {
    id: String(row.id),
    title: String(row.title),
    defaultCwd: row.default_cwd === null ? null : String(row.default_cwd),
    createdAt: Number(row.created_at),
    lastActivityAt: Number(row.last_activity_at),
    conversationCount: Number(row.conversation_count),
  };
}

export function toStoredChunk(row: Row): StoredChunk {
  return {
    seq: Number(row.seq),
    role: String(row.role) as ChunkRole,
    chunk: JSON.parse(String(row.chunk)) as Chunk,
  };
}

export function toTurn(row: Row, steps: TurnRecord["steps"]): TurnRecord {
  return {
    turnId: String(row.id),
    conversationId: String(row.conversation_id),
    status: String(row.status) as TurnStatus,
    model: row.model === null ? null : String(row.model),
    startedAt: Number(row.started_at),
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
    usage: row.usage === null ? null : JSON.parse(String(row.usage)) as Usage,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    contextSize: row.context_size === null ? null : Number(row.context_size),
    steps,
  };
}

export function toStep(row: Row): TurnRecord["steps"][number] {
  return {
    stepId: String(row.step_id),
    usage: row.usage === null ? null : JSON.parse(String(row.usage)) as Usage,
    ...(row.ttft_ms !== null ? { ttftMs: Number(row.ttft_ms) } : {}),
    ...(row.decode_ms !== null ? { decodeMs: Number(row.decode_ms) } : {}),
    ...(row.gen_total_ms !== null ? { genTotalMs: Number(row.gen_total_ms) } : {}),
  };
}

export function chunkText(json: SqlValue | undefined): string {
  const chunk = JSON.parse(String(json)) as Chunk;
  return "text" in chunk ? chunk.text : "";
}

export function parseObject(json: SqlValue): Record<string, unknown> {
  try {
    const value = JSON.parse(String(json));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}
