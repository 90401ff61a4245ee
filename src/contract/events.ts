// The events and history on the wire (shared/WIRE.md): a turn's events as the loop makes them (the kernel's),
// plus what the store and transports add around them, and the chunks of the history route.
import { z } from "zod";
import { TurnEventSchema, turnIds } from "../kernel/wire.ts";

export const AgentEventSchema = z.discriminatedUnion("type", [
  ...TurnEventSchema.options,
  /** The turn's message, stored and sent first. */
  z.object({ type: z.literal("user-message"), ...turnIds, text: z.string() }),
  /** Everything of the turn is stored; the last event of a turn. */
  z.object({ type: z.literal("turn-sealed"), ...turnIds }),
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
