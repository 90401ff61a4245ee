// The kernel's vocabulary: usage, how a turn ended, and the events one turn of the loop yields (named as on the
// wire, shared/WIRE.md). What is stored and sent around them (user-message, turn-sealed, chunks) belongs to the
// contract (src/contract/events.ts).
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

export const turnIds = { conversationId: z.string(), turnId: z.string() };
const base = turnIds;

/** What one turn of the agent loop (`runTurn`) yields, in the names of the wire (WIRE.md "AgentEvent"). */
export const TurnEventSchema = z.discriminatedUnion("type", [
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
]);
export type TurnEvent = z.infer<typeof TurnEventSchema>;
export type TurnEventOf<T extends TurnEvent["type"]> = Extract<TurnEvent, { type: T }>;
