// What cache-warming offers: one warm of a conversation's prompt prefix on demand, and its per-conversation
// settings. Warming never writes to the conversation.
import { defineKey } from "../../src/kernel/mod.ts";
import type { WarmResponse } from "../../src/contract/session_routes.ts";
import type { PrefixOptions } from "../session-orchestrator/api.ts";

export type WarmResult = WarmResponse;

export interface WarmingSettings {
  enabled: boolean;
  /** How long after the last request (turn end or warm) the next warm fires. */
  intervalMs: number;
}

export interface CacheWarming {
  /**
   * Sends the next turn's exact prefix with one output token. Throws DispatchError: not_found (unknown
   * conversation), conflict (a turn is running), invalid (unknown model, bad cwd), unavailable (provider failed).
   */
  warm(conversationId: string, options?: PrefixOptions): Promise<WarmResult>;
  settings(conversationId: string): WarmingSettings;
  setSettings(conversationId: string, patch: Partial<WarmingSettings>): WarmingSettings;
}

export const CacheWarmingKey = defineKey<CacheWarming>("cache-warming");
