// grep with hostile arguments: a catastrophic regex, patterns that look like flags, paths and links leading
// out, and the per-call time limit, against the real ripgrep under the real bwrap.
import { join } from "node:path";
import { assertEquals, assertMatch } from "./assert.ts";
import { ExtensionHost } from "../src/kernel/mod.ts";
import { toolCaller } from "./tool_calls.ts";
import * as grep from "../extensions/tool-grep/mod.ts";
import { inputSchema } from "../extensions/tool-grep/tool_spec.ts";

async function grepFixture(config: Record<string, string> = {}) {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-grep-" }));
  const cwd = join(root, "work");
  const outside = join(root, "outside");
  await Deno.mkdir(join(cwd, ".dispatch"), { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(cwd, ".env"), "KEY=TOPSECRET\n");
  await Deno.writeTextFile(join(cwd, ".dispatch", "db.sqlite"), "TOPSECRET db\n");
  await Deno.writeTextFile(join(outside, "secret.txt"), "TOPSECRET outside\n");
  await Deno.writeTextFile(join(cwd, "evil.txt"), `${"a".repeat(5000)}b\n--files\n-e\n`);
  await Deno.writeTextFile(join(cwd, "-rf.txt"), "dash file\n");
  const host = new ExtensionHost({
    sink: { write() {} },
    config: {
      DISPATCH_PROTECTED_PATHS: JSON.stringify([join(cwd, ".dispatch"), join(cwd, ".env")]),
      ...config,
    },
  });
  await host.boot([{ manifest: grep.manifest, activate: grep.activate }]);
  assertEquals(host.list()[0].status, "active", host.list()[0].error);
  const grepCall = toolCaller(host, { cwd });
  const call = (input: Record<string, unknown>, signal?: AbortSignal) => grepCall("grep", input, { signal });
  return {
    cwd,
    outside,
    call,
    async [Symbol.asyncDispose]() {
      await host.shutdown();
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("grep: a catastrophic regex ends at once (linear-time matching), and the next grep works", async () => {
  await using f = await grepFixture();
  for (const pattern of ["^(a+)+$", "(a|aa)*c", "^(a*)*b$x"]) {
    const r = await f.call({ pattern });
    assertEquals(r.isError, false, r.content);
    assertMatch(r.content, /^no matches/);
  }
  assertEquals((await f.call({ pattern: "dash" })).content, "-rf.txt:1:dash file");
});

Deno.test("grep: a search over its time limit is killed with a clear error; other calls are unaffected", async () => {
  await using slow = await grepFixture({ DISPATCH_GREP_TIMEOUT_MS: "1" });
  const r = await slow.call({ pattern: "dash" });
  assertEquals(r.isError, true);
  assertMatch(r.content, /stopped after its time limit of 0\.001 s/);
  await using f = await grepFixture();
  assertEquals((await f.call({ pattern: "dash" })).content, "-rf.txt:1:dash file");
});

Deno.test("grep: patterns that look like rg flags are patterns", async () => {
  await using f = await grepFixture();
  assertEquals((await f.call({ pattern: "--files" })).content, "evil.txt:2:--files");
  assertEquals((await f.call({ pattern: "-e" })).content, "evil.txt:3:-e");
  assertMatch((await f.call({ pattern: "--pre=cat" })).content, /^no matches/);
  const nul = await f.call({ pattern: "a\0b" });
  assertEquals(nul.isError, true);
  assertMatch(nul.content, /NUL/);
  const bad = await f.call({ pattern: "(?<name" });
  assertEquals(bad.isError, true);
  assertMatch(bad.content, /^invalid regular expression/);
});

Deno.test("grep: a pattern too long for one argument is refused by its schema, before anything runs", () => {
  // Found by the tool-argument fuzzer: a 282 KB pattern failed to spawn (E2BIG) instead of a readable error.
  const huge = grep.manifest.tools!.find((t) => t.name === "grep")!;
  const parsed = inputSchema.safeParse({ pattern: "a".repeat(282_000) });
  assertEquals(parsed.success, false);
  assertMatch(JSON.stringify(huge.parameters), /"maxLength":10000/);
});

Deno.test("grep: paths outside, links leading out and protected paths are refused or skipped", async () => {
  await using f = await grepFixture();
  assertMatch((await f.call({ pattern: "x", path: "../outside" })).content, /outside the working directory/);
  assertMatch((await f.call({ pattern: "x", path: f.outside })).content, /outside the working directory/);
  assertMatch((await f.call({ pattern: "x", path: ".dispatch" })).content, /protected/);
  await Deno.symlink(join(f.outside, "secret.txt"), join(f.cwd, "link.txt"));
  await Deno.symlink(f.outside, join(f.cwd, "link-dir"));
  await Deno.symlink(join(f.cwd, ".env"), join(f.cwd, "env-link"));
  await Deno.symlink(join(f.cwd, ".dispatch"), join(f.cwd, "data-link"));
  assertMatch((await f.call({ pattern: "x", path: "link-dir" })).content, /outside the working directory/);
  assertMatch((await f.call({ pattern: "x", path: "env-link" })).content, /protected/);
  const all = await f.call({ pattern: "TOPSECRET", glob: "**" });
  assertMatch(all.content, /^no matches/);
  // A link to a file elsewhere in the working directory is searched, through its name.
  await Deno.mkdir(join(f.cwd, "sub"));
  await Deno.symlink(join(f.cwd, "-rf.txt"), join(f.cwd, "sub", "linked.txt"));
  assertEquals((await f.call({ pattern: "dash", path: "sub" })).content, "sub/linked.txt:1:dash file");
});

Deno.test("grep: an aborted call says so", async () => {
  await using f = await grepFixture();
  const controller = new AbortController();
  controller.abort();
  const r = await f.call({ pattern: "dash" }, controller.signal);
  assertEquals(r.isError, true);
});
