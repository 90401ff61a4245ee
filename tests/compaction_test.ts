// Compaction end to end: the daemon as a subprocess, the fake provider writing the summaries. A compaction forks
// the conversation (summary + latest turn); the original stays readable; the next request holds the summary and
// not the compacted messages.
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { httpError, text, usage } from "./fake_provider.ts";
import { readNdjson, runCliProcess, startDaemonWithFake } from "./daemon.ts";
import { WsClient, wsUrl } from "./ws_client.ts";

const FIRST = `FIRST-TOPIC ${"lorem ipsum ".repeat(400)}`;
// deno-lint-ignore no-explicit-any
const promptText = (body: any) => JSON.stringify(body.messages);

Deno.test("manual compaction: a fork from a summary; the original stays; a failed summary changes nothing", async (t) => {
  const { fake, daemon } = await startDaemonWithFake("sk-compact-test-1");
  const json = async (method: string, path: string, body?: unknown) => {
    const res = await daemon.fetch(path, {
      method,
      headers: { "content-type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: await res.json() };
  };
  const chat = async (body: Record<string, unknown>) => {
    const res = await daemon.fetch("/chat", { method: "POST", body: JSON.stringify(body) });
    assertEquals(res.status, 200);
    return { id: res.headers.get("x-conversation-id")!, events: await readNdjson(res) };
  };
  const ws = await WsClient.connect(wsUrl(daemon.url));
  try {
    fake.script([text("first answer")], [text("second answer")]);
    const { id } = await chat({ message: FIRST });
    await chat({ conversationId: id, message: "SECOND-TOPIC" });
    const beforeTokens = fake.chatRequests.at(-1)!.promptTokens!;
    const history = (await json("GET", `/conversations/${id}`)).body;

    await t.step("POST /compact forks: summary + the latest turn", async () => {
      fake.script([text("SUMMARY-OF-THE-FIRST-TOPIC")]);
      const out = await json("POST", `/conversations/${id}/compact`);
      assertEquals(out.status, 200, JSON.stringify(out.body));
      const fork = out.body.newConversationId;
      assertEquals(out.body, {
        conversationId: id,
        newConversationId: fork,
        messagesSummarized: 2,
        messagesKept: 2,
      });
      const summaryCall = fake.chatRequests.at(-1)!;
      assertMatch(promptText(summaryCall.body), /FIRST-TOPIC/);
      assertEquals(summaryCall.body.tools, undefined);

      const compacted = await ws.waitFor((f) => f.type === "conversation.compacted");
      assertEquals(compacted, { type: "conversation.compacted", ...out.body });

      // The original is as it was; the fork holds the summary and the latest turn.
      assertEquals((await json("GET", `/conversations/${id}`)).body, history);
      const forked = (await json("GET", `/conversations/${fork}`)).body.chunks;
      assertEquals(forked.map((c: { role: string }) => c.role), ["system", "user", "assistant"]);
      assertMatch(forked[0].chunk.text, /SUMMARY-OF-THE-FIRST-TOPIC/);

      fake.script([text("third answer")]);
      const third = await chat({ conversationId: fork, message: "THIRD-TOPIC" });
      assertEquals(third.id, fork);
      const next = fake.chatRequests.at(-1)!;
      const sent = promptText(next.body);
      assertMatch(sent, /SUMMARY-OF-THE-FIRST-TOPIC/);
      assertMatch(sent, /SECOND-TOPIC/);
      assert(!sent.includes("FIRST-TOPIC lorem"), "the compacted messages are not sent again");
      // The first message was about 1200 tokens of the prompt; the system prompt and tools stay.
      assert(
        next.promptTokens! < beforeTokens - 1000,
        `usage drops: ${next.promptTokens} vs ${beforeTokens}`,
      );
      const done = third.events.find((e) => e.type === "done") as { usage: { inputTokens: number } };
      assert(done.usage.inputTokens < beforeTokens - 1000, "the turn's reported usage drops too");
    });

    await t.step("dispatch compact ID works", async () => {
      fake.script([text("CLI-SUMMARY")]);
      const r = await runCliProcess(["compact", id, "--server", daemon.url]);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout, new RegExp(`^compacted ${id} into \\S+ \\(2 messages summarized, 2 kept\\)\\n$`));
    });

    await t.step("a failed summary leaves everything as it was (503 JSON)", async () => {
      const listed = (await json("GET", "/conversations")).body.conversations.length;
      fake.script([httpError(400, "the model refused")]);
      const out = await json("POST", `/conversations/${id}/compact`);
      assertEquals(out.status, 503);
      assertEquals(out.body.code, "summary_failed");
      assertMatch(out.body.error, /nothing changed/);
      assertEquals((await json("GET", "/conversations")).body.conversations.length, listed);
      assertEquals((await json("GET", `/conversations/${id}`)).body, history);
    });

    await t.step("bad values: unknown id 404, nothing to compact 409, a running turn 409", async () => {
      const unknown = await json("POST", "/conversations/no-such-conversation/compact");
      assertEquals([unknown.status, unknown.body.code], [404, "unknown_conversation"]);
      const bad = await json("POST", `/conversations/${"x".repeat(300)}/compact`);
      assert(bad.status === 400 || bad.status === 404, String(bad.status));
      assertEquals(typeof bad.body.error, "string");
      await json("PUT", "/conversations/empty-one/title", { title: "nothing yet" });
      const empty = await json("POST", "/conversations/empty-one/compact");
      assertEquals([empty.status, empty.body.code], [409, "nothing_to_compact"]);

      fake.script([{ type: "stall" }]);
      const res = await daemon.fetch("/chat", {
        method: "POST",
        body: JSON.stringify({ conversationId: id, message: "a long one" }),
      });
      const reader = res.body!.getReader();
      await reader.read(); // the turn has started
      const running = await json("POST", `/conversations/${id}/compact`);
      assertEquals([running.status, running.body.code], [409, "turn_running"]);
      await json("POST", `/conversations/${id}/stop`);
      await reader.cancel();
    });
  } finally {
    await ws.close();
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("automatic compaction before a turn past the conversation's compact-percent", async () => {
  const { fake, daemon } = await startDaemonWithFake("sk-compact-test-2");
  fake.models = [{ id: "fake-model", context_length: 8000 }];
  const chat = async (body: Record<string, unknown>) => {
    const res = await daemon.fetch("/chat", { method: "POST", body: JSON.stringify(body) });
    assertEquals(res.status, 200);
    return { id: res.headers.get("x-conversation-id")!, events: await readNdjson(res) };
  };
  try {
    fake.script([text("first answer"), usage({ promptTokens: 5000, completionTokens: 10 })]);
    const { id } = await chat({ message: FIRST });
    const beforeTokens = fake.chatRequests.at(-1)!.promptTokens!;
    const put = await daemon.fetch(`/conversations/${id}/compact-percent`, {
      method: "PUT",
      body: JSON.stringify({ percent: 50 }),
    });
    assertEquals(put.status, 200);

    fake.script([text("AUTO-SUMMARY")], [text("after compaction")]);
    const second = await chat({ conversationId: id, message: "NEXT-QUESTION" });
    assert(second.id !== id, "the turn runs in the fork");
    assert(second.events.every((e) => e.conversationId === second.id));
    assertEquals(
      second.events.filter((e) => e.type === "text-delta").map((e) => e.delta).join(""),
      "after compaction",
    );
    const sent = promptText(fake.chatRequests.at(-1)!.body);
    assertMatch(sent, /AUTO-SUMMARY/);
    assertMatch(sent, /NEXT-QUESTION/);
    assert(!sent.includes("FIRST-TOPIC"), "the compacted message is not sent");
    assert(fake.chatRequests.at(-1)!.promptTokens! < beforeTokens - 1000, "usage drops");
    assertMatch(daemon.logs(), /compacting before a turn/);

    // The original keeps its history; the fork keeps the threshold, and a small turn there does not compact.
    const original = await (await daemon.fetch(`/conversations/${id}`)).json();
    assertEquals(original.chunks.length, 2);
    assertMatch(original.chunks[0].chunk.text, /FIRST-TOPIC/);
    const requests = fake.chatRequests.length;
    fake.script([text("small")]);
    assertEquals((await chat({ conversationId: second.id, message: "short" })).id, second.id);
    assertEquals(fake.chatRequests.length, requests + 1);
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("automatic compaction whose summary fails: the turn goes on in the conversation as it was", async () => {
  const { fake, daemon } = await startDaemonWithFake("sk-compact-test-3", {
    DISPATCH_CONTEXT_WINDOW: "1000",
  });
  fake.models = [{ id: "fake-model" }]; // no figure: DISPATCH_CONTEXT_WINDOW counts
  const chat = async (body: Record<string, unknown>) => {
    const res = await daemon.fetch("/chat", { method: "POST", body: JSON.stringify(body) });
    assertEquals(res.status, 200);
    return { id: res.headers.get("x-conversation-id")!, events: await readNdjson(res) };
  };
  try {
    fake.script([text("first answer")]);
    const { id } = await chat({ message: FIRST });
    await daemon.fetch(`/conversations/${id}/compact-percent`, {
      method: "PUT",
      body: JSON.stringify({ threshold: 10 }),
    });
    fake.script([httpError(400, "no summaries today")], [text("answered anyway")]);
    const second = await chat({ conversationId: id, message: "go on" });
    assertEquals(second.id, id);
    assertMatch(promptText(fake.chatRequests.at(-1)!.body), /FIRST-TOPIC/);
    assertMatch(daemon.logs(), /automatic compaction failed/);
  } finally {
    await daemon.stop();
    await fake.close();
  }
});
