// The extension author's kit, piece by piece: glob matching, capped output, binary sniffing, containment.
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "../../tests/assert.ts";
import { globMatcher, globToRegExp, splitGlobBase } from "./glob.ts";
import { HeadTailBuffer, looksBinary, splitLines, truncateLine } from "./text.ts";
import { parseProtectedPaths, Workspace } from "./workspace.ts";
import { defineTool, failureMessage, ToolFailure } from "./tool.ts";
import { atomicWrite } from "./fs.ts";
import { z } from "zod";

Deno.test("globToRegExp: *, ?, **, classes, braces, escapes", () => {
  const cases: [string, string[], string[]][] = [
    ["*.ts", ["a.ts", ".x.ts"], ["a/b.ts", "a.tsx"]],
    ["**/*.ts", ["a.ts", "a/b.ts", "a/b/c.ts"], ["a.js", "a/b.tsx"]],
    ["src/**/*.ts", ["src/a.ts", "src/x/y/a.ts"], ["a.ts", "lib/src/a.ts"]],
    ["src/**", ["src/a", "src/a/b"], ["src", "srcx/a"]],
    ["**", ["a", "a/b/c"], []],
    ["a/**/b", ["a/b", "a/x/b", "a/x/y/b"], ["a/xb", "ab"]],
    ["?.md", ["a.md"], ["ab.md", "/.md"]],
    ["[ab]*.txt", ["a1.txt", "b.txt"], ["c.txt"]],
    ["[!ab]*.txt", ["c.txt"], ["a.txt"]],
    ["[a-c]", ["b"], ["d", "/"]],
    ["*.{ts,tsx}", ["a.ts", "a.tsx"], ["a.js"]],
    ["{src,test}/**/*.ts", ["src/a.ts", "test/x/a.ts"], ["lib/a.ts"]],
    ["a\\*b", ["a*b"], ["axb"]],
    ["a.b(c)+", ["a.b(c)+"], ["axb(c)+", "a.bcc"]],
    ["[unclosed", ["[unclosed"], []],
    ["{unclosed", ["{unclosed"], []],
  ];
  for (const [glob, yes, no] of cases) {
    const re = globToRegExp(glob);
    for (const p of yes) assert(re.test(p), `${glob} should match ${p} (${re})`);
    for (const p of no) assert(!re.test(p), `${glob} should not match ${p} (${re})`);
  }
});

Deno.test("globMatcher matchBase: a pattern without / matches names at any depth", () => {
  const m = globMatcher("*.ts", { matchBase: true });
  assert(m("a.ts") && m("x/y/a.ts") && !m("x/a.js"));
  const p = globMatcher("src/*.ts", { matchBase: true });
  assert(p("src/a.ts") && !p("x/src/a.ts"));
});

Deno.test("splitGlobBase finds the literal folders a walk can start from", () => {
  assertEquals(splitGlobBase("src/lib/**/*.ts"), { base: "src/lib", rest: "**/*.ts" });
  assertEquals(splitGlobBase("**/*.ts"), { base: "", rest: "**/*.ts" });
  assertEquals(splitGlobBase("a.ts"), { base: "", rest: "a.ts" });
  assertEquals(splitGlobBase("./src/{a,b}/x"), { base: "src", rest: "{a,b}/x" });
});

Deno.test("HeadTailBuffer keeps start and end with a marker, and everything when small", () => {
  const small = new HeadTailBuffer(10);
  small.push("abc");
  small.push("def");
  assertEquals(small.toString(), "abcdef");
  assert(!small.truncated);

  const big = new HeadTailBuffer(10);
  for (const c of "0123456789abcdefghij") big.push(c);
  assert(big.truncated);
  assertEquals(big.toString(), "01234\n… [10 characters of output omitted here; 20 in all] …\nfghij");
  const once = new HeadTailBuffer(4);
  once.push("abcdefgh");
  assertEquals(once.toString(), "ab\n… [4 characters of output omitted here; 8 in all] …\ngh");
});

Deno.test("looksBinary: NUL bytes and invalid UTF-8; a cut final character is fine", () => {
  assert(!looksBinary(new TextEncoder().encode("plain text é")));
  assert(looksBinary(new Uint8Array([0x61, 0x00])));
  assert(looksBinary(new Uint8Array([0xff, 0xfe, 0x41])));
  assert(!looksBinary(new TextEncoder().encode("é").subarray(0, 1)));
  assertEquals(splitLines("a\r\nb\n"), ["a", "b"]);
  assertEquals(splitLines("a\n\n"), ["a", ""]);
  assertEquals(truncateLine("abcdef", 3), "abc… [line truncated: 6 characters]");
});

Deno.test("parseProtectedPaths: a JSON array of absolute paths, else it throws", () => {
  assertEquals(parseProtectedPaths({}), []);
  assertEquals(parseProtectedPaths({ DISPATCH_PROTECTED_PATHS: '["/a/b/", "/c"]' }), ["/a/b", "/c"]);
  assertThrows(() => parseProtectedPaths({ DISPATCH_PROTECTED_PATHS: "/a:/b" }), /JSON array/);
  assertThrows(() => parseProtectedPaths({ DISPATCH_PROTECTED_PATHS: '["relative"]' }), /absolute/);
  assertThrows(() => parseProtectedPaths({ DISPATCH_PROTECTED_PATHS: '{"a":1}' }), /JSON array/);
});

Deno.test("Workspace.resolve: missing paths below missing folders, dangling links inside, link loops", async () => {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-sdk-" }));
  try {
    const ws = await Workspace.open(root, []);
    const missing = await ws.resolve("a/b/c.txt");
    assertEquals(missing.path, join(root, "a/b/c.txt"));
    assertEquals(missing.display, "a/b/c.txt");
    assertEquals(missing.info, undefined);
    assertEquals((await ws.resolve(".")).display, ".");

    await Deno.symlink(join(root, "target.txt"), join(root, "dangling"));
    assertEquals((await ws.resolve("dangling")).path, join(root, "target.txt"));

    await Deno.symlink("loop-b", join(root, "loop-a"));
    await Deno.symlink("loop-a", join(root, "loop-b"));
    const error = await assertRejects(() => ws.resolve("loop-a/x"));
    assert(failureMessage(error) !== undefined, `a loop is an expected failure: ${error}`);
    await assertRejects(() => ws.resolve(""), /empty/);
    await assertRejects(() => ws.resolve("a\0b"), /NUL/);
    await assertRejects(() => Workspace.open("relative/dir", []), /not an absolute path/);
    await Deno.writeTextFile(join(root, "file"), "");
    await assertRejects(() => Workspace.open(join(root, "file"), []), /not a folder/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("defineTool turns ToolFailures and file-system errors into error results; bugs still throw", async () => {
  const tool = defineTool({
    name: "t",
    description: "d",
    inputSchema: z.object({ what: z.string() }),
    execute({ what }) {
      if (what === "fail") throw new ToolFailure("clear message");
      if (what === "fs") return Deno.readTextFile("/definitely/not/here");
      throw new TypeError("a bug");
    },
  });
  const ctx = {
    signal: new AbortController().signal,
    conversationId: "c",
    turnId: "t",
    toolCallId: "x",
    emitOutput() {},
  };
  assertEquals(await tool.execute({ what: "fail" }, ctx), { content: "clear message", isError: true });
  assertMatch(((await tool.execute({ what: "fs" }, ctx)) as { content: string }).content, /^not found: /);
  await assertRejects(() => tool.execute({ what: "bug" }, ctx), /a bug/);
});

Deno.test("atomicWrite: no clobber without overwrite, no temp files left on failure", async () => {
  const root = await Deno.makeTempDir({ prefix: "dispatch-sdk-" });
  try {
    const path = join(root, "f.txt");
    await atomicWrite(path, new TextEncoder().encode("one"), { overwrite: false });
    await assertRejects(() => atomicWrite(path, new TextEncoder().encode("two"), { overwrite: false }));
    assertEquals(await Deno.readTextFile(path), "one");
    await atomicWrite(path, new TextEncoder().encode("three"), { overwrite: true, mode: 0o600 });
    assertEquals(await Deno.readTextFile(path), "three");
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    assertEquals((await Array.fromAsync(Deno.readDir(root))).map((e) => e.name), ["f.txt"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
