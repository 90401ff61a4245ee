// A seeded fuzz of WebSocket frames against the real daemon: malformed JSON, wrong shapes and types, unknown
// types, odd ids and payloads, binary frames, on one socket. The socket stays open, every refusal is an
// `error`/`chat.error` frame with a code other than `internal`, the daemon logs no internal failure, and both
// the fuzzed socket and a fresh one work afterwards. The PRNG is seeded, so a failure replays exactly.
import { assert, assertEquals } from "./assert.ts";
import { prng } from "./prng.ts";
import { startDaemonWithFake } from "./daemon.ts";
import { type Frame, WsClient, wsUrl } from "./ws_client.ts";

const SEED = 0x3e5_2026;
const COUNT = 300;

const TYPES = [
  "subscribe",
  "unsubscribe",
  "invoke",
  "chat.send",
  "chat.subscribe",
  "chat.unsubscribe",
  "chat.queue",
  "chat.queue.cancel",
];

function generator(random: () => number, knownId: string) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const chance = (p: number) => random() < p;
  const deep = (depth: number): unknown => (depth === 0 ? 1 : { a: [deep(depth - 1)] });
  const value = (): unknown =>
    pick([
      null,
      true,
      0,
      -1,
      1e308,
      Number.MAX_SAFE_INTEGER,
      "",
      " ",
      knownId,
      "nope",
      "todo",
      "message-queue",
      "cache-warming",
      "loaded-extensions",
      "../../etc/passwd",
      "\u0000\u202e\ud83d\ude00",
      "x".repeat(1 + int(200_000)),
      [],
      [knownId],
      {},
      { value: true },
      { value: -5 },
      { __proto__: { polluted: true } },
      deep(1 + int(200)),
    ]);
  const fields = [
    "surfaceId",
    "conversationId",
    "actionId",
    "payload",
    "message",
    "text",
    "messageId",
    "model",
    "cwd",
    "sinceEventSeq",
    "requestId",
    "workspaceId",
    "reasoningEffort",
    "clientRequestId",
    "newEvents",
  ];
  const id = () => pick([knownId, knownId, `fuzz-${int(50)}`, "closed-or-not", "x".repeat(300)]);
  const surface = () => pick(["todo", "message-queue", "cache-warming", "loaded-extensions", "nope"]);
  const wellFormed = (): Record<string, unknown> => {
    const type = pick(TYPES);
    const maybe = (key: string, v: () => unknown) => (chance(0.5) ? { [key]: v() } : {});
    switch (type) {
      case "subscribe":
      case "unsubscribe":
        return { type, surfaceId: surface(), ...maybe("conversationId", id) };
      case "invoke":
        return {
          type,
          surfaceId: surface(),
          actionId: pick(["toggle", "cancel", "set-interval", "remove", "nope", ""]),
          ...maybe("payload", value),
          ...maybe("conversationId", id),
        };
      case "chat.send":
        return {
          type,
          message: pick(["hello", " ", "x".repeat(10_000)]),
          ...maybe("conversationId", id),
          ...maybe("model", () => pick(["opencode/fake-model", "nobody/x", "fake-model"])),
          ...maybe("cwd", () => pick(["/tmp", "/definitely/not/here", "relative"])),
          ...maybe("reasoningEffort", () => pick(["low", "max", "ultra"])),
          ...maybe("workspaceId", () => pick(["default", "Not A Slug", "fuzz-ws"])),
        };
      case "chat.subscribe":
        return { type, conversationId: id(), ...maybe("sinceEventSeq", () => pick([0, 3, 1e9, -1, 0.5])) };
      case "chat.queue":
        return { type, conversationId: id(), text: pick(["queued", ""]) };
      case "chat.queue.cancel":
        return { type, conversationId: id(), messageId: pick(["m1", "", "x".repeat(500)]) };
      default:
        return { type, conversationId: id() };
    }
  };
  return (): string | Uint8Array => {
    const r = random();
    if (r < 0.05) return new Uint8Array([0, 1, 2, int(256)]);
    if (r < 0.12) {
      return pick(["", "{", "[]", "null", "42", '"chat.send"', '{"type":', "\u0000", "{}".repeat(50)]);
    }
    if (chance(0.5)) {
      // A well-formed frame, sometimes with one field swapped for junk: the handlers behind validation run.
      const frame = wellFormed();
      if (chance(0.3)) frame[pick(Object.keys(frame).filter((k) => k !== "type"))] = value();
      return JSON.stringify(frame);
    }
    const frame: Record<string, unknown> = {};
    frame.type = chance(0.85) ? pick(TYPES) : value();
    const n = int(6);
    for (let i = 0; i < n; i++) frame[pick(fields)] = value();
    // Sometimes a frame that is nearly right, so the handlers behind validation run too.
    if (chance(0.3)) frame.conversationId = chance(0.7) ? knownId : `fuzz-${int(1000)}`;
    if (frame.type === "chat.send" && chance(0.3)) frame.message = "fuzzed hello";
    return JSON.stringify(frame);
  };
}

Deno.test("fuzz: WebSocket frames: the socket stays open, refusals carry a code, nothing internal fails", async () => {
  const { fake, daemon } = await startDaemonWithFake("sk-ws-fuzz-0001");
  let ws: WsClient | undefined;
  let fresh: WsClient | undefined;
  try {
    const seeded = await daemon.fetch("/chat", { method: "POST", body: JSON.stringify({ message: "seed" }) });
    const knownId = seeded.headers.get("x-conversation-id")!;
    await seeded.text();
    ws = await WsClient.connect(wsUrl(daemon.url));
    const next = generator(prng(SEED), knownId);
    for (let i = 0; i < COUNT; i++) {
      const frame = next();
      if (typeof frame === "string") ws.send(frame);
      else ws.socket.send(frame);
    }
    // A frame that is answered, sent last: once it is answered, every frame before it has been handled.
    const marker = await ws.request(
      { type: "subscribe", surfaceId: "loaded-extensions" },
      (f) => f.type === "surface" && f.spec?.id === "loaded-extensions",
      60_000,
    );
    assert(marker);
    assertEquals(ws.closed, false, `closed with ${ws.closeCode}`);
    const refusals = ws.frames.filter((f) => f.type === "error" || f.type === "chat.error");
    assert(refusals.length > COUNT / 5, `only ${refusals.length} refusals`);
    const internal = refusals.filter((f: Frame) => f.code === "internal" || !f.code);
    assertEquals(internal.slice(0, 5), []);
    for (const line of daemon.logs().split("\n").filter((l) => l.startsWith("{"))) {
      const record = JSON.parse(line);
      assert(record.level !== "error", `the daemon logged an error: ${line.slice(0, 400)}`);
    }
    // The fuzzed socket and a fresh one still work; so does HTTP.
    const after = "after-the-fuzz";
    const reply = await ws.request(
      { type: "chat.send", conversationId: after, message: "still there?" },
      (f) => f.type === "chat.delta" && f.event.type === "turn-sealed" && f.event.conversationId === after,
      30_000,
    );
    assert(reply);
    fresh = await WsClient.connect(wsUrl(daemon.url));
    assertEquals(await (await daemon.fetch("/health")).json(), { ok: true });
  } finally {
    await ws?.close();
    await fresh?.close();
    await daemon.stop();
    await fake.close();
  }
});
