// Throughput aggregation: local-time windows (day, ISO week, month), date validation, token-weighted rates.
import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { SqliteStorage } from "../storage-sqlite/mod.ts";
import { periodWindow, SqliteThroughputStore } from "./store.ts";

Deno.test("periodWindow: a day, the ISO week (Monday first) holding a date, a month; all local time", () => {
  const now = new Date(2026, 0, 15, 13, 0); // a Thursday
  assertEquals(periodWindow("day", "2026-03-04", now), {
    date: "2026-03-04",
    start: +new Date(2026, 2, 4),
    end: +new Date(2026, 2, 5),
  });
  // 2026-03-04 is a Wednesday: its week runs Monday 2 to Monday 9.
  const week = periodWindow("week", "2026-03-04", now);
  assertEquals([week.start, week.end], [+new Date(2026, 2, 2), +new Date(2026, 2, 9)]);
  // A Sunday belongs to the week that began the Monday before.
  const sunday = periodWindow("week", "2026-03-08", now);
  assertEquals(sunday.start, +new Date(2026, 2, 2));
  assertEquals(periodWindow("month", "2026-12", now), {
    date: "2026-12",
    start: +new Date(2026, 11, 1),
    end: +new Date(2027, 0, 1),
  });
  assertEquals(periodWindow("month", "2026-02-20", now).date, "2026-02");
  assertEquals(periodWindow("day", undefined, now).date, "2026-01-15");
  assertEquals(periodWindow("month", undefined, now).date, "2026-01");
});

Deno.test("periodWindow refuses dates that are not calendar dates of the period's form", () => {
  const now = new Date();
  for (
    const [period, date] of [
      ["day", "2026-02-30"],
      ["day", "2026-13-01"],
      ["day", "2026-03"],
      ["week", "2026-00-10"],
      ["month", "2026-13"],
      ["day", "1969-12-31"],
      ["day", "yesterday"],
    ] as const
  ) {
    assertThrows(() => periodWindow(period, date, now), /date/);
  }
});

Deno.test("aggregate: per model, tokens over generation seconds, fastest first, only inside the window", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-tput-" });
  const storage = new SqliteStorage(dir);
  try {
    const day = new Date(2026, 4, 10, 12);
    const store = new SqliteThroughputStore(storage.openDatabase("throughput"), { now: () => +day });
    store.record({ model: "a/slow", at: +day, outputTokens: 100, genMs: 10_000 });
    store.record({ model: "a/slow", at: +day + 1000, outputTokens: 300, genMs: 10_000 });
    store.record({ model: "b/fast", at: +day, outputTokens: 500, genMs: 1000 });
    store.record({ model: "b/fast", at: +new Date(2026, 4, 11, 1), outputTokens: 1, genMs: 1 }); // next day
    store.record({ model: "bad", at: +day, outputTokens: -1, genMs: 1 }); // ignored
    const report = store.aggregate({ period: "day", date: "2026-05-10" });
    assertEquals(report.models, [
      { model: "b/fast", tokensPerSecond: 500, totalOutputTokens: 500, totalGenMs: 1000, turns: 1 },
      { model: "a/slow", tokensPerSecond: 20, totalOutputTokens: 400, totalGenMs: 20_000, turns: 2 },
    ]);
    assertEquals(store.aggregate({ period: "month", date: "2026-05" }).models[0].turns, 2);
    assertEquals(store.aggregate({ period: "day", date: "2026-05-12" }).models, []);
    assertEquals(store.aggregate({ period: "day" }).date, "2026-05-10");
  } finally {
    storage.closeAll();
    await Deno.remove(dir, { recursive: true });
  }
});
