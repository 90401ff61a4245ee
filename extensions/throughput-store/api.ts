// What throughput-store offers: recording one sample per finished turn and aggregating them over a period.
import { defineKey } from "../../src/kernel/mod.ts";

export type ThroughputPeriod = "day" | "week" | "month";

export interface ThroughputSample {
  /** `<credential>/<model>`. */
  model: string;
  /** When the turn finished, epoch milliseconds. */
  at: number;
  outputTokens: number;
  /** Generation time of the turn's model calls (tool runs excluded), milliseconds. */
  genMs: number;
}

export interface ThroughputReport {
  period: ThroughputPeriod;
  date: string;
  start: number;
  end: number;
  models: {
    model: string;
    tokensPerSecond: number;
    totalOutputTokens: number;
    totalGenMs: number;
    turns: number;
  }[];
}

export interface ThroughputStore {
  record(sample: ThroughputSample): void;
  /** Throws DispatchError `invalid` for a date that is not a calendar date of the period's form. */
  aggregate(query: { period: ThroughputPeriod; date?: string }): ThroughputReport;
}

export const ThroughputStoreKey = defineKey<ThroughputStore>("throughput-store");
