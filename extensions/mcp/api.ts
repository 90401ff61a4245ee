// The mcp-client extension's service: its servers' state, for `GET /conversations/:id/mcp`.
import type { z } from "zod";
import { defineKey, type Key } from "../../src/kernel/mod.ts";
import type { McpServerInfoSchema } from "../../src/contract/http.ts";

/** One server as `GET /conversations/:id/mcp` lists it (the reference's McpServerInfo). */
export type McpServerInfo = z.infer<typeof McpServerInfoSchema>;
/** `connecting` is transient, `disconnected` idle (stopped), `error` down (restarting after a backoff). */
export type McpServerState = McpServerInfo["state"];

export interface McpStatus {
  servers(): McpServerInfo[];
}

export const McpStatusKey: Key<McpStatus> = defineKey<McpStatus>("mcp-client");
