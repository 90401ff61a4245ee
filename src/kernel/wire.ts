// The wire vocabulary every client reads (names from shared/WIRE.md). Kernel-owned so that runTurn,
// storage and transports all speak one union; zod so transports can validate what they parse.
import { z } from "zod";

export const UsageSchema = z.object({
  inputTokens: z.number(),
  outputTokens: z.number(),
  cacheReadTokens: z.number().optional(),
  cacheWriteTokens: z.number().optional(),
  reasoningTokens: z.number().optional(),
});
export type Usage = z.infer<typeof UsageSchema>;

/** The sum of two usages; optional counts stay absent when neither side has them. */
export function addUsage(a: Usage, b: Usage): Usage {
  const sum = (x?: number, y?: number) =>
    x === undefined && y === undefined ? undefined : (x ?? 0) + (y ?? 0);
  const out: Usage = {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
  };
  const cacheReadTokens = sum(a.cacheReadTokens, b.cacheReadTokens);
  const cacheWriteTokens = sum(a.cacheWriteTokens, b.cacheWriteTokens);
  const reasoningTokens = sum(a.reasoningTokens, b.reasoningTokens);
  if (cacheReadTokens !== undefined) out.cacheReadTokens = cacheReadTokens;
  if (cacheWriteTokens !== undefined) out.cacheWriteTokens = cacheWriteTokens;
  if (reasoningTokens !== undefined) out.reasoningTokens = reasoningTokens;
  return out;
}

export const DoneReasonSchema = z.enum(["stop", "aborted", "max-steps", "error"]);
export type DoneReason = z.infer<typeof DoneReasonSchema>;

const base = { conversationId: z.string(), turnId: z.string() };

export const AgentEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("user-message"), ...base, text: z.string() }),
  z.object({ type: z.literal("turn-start"), ...base }),
  z.object({ type: z.literal("text-delta"), ...base, delta: z.string() }),
  z.object({ type: z.literal("reasoning-delta"), ...base, delta: z.string() }),
  z.object({
    type: z.literal("tool-call"),
    ...base,
    stepId: z.string(),
    toolCallId: z.string(),
    toolName: z.string(),
    input: z.unknown(),
  }),
  z.object({
    type: z.literal("tool-output"),
    ...base,
    toolCallId: z.string(),
    data: z.string(),
    stream: z.enum(["stdout", "stderr"]),
  }),
  z.object({
    type: z.literal("tool-result"),
    ...base,
    stepId: z.string(),
    toolCallId: z.string(),
    toolName: z.string(),
    content: z.string(),
    isError: z.boolean(),
    durationMs: z.number().optional(),
  }),
  z.object({ type: z.literal("usage"), ...base, stepId: z.string().optional(), usage: UsageSchema }),
  z.object({
    type: z.literal("step-complete"),
    ...base,
    stepId: z.string(),
    ttftMs: z.number().optional(),
    decodeMs: z.number().optional(),
    genTotalMs: z.number().optional(),
  }),
  z.object({
    type: z.literal("provider-retry"),
    ...base,
    attempt: z.number(),
    delayMs: z.number(),
    message: z.string(),
    code: z.string().optional(),
  }),
  z.object({ type: z.literal("steering"), ...base, text: z.string() }),
  z.object({ type: z.literal("error"), ...base, message: z.string(), code: z.string().optional() }),
  z.object({
    type: z.literal("done"),
    ...base,
    reason: DoneReasonSchema,
    durationMs: z.number().optional(),
    usage: UsageSchema.optional(),
    contextSize: z.number().optional(),
  }),
  z.object({ type: z.literal("turn-sealed"), ...base }),
  z.object({ type: z.literal("status"), conversationId: z.string(), status: z.string() }),
]);
export type AgentEvent = z.infer<typeof AgentEventSchema>;
export type AgentEventType = AgentEvent["type"];
export type AgentEventOf<T extends AgentEventType> = Extract<AgentEvent, { type: T }>;

/** One stored piece of history (WIRE.md "History"). */
export const ChunkSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text"), text: z.string() }),
  z.object({ type: z.literal("thinking"), text: z.string() }),
  z.object({
    type: z.literal("tool-call"),
    toolCallId: z.string(),
    toolName: z.string(),
    input: z.unknown(),
    stepId: z.string().optional(),
  }),
  z.object({
    type: z.literal("tool-result"),
    toolCallId: z.string(),
    toolName: z.string(),
    content: z.string(),
    isError: z.boolean(),
    stepId: z.string().optional(),
  }),
  z.object({ type: z.literal("error"), message: z.string(), code: z.string().optional() }),
  z.object({ type: z.literal("system"), text: z.string() }),
  z.object({ type: z.literal("image"), url: z.string(), mimeType: z.string().optional() }),
]);
export type Chunk = z.infer<typeof ChunkSchema>;

export const ChunkRoleSchema = z.enum(["system", "user", "assistant", "tool"]);
export type ChunkRole = z.infer<typeof ChunkRoleSchema>;

export const StoredChunkSchema = z.object({ seq: z.number(), role: ChunkRoleSchema, chunk: ChunkSchema });
export type StoredChunk = z.infer<typeof StoredChunkSchema>;
