// The byte format between the daemon and a sandbox host process: each message is one frame, a 4-byte
// big-endian length followed by that many bytes of UTF-8 JSON. The reader enforces a size limit per frame, so
// a host cannot make the daemon buffer without bound.

/** Largest frame either side accepts: bigger than any tool result a model could use, small enough to hold. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** One message as a frame. Throws (TypeError) when it is not JSON-serialisable, FrameError when too big. */
export function encodeFrame(msg: unknown, max = MAX_FRAME_BYTES): Uint8Array {
  const json = JSON.stringify(msg);
  if (json === undefined) throw new TypeError("the message is not JSON-serialisable");
  const body = encoder.encode(json);
  if (body.length > max) {
    throw new FrameError(`message of ${body.length} bytes is over the ${max}-byte limit`);
  }
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, 4);
  return frame;
}

/**
 * Reads frames from a byte stream until it ends or `signal` aborts. `onFrames` gets the messages complete after
 * each chunk read, so a burst of small frames is handled in slices between the event loop's other work. Ends when the stream does; throws FrameError
 * on an oversized frame or bytes that are not JSON.
 */
export async function readFrames(
  stream: ReadableStream<Uint8Array>,
  onFrames: (messages: unknown[]) => void,
  max = MAX_FRAME_BYTES,
  signal?: AbortSignal,
): Promise<void> {
  const reader = stream.getReader();
  signal?.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
  // Chunks are joined only once a whole frame is there, so a big frame costs one copy, not one per chunk.
  let chunks: Uint8Array[] = [];
  let size = 0;
  let need = 4;
  for (;;) {
    const { done, value: chunk } = await reader.read();
    if (done) break;
    chunks.push(chunk);
    size += chunk.length;
    if (size < need) continue;
    const buffer = chunks.length === 1 ? chunks[0] : join(chunks, size);
    const messages: unknown[] = [];
    let at = 0;
    need = 4;
    while (buffer.length - at >= 4) {
      const length = new DataView(buffer.buffer, buffer.byteOffset + at, 4).getUint32(0);
      if (length > max) throw new FrameError(`a message of ${length} bytes is over the ${max}-byte limit`);
      if (buffer.length - at - 4 < length) {
        need = 4 + length;
        break;
      }
      const body = buffer.subarray(at + 4, at + 4 + length);
      at += 4 + length;
      try {
        messages.push(JSON.parse(decoder.decode(body)));
      } catch {
        throw new FrameError("a message is not valid UTF-8 JSON");
      }
    }
    const rest = buffer.subarray(at);
    chunks = rest.length > 0 ? [rest] : [];
    size = rest.length;
    if (messages.length > 0) onFrames(messages);
  }
  if (size > 0 && !signal?.aborted) throw new FrameError(`the stream ended inside a message (${size} bytes)`);
}

function join(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Bytes a writer holds for a reader that does not keep up; past this the reader is given up on. */
export const MAX_QUEUED_BYTES = 4 * MAX_FRAME_BYTES;

/** Serialises writes to a byte sink, in order, without awaiting each caller. */
export class FrameWriter {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  #queued = 0;

  constructor(stream: WritableStream<Uint8Array>, private readonly onError: (error: unknown) => void) {
    this.#writer = stream.getWriter();
  }

  write(frame: Uint8Array): void {
    if (this.#closed) return;
    this.#queued += frame.length;
    if (this.#queued > MAX_QUEUED_BYTES) {
      // A host process that stops reading its input would otherwise make the daemon hold every message.
      this.#closed = true;
      return this.onError(
        new FrameError(`over ${MAX_QUEUED_BYTES} bytes wait for a reader that does not read`),
      );
    }
    this.#chain = this.#chain.then(() => this.#writer.write(frame)).then(() => {
      this.#queued -= frame.length;
    }).catch((error) => {
      if (!this.#closed) this.onError(error);
      this.#closed = true;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#chain;
    await this.#writer.close().catch(() => {});
  }
}
