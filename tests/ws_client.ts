// Test helpers for the surface/chat WebSocket: a recording client on Deno's real WebSocket, and a raw TCP
// handshake for checking what the server answers an upgrade (status codes a WebSocket object never shows).

// deno-lint-ignore no-explicit-any
export type Frame = Record<string, any>;

export class WsClient {
  readonly frames: Frame[] = [];
  closed = false;
  closeCode?: number;
  #waiters = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.onmessage = (e) => {
      this.frames.push(JSON.parse(String(e.data)));
      this.#wake();
    };
    socket.onclose = (e) => {
      this.closed = true;
      this.closeCode = e.code;
      this.#wake();
    };
  }

  /** Opens a socket and waits for the catalog frame the server sends first. */
  static async connect(
    url: string,
    opts: { protocols?: string[]; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<WsClient> {
    const socket = new WebSocket(url, { protocols: opts.protocols, headers: opts.headers } as never);
    const client = new WsClient(socket);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connection to ${url}`)), opts.timeoutMs ?? 5000);
      socket.addEventListener("open", () => (clearTimeout(timer), resolve()), { once: true });
      socket.addEventListener(
        "error",
        () => (clearTimeout(timer), reject(new Error(`cannot connect to ${url}`))),
        {
          once: true,
        },
      );
    });
    await client.waitFor((f) => f.type === "catalog");
    return client;
  }

  send(frame: Frame | string): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The first frame at index >= `from` matching `pred`, waiting for it up to `timeoutMs`. */
  async waitFor(
    pred: (f: Frame) => boolean,
    opts: { from?: number; timeoutMs?: number } = {},
  ): Promise<Frame> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    let from = opts.from ?? 0;
    while (true) {
      for (; from < this.frames.length; from++) if (pred(this.frames[from])) return this.frames[from];
      if (this.closed) throw new Error(`socket closed (${this.closeCode}) before a matching frame`);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no matching frame in time; last frames: ${JSON.stringify(this.frames.slice(-5))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.add(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  /** Sends a frame and waits for the first frame after it matching `pred`. */
  async request(frame: Frame | string, pred: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame> {
    const from = this.frames.length;
    this.send(frame);
    return await this.waitFor(pred, { from, timeoutMs });
  }

  /** `chat.delta` frames of a conversation received so far. */
  deltas(conversationId: string): Frame[] {
    return this.frames.filter((f) => f.type === "chat.delta" && f.event.conversationId === conversationId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise<void>((resolve) => this.socket.addEventListener("close", () => resolve()));
    this.socket.close();
    await closed;
  }

  #wake(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }
}

/** Reads a raw HTTP response up to the end of its headers (the status line and headers, as text). */
export async function readHead(conn: Deno.Conn): Promise<string> {
  let head = "";
  const buf = new Uint8Array(4096);
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) break;
    head += new TextDecoder().decode(buf.subarray(0, n));
  }
  return head;
}

/** The HTTP status line and headers a server answers to a handwritten upgrade request; the connection stays open. */
export async function rawUpgrade(
  url: string,
  headers: Record<string, string> = {},
  opts: { upgrade?: boolean } = {},
): Promise<{ status: number; head: string; conn: Deno.TcpConn }> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const lines = [
    `GET ${u.pathname}${u.search} HTTP/1.1`,
    `Host: ${u.host}`,
    ...(opts.upgrade === false ? [] : [
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${btoa(crypto.randomUUID().slice(0, 16))}`,
      "Sec-WebSocket-Version: 13",
    ]),
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
  const head = await readHead(conn);
  const status = Number(head.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0);
  return { status, head, conn };
}

/** `ws://` form of the daemon's `http://` URL, with a path. */
export const wsUrl = (httpUrl: string, path = "/surface") => httpUrl.replace(/^http/, "ws") + path;

/** The dedicated socket port's URL, from the daemon's log line. */
export function surfacePortUrl(logs: string): string | undefined {
  return logs.match(/"url":"(ws:\/\/[^"]+)","port":\d+[^\n]*"msg":"surface socket listening"/)?.[1];
}

/** One masked client→server text frame, as a browser would send it (for raw TCP clients). */
export function encodeTextFrame(text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const n = payload.length;
  const head = n < 126 ? [0x81, 0x80 | n] : n < 65536 ? [0x81, 0x80 | 126, n >> 8, n & 0xff] : (() => {
    throw new Error("frame too long for this helper");
  })();
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const out = new Uint8Array(head.length + 4 + n);
  out.set(head, 0);
  out.set(mask, head.length);
  for (let i = 0; i < n; i++) out[head.length + 4 + i] = payload[i] ^ mask[i % 4];
  return out;
}
