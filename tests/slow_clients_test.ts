// Slow and stalled readers against the real daemon during a long reply (8 MiB of deltas): a POST /chat whose
// client does not read, one that reads slowly, a WebSocket follower that reads slowly. The turn finishes at the
// provider's pace, another client's turn is not held back, every reader gets the whole turn in the end, and the
// daemon's memory (VmRSS from /proc) stays within a generous bound: what a reader has not taken waits in the
// store, not in the daemon's buffers.
import { assert, assertEquals } from "./assert.ts";
import { reasoning, text } from "./fake_provider.ts";
import { readNdjson, startDaemonWithFake } from "./daemon.ts";
import { encodeTextFrame, rawUpgrade, wsUrl } from "./ws_client.ts";

const KEY = "sk-slow-clients-0001";
const CHUNK = "y".repeat(8 * 1024);
const STEPS = 1000; // 8 MiB of model output
/** The daemon may hold a few copies of the reply; it must not hold one per unread byte of every reader. */
const MAX_GROWTH_MB = 200;

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/^VmRSS:\s+(\d+) kB/m)![1]) / 1024;
}

/** A raw HTTP/1.1 POST /chat on its own connection; the caller decides when (and how fast) to read. */
async function rawChat(baseUrl: string, body: unknown): Promise<Deno.TcpConn> {
  const u = new URL(baseUrl);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const json = new TextEncoder().encode(JSON.stringify(body));
  const head = `POST /chat HTTP/1.1\r\nHost: ${u.host}\r\ncontent-type: application/json\r\n` +
    `content-length: ${json.length}\r\nconnection: close\r\n\r\n`;
  await conn.write(new TextEncoder().encode(head));
  await conn.write(json);
  return conn;
}

const SEALED = '"type":"turn-sealed"';

/**
 * Reads a connection `bytesPerTick` at a time with a pause between reads, to its end or until the turn's seal
 * went by; returns what it read as text.
 */
async function readSlowly(conn: Deno.Conn, bytesPerTick: number, pauseMs: number): Promise<string> {
  const buf = new Uint8Array(bytesPerTick);
  const parts: string[] = [];
  const decoder = new TextDecoder("latin1");
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    parts.push(decoder.decode(buf.subarray(0, n), { stream: true }));
    if ((parts.at(-2) ?? "").slice(-SEALED.length).concat(parts.at(-1)!).includes(SEALED)) break;
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  return parts.join("");
}

/** The body of an HTTP/1.1 response with chunked transfer encoding. */
function dechunk(response: string): string {
  let at = response.indexOf("\r\n\r\n") + 4;
  let body = "";
  while (at < response.length) {
    const eol = response.indexOf("\r\n", at);
    const size = parseInt(response.slice(at, eol), 16);
    if (!(size > 0)) break;
    body += response.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
  return body;
}

/** Resolves once the conversation has no running turn (polled: the route is the daemon's own view). */
async function waitIdle(daemon: { fetch: (p: string) => Promise<Response> }, id: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const res = await daemon.fetch(`/conversations/${id}/status`);
    if (res.status === 200 && (await res.json()).isActive === false) return;
    else if (res.status !== 200) await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`conversation ${id} still active`);
}

const flood = () => Array.from({ length: STEPS }, (_, i) => (i % 2 ? reasoning(CHUNK) : text(CHUNK)));

Deno.test("slow clients: stalled and slow readers of a long reply, over HTTP and the WebSocket", async () => {
  const { fake, daemon } = await startDaemonWithFake(KEY, {
    DISPATCH_WS_MAX_BUFFER_BYTES: String(512 * 1024),
  });
  const pid = daemon.child.pid;
  const conns: Deno.Conn[] = [];
  try {
    // Warm up (modules, the first turn), so the baseline is the daemon at rest, not at boot.
    fake.script([text("warm")]);
    const warm = await readNdjson(
      await daemon.fetch("/chat", { method: "POST", body: JSON.stringify({ message: "warm up" }) }),
    );
    const cid = String(warm[0].conversationId);
    const before = rssMb(pid);

    // 1. A WebSocket follower of the conversation that reads slowly (64 KiB every 10 ms).
    const ws = await rawUpgrade(wsUrl(daemon.url));
    conns.push(ws.conn);
    assertEquals(ws.status, 101);
    await ws.conn.write(encodeTextFrame(JSON.stringify({ type: "chat.subscribe", conversationId: cid })));

    // 2. POST /chat for the long reply, whose client reads nothing until the turn is over.
    fake.script(flood());
    const seen = fake.requests.length;
    const stalled = await rawChat(daemon.url, { conversationId: cid, message: "flood" });
    conns.push(stalled);
    await fake.waitForRequests(seen + 1, 10_000); // the flood is this turn's, the next script the other's
    const wsText = readSlowly(ws.conn, 64 * 1024, 10);
    wsText.catch(() => {}); // awaited below; a failure before that closes its connection

    // 3. Meanwhile another client's turn in another conversation: answered in full.
    fake.script([text("unaffected")]);
    const other = await readNdjson(
      await daemon.fetch("/chat", { method: "POST", body: JSON.stringify({ message: "me too" }) }),
    );
    assertEquals(other.filter((e) => e.type === "text-delta").map((e) => e.delta).join(""), "unaffected");
    assertEquals(other.at(-1)?.type, "turn-sealed");

    // The long turn finishes although its own client has read nothing.
    await waitIdle(daemon, cid);
    const peak = rssMb(pid);

    // Every reader gets the whole turn in the end.
    const stalledText = await readSlowly(stalled, 256 * 1024, 0);
    assert(stalledText.startsWith("HTTP/1.1 200"), stalledText.slice(0, 200));
    assert(stalledText.includes(SEALED), "the stalled reader gets the turn to its seal");
    const deltas = stalledText.match(/"type":"(text|reasoning)-delta"/g)?.length ?? 0;
    assert(deltas > 0);
    const streamed = dechunk(stalledText).split(CHUNK).length - 1;
    assertEquals(streamed, STEPS, "every chunk of the reply reached the stalled reader");

    const wsAll = await wsText;
    assert(wsAll.includes(SEALED), "the slow WebSocket reader gets the turn to its seal");
    assertEquals(wsAll.split(CHUNK).length - 1, STEPS, "every chunk of the reply reached the slow socket");

    const after = rssMb(pid);
    const growth = Math.max(peak, after) - before;
    console.log(
      `daemon VmRSS: ${before.toFixed(0)} MB at rest, ${peak.toFixed(0)} MB after the turn, ` +
        `${after.toFixed(0)} MB after the readers (growth ${growth.toFixed(0)} MB for an 8 MiB reply)`,
    );
    assert(growth < MAX_GROWTH_MB, `the daemon grew by ${growth.toFixed(0)} MB`);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await daemon.stop();
    await fake.close();
  }
});
