// Attacks and races found in review: cross-site requests, DNS rebinding, request-id reuse and overlap,
// and a shutdown in the middle of a tool.
import { assert, assertEquals } from "./assert.ts";
import { delay, stall, startFakeProvider, text, toolCall } from "./fake_provider.ts";
import { readNdjson, startDaemon } from "./daemon.ts";

async function rawGet(base: string, path: string, host: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  await conn.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
  );
  let text = "";
  for await (const chunk of conn.readable) text += new TextDecoder().decode(chunk);
  return { status: Number(text.split(" ")[1]), body: text };
}

async function setup() {
  const fake = await startFakeProvider();
  const daemon = await startDaemon({
    env: {
      DISPATCH_API_KEY: "sk-hardening-0000",
      DISPATCH_BASE_URL: fake.baseUrl,
      DISPATCH_MODEL: "fake-model",
    },
  });
  return { fake, daemon };
}

Deno.test("a page on another site cannot start a turn, and a rebound Host name is refused", async () => {
  const { fake, daemon } = await setup();
  try {
    // A "simple" cross-site POST needs no preflight; CORS alone would let it run.
    const crossSite = await daemon.fetch("/chat", {
      method: "POST",
      headers: { "content-type": "text/plain", origin: "http://evil.example" },
      body: JSON.stringify({ message: "rm -rf ~" }),
    });
    assertEquals(crossSite.status, 403);
    assertEquals((await crossSite.json()).code, "origin_not_allowed");
    assertEquals(fake.chatRequests.length, 0);

    // fetch() will not send a Host header of our choosing; a raw request does, as a rebound browser would.
    const rebound = await rawGet(daemon.url, "/conversations", "evil.example:24203");
    assertEquals(rebound.status, 403);
    assert(rebound.body.includes("host_not_allowed"), rebound.body);
    const local = await rawGet(daemon.url, "/conversations", "localhost:24203");
    assertEquals(local.status, 200);
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("a client request id runs its turn once, even when retries overlap, and only in its conversation", async () => {
  const { fake, daemon } = await setup();
  try {
    fake.script([text("once"), delay(200), text(" only")]);
    const post = (body: Record<string, unknown>) =>
      daemon.fetch("/chat", { method: "POST", body: JSON.stringify({ message: "hi", ...body }) });
    const [a, b] = await Promise.all([
      post({ clientRequestId: "req-1" }),
      post({ clientRequestId: "req-1" }),
    ]);
    assertEquals(a.headers.get("x-conversation-id"), b.headers.get("x-conversation-id"));
    const [ea, eb] = await Promise.all([readNdjson(a), readNdjson(b)]);
    assertEquals(ea.map((e) => e.type), eb.map((e) => e.type));
    assertEquals(fake.chatRequests.length, 1);

    const elsewhere = await post({ clientRequestId: "req-1", conversationId: "another-one" });
    assertEquals(elsewhere.status, 409);
    assertEquals((await elsewhere.json()).code, "request_id_reused");
  } finally {
    await daemon.stop();
    await fake.close();
  }
});

Deno.test("SIGTERM during a tool stops the turn first: it is stored as aborted, no further model call", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-term-" });
  const { fake, daemon } = await setup();
  try {
    fake.script([toolCall("run_shell", { command: "touch started; sleep 30" }, { id: "s1" })], [stall()]);
    const res = await daemon.fetch("/chat", {
      method: "POST",
      body: JSON.stringify({ message: "work", cwd: dir }),
    });
    const id = res.headers.get("x-conversation-id")!;
    const events = readNdjson(res);
    for (let i = 0; i < 100 && !(await Deno.stat(`${dir}/started`).then(() => true, () => false)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const status = await daemon.stop();
    assertEquals(status.code, 0);
    const seen = await events;
    assertEquals(seen.find((e) => e.type === "done")?.reason, "aborted");
    assertEquals(fake.chatRequests.length, 1, "no model call after the shutdown began");

    const again = await startDaemon({
      env: {
        DISPATCH_API_KEY: "sk-hardening-0000",
        DISPATCH_BASE_URL: fake.baseUrl,
        DISPATCH_MODEL: "fake-model",
      },
      dataDir: daemon.dataDir,
    });
    try {
      const history = await (await again.fetch(`/conversations/${id}`)).json();
      const result = history.chunks.find((c: { chunk: { type: string } }) => c.chunk.type === "tool-result");
      assert(result && /abort/.test(result.chunk.content), JSON.stringify(result));
    } finally {
      await again.stop();
    }
  } finally {
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});
