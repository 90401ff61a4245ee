// The orchestrator in-process, with real parts around it: the store on a SQLite file, the OpenAI-compatible
// provider against the fake provider over loopback, the real catalog, hook and event buses.
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { type FakeProvider, startFakeProvider, text, toolCall } from "../../tests/fake_provider.ts";
import { DispatchError, EventBus, HookBus, makeLogger } from "../../src/kernel/mod.ts";
import { openSqlite, type SqliteDatabase } from "../storage-sqlite/database.ts";
import { openConversationStore, type SqliteConversationStore } from "../conversation-store/store.ts";
import { createModelCatalog } from "../credential-store/catalog.ts";
import { createOpenAICompatProvider } from "../provider-openai-compat/openai_stream.ts";
import { ndjson } from "../transport-http/event_routes.ts";
import { chunksToMessages } from "./messages.ts";
import { SessionOrchestrator } from "./orchestrator.ts";

interface Rig {
  fake: FakeProvider;
  db: SqliteDatabase;
  store: SqliteConversationStore;
  orchestrator: SessionOrchestrator;
  /** Lets a check of the working directory wait until `release()` (the window between request and start). */
  holdCwd(): { release(): void };
  [Symbol.asyncDispose](): Promise<void>;
}

async function rig(): Promise<Rig> {
  const fake = await startFakeProvider({ models: [{ id: "m" }] });
  const dir = await Deno.makeTempDir({ prefix: "dispatch-orch-" });
  const db = openSqlite(`${dir}/conversations.sqlite`);
  const { store } = openConversationStore(db);
  const catalog = createModelCatalog({ defaultModel: () => "m" });
  catalog.registerProvider(
    "opencode",
    createOpenAICompatProvider({ id: "opencode", baseUrl: fake.baseUrl, apiKey: "" }),
  );
  let hold: Promise<void> | undefined;
  const orchestrator = new SessionOrchestrator({
    store,
    catalog,
    tools: () => [],
    hooks: new HookBus().scope("test"),
    events: new EventBus(),
    log: makeLogger({ write: () => {} }, { now: () => Date.now() }, "session-orchestrator"),
    checkCwd: async (cwd) => {
      await hold;
      return cwd;
    },
  });
  return {
    fake,
    db,
    store,
    orchestrator,
    holdCwd() {
      const gate = Promise.withResolvers<void>();
      hold = gate.promise;
      return { release: () => (hold = undefined, gate.resolve()) };
    },
    async [Symbol.asyncDispose]() {
      await orchestrator.stopAll();
      await fake.close();
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Reads a turn the way `POST /chat` serves it. */
async function lines(handle: Parameters<typeof ndjson>[1] & { follow(): Parameters<typeof ndjson>[0] }) {
  const body = await ndjson(handle.follow(), handle).text();
  return body.split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

Deno.test("disk full: the turn ends with an error the client gets, goes idle, new turns are 503 until space returns", async () => {
  await using r = await rig();
  r.store.create({ id: "c" });
  const pages = Number(r.db.prepare("PRAGMA page_count").get()!.page_count);
  const big = "x".repeat(2000);
  r.fake.script({ steps: Array.from({ length: 200 }, () => text(big)), chunkDelayMs: 1 });
  const handle = await r.orchestrator.submit({ conversationId: "c", message: "fill the disk" });
  // The turn has begun; from now on the database cannot grow.
  r.db.exec(`PRAGMA max_page_count = ${pages + 2}`);
  const seen = await lines(handle);
  const last = seen.at(-2);
  assertEquals([last.type, last.code, last.eventSeq], ["error", "storage_full", undefined]);
  assertEquals(seen.at(-1).type, "done");
  await handle.settled;
  assertEquals(r.orchestrator.running("c"), undefined);
  assertEquals(r.store.get("c")!.status, "idle");

  // Every line the client got before the error is stored, in order.
  const stored = r.store.eventsSince("c", 0).map((e) => e.line);
  const shown = seen.slice(0, -2).map((e) => JSON.stringify(e));
  assertEquals(stored.slice(0, shown.length), shown);

  const refused = await assertRejects(() => r.orchestrator.submit({ conversationId: "c", message: "again" }));
  assert(refused instanceof DispatchError);
  assertEquals([refused.kind, refused.code], ["unavailable", "storage_full"]);

  // Space returns: the next submit closes the broken turn first, then runs.
  r.db.exec("PRAGMA max_page_count = 1073741823");
  r.fake.script([text("back")]);
  const next = await lines(await r.orchestrator.submit({ conversationId: "c", message: "again" }));
  assertEquals(next.at(-1).type, "turn-sealed");
  const turns = r.store.turns("c");
  assertEquals(turns.map((t) => t.status), ["error", "done"]);
  const chunks = r.store.allChunks("c");
  assert(
    chunks.some((c) => c.chunk.type === "error" && c.chunk.code === "storage_full"),
    "the broken turn's history says why it stopped",
  );
  const types = r.store.eventsSince("c", 0).map((e) => e.event.type);
  assertEquals(types.filter((t) => t === "turn-sealed").length, 2);
});

Deno.test("a clientRequestId attaches a retry; another message or conversation with it is a 409", async () => {
  await using r = await rig();
  r.fake.script([text("once")]);
  const first = await r.orchestrator.submit({ message: "hi", clientRequestId: "r1" });
  const retry = await r.orchestrator.submit({ message: "hi", clientRequestId: "r1" });
  assertEquals(retry.turnId, first.turnId);
  assertEquals(await lines(retry), await lines(first));
  for (const bad of [{ message: "other" }, { message: "hi", conversationId: "elsewhere" }]) {
    const error = await assertRejects(() => r.orchestrator.submit({ ...bad, clientRequestId: "r1" }));
    assertEquals((error as DispatchError).code, "request_id_reused");
  }
  assertEquals(r.fake.chatRequests.length, 1);
});

Deno.test("a stop while a turn is being set up cancels it, is not kept for the next one, and a second submit is a 409", async () => {
  await using r = await rig();
  r.store.create({ id: "c", cwd: "/tmp" });
  const gate = r.holdCwd();
  const starting = r.orchestrator.submit({ conversationId: "c", message: "slow start", cwd: "/tmp" });
  const busy = await assertRejects(() => r.orchestrator.submit({ conversationId: "c", message: "me too" }));
  assertEquals((busy as DispatchError).code, "turn_running");
  assertEquals(await r.orchestrator.stop("c"), true);
  gate.release();
  const stopped = await assertRejects(() => starting);
  assertEquals((stopped as DispatchError).code, "stopped");
  assertEquals(r.store.turns("c"), [], "nothing was stored of the cancelled turn");
  r.fake.script([text("fine")]);
  const next = await lines(await r.orchestrator.submit({ conversationId: "c", message: "now" }));
  assertEquals(next.at(-1).type, "turn-sealed");
});

Deno.test("the cached history is what the one builder makes from the store", async () => {
  await using r = await rig();
  r.fake.script(
    [text("Let me see."), toolCall("missing_tool", { a: 1 }, { id: "call-x" })],
    [text("It is not there.")],
  );
  await lines(await r.orchestrator.submit({ conversationId: "c", message: "look" }));
  r.fake.script([text("Second.")]);
  await lines(await r.orchestrator.submit({ conversationId: "c", message: "again" }));
  const cached = (await r.orchestrator.prefix("c")).messages;
  assertEquals(cached, chunksToMessages(r.store.allChunks("c")));
  assertEquals(cached.map((m) => m.role), ["user", "assistant", "tool", "assistant", "user", "assistant"]);
});
