// External extensions (DISPATCH_EXTENSIONS_DIR + the operator's grants in DISPATCH_EXTENSIONS_CONFIG) against
// the real daemon: the granted one runs sandboxed and its tool works in a turn; one asking for more than granted
// and each broken one (manifest, module, import, ABI, throwing or hanging activate) is disabled alone, logged
// and listed on the loaded-extensions surface, and the daemon keeps serving.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { readNdjson, runCliProcess, startDaemon, startDaemonWithFake } from "./daemon.ts";
import { text, toolCall } from "./fake_provider.ts";
import { type Frame, WsClient, wsUrl } from "./ws_client.ts";
import { beyondGrant, discoverFolders } from "../src/extensions_external.ts";
import { ExtensionHost, KERNEL_ABI } from "../src/kernel/mod.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/external", import.meta.url));
/** The daemons' workspace root: tests/daemon.ts's default (/tmp) would hold the config files written here. */
const ROOTS = Deno.makeTempDirSync({ prefix: "dispatch-roots-" });
globalThis.addEventListener("unload", () => Deno.removeSync(ROOTS, { recursive: true }));

const BROKEN: Record<string, RegExp> = {
  "net-asker": /asks for more than granted: net: example\.com:443/,
  "bad-manifest": /invalid manifest: description: .*permissions: Unrecognized key/,
  "no-module": /No such file.*no-module\/mod\.ts/,
  "bad-import": /cannot load the extension: .*Module not found.*missing\.ts/,
  "bad-abi": /written for (kernel )?ABI 99; this kernel's is 1/,
  "throws": /activate refused on purpose/,
  "hangs": /did not activate within 1500 ms/,
};

Deno.test("external extensions: granted ones run sandboxed, the rest are disabled one by one", async () => {
  const grants = await Deno.makeTempFile({ prefix: "dispatch-grants-", suffix: ".json" });
  await Deno.writeTextFile(
    grants,
    JSON.stringify({
      activateTimeoutMs: 1500,
      extensions: { greeter: { config: { GREETING_FROM: "the operator" } } },
    }),
  );
  const { fake, daemon } = await startDaemonWithFake("sk-test-key-123456", {
    DISPATCH_EXTENSIONS_DIR: FIXTURES,
    DISPATCH_EXTENSIONS_CONFIG: grants,
    DISPATCH_WORKSPACE_ROOTS: ROOTS,
  });
  let ws: WsClient | undefined;
  try {
    const disabled = daemon.logs().split("\n").filter((l) => l.includes('"extension disabled"'))
      .map((l) => JSON.parse(l));
    for (const [id, why] of Object.entries(BROKEN)) {
      const line = disabled.find((l) => l.extension === id);
      assert(line, `${id} is logged as disabled`);
      assertMatch(line.error, why);
    }
    assert(!disabled.some((l) => l.extension === "greeter"));
    const taken = daemon.logs().split("\n").filter((l) => l.includes("is taken")).map((l) => JSON.parse(l));
    assertMatch(taken[0]?.msg, /external extension in .*dup-id is not loaded: id "todo" is taken/);

    fake.script([toolCall("greet", { name: "Ada" }, { id: "call_1" })], [text("done")]);
    const res = await daemon.fetch("/chat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ conversationId: "ext-1", message: "greet Ada" }),
    });
    assertEquals(res.status, 200);
    const events = await readNdjson(res);
    const result = events.find((e) => e.type === "tool-result") as Frame | undefined;
    assert(result, JSON.stringify(events));
    assertMatch(JSON.stringify(result), /hello, Ada, from the operator/);
    assert(!JSON.stringify(result).includes('"isError":true'));

    ws = await WsClient.connect(wsUrl(daemon.url));
    const frame = await ws.request(
      { type: "subscribe", surfaceId: "loaded-extensions" },
      (f) => f.type === "surface",
    );
    const fields = new Map<string, string>(frame.spec.fields.map((f: Frame) => [f.id, f.value]));
    assertMatch(fields.get("greeter")!, /^active · sandboxed · v1\.0\.0/);
    assertMatch(
      fields.get("net-asker")!,
      /^failed: .*asks for more than granted: net: example\.com:443 · sandboxed .*permissions: net: example\.com:443/,
    );
    for (const id of Object.keys(BROKEN)) assertMatch(fields.get(id)!, /^failed: /);
    assertEquals((await daemon.fetch("/health")).status, 200);

    // `dispatch extensions` lists the same, from the running daemon.
    const cli = await runCliProcess(["extensions", "--server", daemon.url]);
    assertEquals(cli.code, 0, cli.stderr);
    assertMatch(cli.stdout, /^greeter {2}active · sandboxed/m);
    assertMatch(cli.stdout, /^net-asker {2}failed: .*asks for more than granted/m);
  } finally {
    ws?.close();
    await daemon.stop();
    await fake.close();
    await Deno.remove(grants);
  }
});

Deno.test("a grant covers a manifest's ask only entry by entry; true covers everything", () => {
  assertEquals(beyondGrant({ net: ["a.com:443"], read: ["./data"] }, { net: ["a.com:443"] }), [
    "read: ./data",
  ]);
  assertEquals(beyondGrant({ net: true }, { net: ["a.com:443"] }), ["net: all"]);
  assertEquals(beyondGrant({ net: ["a.com:443", "b.com:443"] }, { net: true }), []);
  assertEquals(beyondGrant({ env: ["LANG"], write: false }, {}), ["env: LANG"]);
});

Deno.test("DISPATCH_EXTENSIONS_DIR: a folder with a manifest is one extension, any other lists them", async () => {
  assertEquals(await discoverFolders(join(FIXTURES, "greeter")), [join(FIXTURES, "greeter")]);
  const all = await discoverFolders(`${FIXTURES}:${join(FIXTURES, "greeter")}`);
  assertEquals(all.length, Object.keys(BROKEN).length + 3); // greeter twice, and dup-id
  assertEquals(await discoverFolders(""), []);
});

Deno.test("dispatch extensions check DIR: the example passes; a refused grant, a bad ABI, a type error fail", async () => {
  const examples = fileURLToPath(new URL("../examples/hello", import.meta.url));
  const ok = await runCliProcess(["extensions", "check", examples]);
  assertEquals(ok.code, 0, ok.stderr);
  assertMatch(ok.stdout, /^hello 0\.1\.0 \(abi 1\)/);
  assertMatch(ok.stdout, /ok: hello can be installed/);

  const grants = await Deno.makeTempFile({ suffix: ".json" });
  const typo = await Deno.makeTempDir({ prefix: "dispatch-ext-" });
  try {
    await Deno.writeTextFile(grants, JSON.stringify({ extensions: {} }));
    const refused = await runCliProcess([
      "extensions",
      "check",
      join(FIXTURES, "net-asker"),
      "--config",
      grants,
    ]);
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /net-asker: asks for more than .* grants: net: example\.com:443/);

    const abi = await runCliProcess(["extensions", "check", join(FIXTURES, "bad-abi")]);
    assertEquals(abi.code, 1);
    assertMatch(abi.stderr, /written for ABI 99/);

    // The README's old mistake: an untyped execute argument and a string where a Promise is due.
    await Deno.copyFile(join(FIXTURES, "greeter", "manifest.ts"), join(typo, "manifest.ts"));
    await Deno.writeTextFile(
      join(typo, "mod.ts"),
      [
        'import type { ExtensionContext } from "@dispatch/kernel";',
        "export function activate(ctx: ExtensionContext) {",
        '  ctx.tools.register({ name: "x", description: "x", inputSchema: undefined as never,',
        "    execute: ({ name }) => `hi ${name}` });",
        "}",
      ].join("\n"),
    );
    const typed = await runCliProcess(["extensions", "check", typo]);
    assertEquals(typed.code, 1);
    assertMatch(typed.stderr, /mod\.ts does not type-check/);

    const missing = await runCliProcess(["extensions", "check", join(typo, "nope")]);
    assertEquals(missing.code, 1);
    assertEquals(missing.stderr.trim().split("\n").length, 1, missing.stderr);
  } finally {
    await Deno.remove(grants);
    await Deno.remove(typo, { recursive: true });
  }
});

Deno.test("a grants file that is not valid stops the daemon with a one-line message", async () => {
  const grants = await Deno.makeTempFile({ suffix: ".json" });
  try {
    for (
      const [text, why] of [["{", /is not JSON/], [
        '{"extensions": {"x": {"permissions": {"ffi": true}}}}',
        /ffi/,
      ]]
    ) {
      await Deno.writeTextFile(grants, text as string);
      const error = await startDaemon({
        env: {
          DISPATCH_EXTENSIONS_DIR: FIXTURES,
          DISPATCH_EXTENSIONS_CONFIG: grants,
          DISPATCH_WORKSPACE_ROOTS: ROOTS,
        },
      }).then(async (d) => (await d.stop(), undefined), (e: Error) => e);
      assert(error, "the daemon did not start");
      assertMatch(error.message, /dispatch: DISPATCH_EXTENSIONS_CONFIG: /);
      assertMatch(error.message, why as RegExp);
    }
  } finally {
    await Deno.remove(grants);
  }
});

Deno.test("extensions and grants the model could write (inside a workspace root) are refused", async () => {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-root-" }));
  try {
    const grants = join(root, "grants.json");
    await Deno.writeTextFile(
      grants,
      JSON.stringify({ extensions: { greeter: { permissions: { net: true } } } }),
    );
    const error = await startDaemon({
      env: {
        DISPATCH_WORKSPACE_ROOTS: root,
        DISPATCH_EXTENSIONS_DIR: FIXTURES,
        DISPATCH_EXTENSIONS_CONFIG: grants,
      },
    }).then(async (d) => (await d.stop(), undefined), (e: Error) => e);
    assert(error, "the daemon did not start");
    assertMatch(error.message, /DISPATCH_EXTENSIONS_CONFIG: .*grants\.json is inside the workspace root/);

    await Deno.mkdir(join(root, "ext"));
    const dirError = await startDaemon({
      env: { DISPATCH_WORKSPACE_ROOTS: root, DISPATCH_EXTENSIONS_DIR: join(root, "ext") },
    }).then(async (d) => (await d.stop(), undefined), (e: Error) => e);
    assert(dirError, "the daemon did not start");
    assertMatch(dirError.message, /DISPATCH_EXTENSIONS_DIR: .*ext is inside the workspace root/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the host refuses a manifest written for another kernel ABI, and only that extension", async () => {
  const host = new ExtensionHost({ sink: { write() {} } });
  const entry = (id: string, abi?: number) => ({
    manifest: { ...(abi ? { abi } : {}), id, version: "1", description: id },
    activate: () => {},
  });
  await host.boot([entry("old", 2), entry("current", KERNEL_ABI), entry("unnamed")]);
  const states = Object.fromEntries(host.list().map((s) => [s.id, s]));
  assertEquals(states.old.status, "failed");
  assertMatch(states.old.error!, /written for kernel ABI 2; this kernel's is 1/);
  assertEquals([states.current.status, states.unnamed.status], ["active", "active"]);
  await host.shutdown();
});
