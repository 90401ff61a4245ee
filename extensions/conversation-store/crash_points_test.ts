// SIGKILL at 100 seeded points of a scripted stream: after each kill, every event the client had been shown is
// in the store, in order, byte for byte; the folded history holds all the stored text; and no turn is left
// running. Four lanes of 25 kills each, each lane one data directory the children keep using (so every
// child starts by repairing what the one before it left).
import { assert, assertEquals } from "../../tests/assert.ts";
import { SqliteStorage } from "../storage-sqlite/mod.ts";
import { openConversationStore } from "./store.ts";

const CHILD = new URL("./testdata/stream_child.ts", import.meta.url).pathname;
const LANES = 4;
const KILLS_PER_LANE = 25;

/** Runs one child until it has printed `lines` lines (or sealed), kills it, and returns what it printed. */
async function runAndKill(dataDir: string, seed: number, lines: number): Promise<string[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", CHILD, dataDir, String(seed)],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (text.split("\n").length - 1 < lines && !text.includes('"turn-sealed"')) {
      const { value, done } = await reader.read();
      if (done) {
        const err = await new Response(child.stderr).text();
        throw new Error(`child ${seed} exited early: ${err}`);
      }
      text += value;
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* it exited by itself: the error above says why */ }
    await child.status;
    await reader.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
  }
  // A line cut mid-write was never received whole: drop it.
  return text.split("\n").slice(0, -1);
}

function check(dataDir: string, seed: number, shown: string[]): void {
  const storage = new SqliteStorage(dataDir);
  try {
    const { store } = openConversationStore(storage.openDatabase("conversations"));
    const turnId = `t-${seed}`;
    const all = store.eventsSince("k", 0);
    const mine = all.filter((e) => e.event.type !== "status" && e.event.turnId === turnId);
    // Shown ⊆ stored, as a prefix of the turn's events, byte for byte.
    assertEquals(mine.slice(0, shown.length).map((e) => e.line), shown, `seed ${seed}: shown events stored`);
    assertEquals(all.map((e) => e.eventSeq), all.map((_, i) => i + 1), `seed ${seed}: event seqs gap-free`);
    assertEquals(store.runningTurn("k"), undefined, `seed ${seed}: no turn left running`);
    assertEquals(store.get("k")!.status, "idle");
    assertEquals(mine.at(-1)!.event.type, "turn-sealed", `seed ${seed}: the turn is sealed`);
    // The history holds exactly the streamed text of what was stored, in chunks that follow the events.
    const chunks = store.turnChunks("k", turnId);
    const joined = (type: string, kind: string) => [
      mine.flatMap((e) => e.event.type === type ? [(e.event as { delta: string }).delta] : []).join(""),
      chunks.flatMap((c) =>
        c.role === "assistant" && c.chunk.type === kind ? [(c.chunk as { text: string }).text] : []
      ).join(""),
    ];
    const [sentText, storedText] = joined("text-delta", "text");
    assertEquals(storedText, sentText, `seed ${seed}: text`);
    const [sentThought, storedThought] = joined("reasoning-delta", "thinking");
    assertEquals(storedThought, sentThought, `seed ${seed}: reasoning`);
    const calls = chunks.filter((c) => c.chunk.type === "tool-call").length;
    const results = chunks.filter((c) => c.chunk.type === "tool-result").length;
    assertEquals(calls, mine.filter((e) => e.event.type === "tool-call").length);
    assertEquals(results, calls, `seed ${seed}: every tool call has a result`);
    const history = store.history("k");
    assertEquals(history.chunks.map((c) => c.seq), history.chunks.map((_, i) => i + 1));
  } finally {
    storage.closeAll();
  }
}

Deno.test("SIGKILL at 100 seeded points of a stream: what a client was shown is stored, history folds, nothing runs", async () => {
  let midStream = 0;
  const lanes = Array.from({ length: LANES }, async (_, lane) => {
    const dataDir = await Deno.makeTempDir({ prefix: `dispatch-kill-${lane}-` });
    try {
      for (let k = 0; k < KILLS_PER_LANE; k++) {
        const seed = lane * 1000 + k + 1;
        // Kill points spread over the stream: from the first line to past its end.
        const lines = 1 + ((seed * 2654435761) >>> 0) % 50;
        const shown = await runAndKill(dataDir, seed, lines);
        assert(shown.length > 0, `seed ${seed}: the client saw something`);
        check(dataDir, seed, shown);
        if (!shown.at(-1)!.includes('"turn-sealed"')) midStream++;
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  });
  await Promise.all(lanes);
  assert(midStream >= 80, `${midStream} of 100 kills came mid-stream`);
});
