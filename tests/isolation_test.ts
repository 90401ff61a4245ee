// Tests never touch the developer's data: a child daemon or CLI started by the helpers in tests/daemon.ts reads
// neither the checkout's `.env` nor the shell's settings, and writes nothing into the checkout.
import { assert, assertEquals, assertMatch } from "./assert.ts";

const DRIVER = new URL("./fixtures/isolation_driver.ts", import.meta.url).pathname;

Deno.test("isolation: a .env and shell variables in the test's cwd do not reach the child daemon or the CLI", async () => {
  // The README's daemon is running: its ports are taken.
  const backend = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const surface = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken = [backend, surface].map((l) => (l.addr as Deno.NetAddr).port);
  // It hangs up on whoever connects, so a leak fails fast instead of waiting on an answer.
  for (const l of [backend, surface]) {
    (async () => {
      for await (const conn of l) conn.close();
    })().catch(() => {});
  }
  const checkout = await Deno.makeTempDir({ prefix: "dispatch-checkout-" });
  try {
    await Deno.writeTextFile(
      `${checkout}/.env`,
      [
        `BACKEND_PORT=${taken[0]}`,
        `SURFACE_WS_PORT=${taken[1]}`,
        "DISPATCH_DATA_DIR=.dispatch",
        "DISPATCH_API_KEY=sk-the-users-own-key",
        "DISPATCH_BASE_URL=http://127.0.0.1:9/v1",
        "DISPATCH_LOG_LEVEL=error",
      ].join("\n"),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", DRIVER],
      cwd: checkout,
      // The developer's shell: the same settings exported, the env file named.
      env: {
        BACKEND_PORT: String(taken[0]),
        SURFACE_WS_PORT: String(taken[1]),
        DISPATCH_ENV_FILE: `${checkout}/.env`,
        DISPATCH_DATA_DIR: `${checkout}/.dispatch`,
        DISPATCH_TOKEN: "tok-of-the-developer-0123",
      },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, stderr);
    const seen = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);

    assertEquals(seen.done, "stop", seen.logs);
    assert(!taken.includes(Number(new URL(seen.url).port)), `daemon on a taken port: ${seen.url}`);
    assert(!seen.logs.includes("surface socket listening"), "SURFACE_WS_PORT leaked into the daemon");
    assert(!seen.dataDir.startsWith(checkout), `data dir in the checkout: ${seen.dataDir}`);
    assertEquals(seen.cli.code, 0, seen.cli.stderr);
    assertMatch(seen.cli.stdout, /hello/);
    // the CLI without --server looks at the default port, not the .env's one (and sends no token)
    assert(!`${seen.bare.stdout}${seen.bare.stderr}`.includes(`:${taken[0]}`), seen.bare.stderr);
    // nothing written into the checkout: the .env alone is there
    const entries = [];
    for await (const e of Deno.readDir(checkout)) entries.push(e.name);
    assertEquals(entries, [".env"]);
  } finally {
    backend.close();
    surface.close();
    await Deno.remove(checkout, { recursive: true });
  }
});
