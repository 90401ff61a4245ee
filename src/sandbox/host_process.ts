// The sandbox host process (`dispatch sandbox-host`, internal): started by the daemon under bubblewrap, one per
// sandboxed extension. It runs the extension in a Worker with exactly the manifest's Deno permissions and
// relays messages between that Worker and the daemon: frames on stdin/stdout, diagnostics on stderr.
//
// This thread is the trusted half of the process; the Worker is not. The Worker can still write to the
// process's stdout itself, so nothing here is a security boundary: the daemon validates and rate-limits every
// frame again. The limits here keep an honest but noisy extension from costing the daemon anything.
import { sandboxWorkerUrl } from "../build_layout.ts";
import { encodeFrame, FrameWriter, readFrames } from "./frames.ts";
import type { BootMessage } from "./protocol.ts";
import { CHATTER_BURST, CHATTER_PER_SECOND, ChatterLimiter, isChatter } from "./rate.ts";

const MEMORY_CHECK_MS = 50;

export async function runSandboxHost(): Promise<never> {
  const out = new FrameWriter(Deno.stdout.writable, () => Deno.exit(70)); // the daemon is gone
  const send = (msg: unknown) => out.write(encodeFrame(msg));
  const limiter = new ChatterLimiter(CHATTER_PER_SECOND, CHATTER_BURST);
  let worker: Worker | undefined;

  const exit = async (code: number): Promise<never> => {
    worker?.terminate();
    await out.close();
    Deno.exit(code);
  };

  const fromWorker = (msg: { t?: unknown; id?: unknown; fields?: unknown }) => {
    if (isChatter(msg.t) && !limiter.allow(msg.t)) return;
    try {
      send(msg);
    } catch (error) {
      // Not JSON (a BigInt, a cycle) or too big: the daemon still hears of it, so nothing waits forever.
      const why = error instanceof Error ? error.message : String(error);
      if (msg.t === "reply" && typeof msg.id === "number") {
        send({ t: "reply", id: msg.id, ok: false, error: `the result cannot leave the sandbox: ${why}` });
      } else if (msg.t === "log") {
        send({ ...msg, fields: { unsendable: why } });
      } else {
        console.error(`sandbox-host: dropped a ${String(msg.t)} message: ${why}`);
      }
    }
  };

  const boot = (msg: BootMessage) => {
    try {
      worker = new Worker(sandboxWorkerUrl(), {
        type: "module",
        name: msg.name,
        deno: { permissions: msg.permissions },
      });
    } catch (error) {
      send({ t: "crashed", error: `cannot start the extension's worker: ${(error as Error).message}` });
      return void exit(1);
    }
    worker.onmessage = (e: MessageEvent) => fromWorker(e.data ?? {});
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      send({ t: "crashed", error: e.message });
      void exit(1);
    };
    worker.onmessageerror = () =>
      console.error("sandbox-host: the worker sent a message that could not be read");
    watchMemory(msg.rssLimitBytes, (rss) => {
      send({ t: "oom", rss });
      void exit(137);
    });
  };

  send({ t: "ready" }); // set-up is over: from now on the daemon may kill this process outright
  setInterval(() => {
    const counts = limiter.drain();
    if (counts) send({ t: "dropped", counts });
  }, 1000);

  try {
    await readFrames(Deno.stdin.readable, (messages) => {
      for (const msg of messages as { t?: string }[]) {
        if (!worker) {
          if (msg.t !== "boot") throw new Error("the first message must be boot");
          boot(msg as BootMessage);
        } else {
          worker.postMessage(msg);
        }
      }
    });
  } catch (error) {
    console.error(`sandbox-host: ${(error as Error).message}`);
    return await exit(65);
  }
  return await exit(0); // stdin closed: the daemon is done with this host (or gone)
}

/** Array buffers live outside the V8 heap (whose cap is a V8 flag): resident memory is what is bounded here. */
function watchMemory(limit: number, over: (rss: number) => void): void {
  const timer = setInterval(() => {
    const rss = Deno.memoryUsage().rss;
    if (rss > limit) {
      clearInterval(timer);
      over(rss);
    }
  }, MEMORY_CHECK_MS);
}
