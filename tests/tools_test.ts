// The coding tools end to end, in process: each extension activated by a real ExtensionHost, tools called
// through their ToolHandles (parse + execute) on real temp folders and real processes.
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ExtensionHost, type ToolContext, type ToolHandle } from "../src/kernel/mod.ts";
import * as readFile from "../extensions/tool-read-file/mod.ts";
import * as writeFile from "../extensions/tool-write-file/mod.ts";
import * as editFile from "../extensions/tool-edit-file/mod.ts";
import * as shell from "../extensions/tool-shell/mod.ts";
import * as grep from "../extensions/tool-grep/mod.ts";
import * as glob from "../extensions/tool-glob/mod.ts";
import { sleepMarker, waitProcesses } from "./process.ts";

const EXTENSIONS = [readFile, writeFile, editFile, shell, grep, glob];

interface CallOptions {
  cwd?: string | null;
  signal?: AbortSignal;
  onOutput?: (data: string, stream: "stdout" | "stderr") => void;
}

interface Outcome {
  content: string;
  isError: boolean;
  /** The arguments did not pass the tool's schema. */
  invalid?: boolean;
}

/**
 * A temp folder laid out as:
 *   work/            the conversation's cwd
 *     .dispatch/     the daemon's data dir (protected), with db.sqlite
 *     .env           the daemon's env file (protected)
 *   outside/         beside the cwd, with secret.txt
 */
async function fixture(config: Record<string, string> = {}) {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-tools-" }));
  const cwd = join(root, "work");
  const outside = join(root, "outside");
  const dataDir = join(cwd, ".dispatch");
  const envFile = join(cwd, ".env");
  await Deno.mkdir(dataDir, { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(dataDir, "db.sqlite"), "TOPSECRET database\n");
  await Deno.writeTextFile(envFile, "DISPATCH_API_KEY=TOPSECRET\n");
  await Deno.writeTextFile(join(outside, "secret.txt"), "TOPSECRET outside\n");

  const host = new ExtensionHost({
    sink: { write() {} },
    config: { DISPATCH_PROTECTED_PATHS: JSON.stringify([dataDir, envFile]), ...config },
  });
  await host.boot(EXTENSIONS.map((m) => ({ manifest: m.manifest, activate: m.activate })));
  for (const state of host.list()) assertEquals(state.status, "active", `${state.id}: ${state.error}`);

  const tools = new Map<string, ToolHandle>(host.tools.list().map((t) => [t.spec.name, t]));
  const call = async (name: string, input: unknown, opts: CallOptions = {}): Promise<Outcome> => {
    const tool = tools.get(name);
    assert(tool, `tool ${name} is registered`);
    const parsed = tool.parse(input);
    if (!parsed.ok) return { content: parsed.error, isError: true, invalid: true };
    const ctx: ToolContext = {
      signal: opts.signal ?? new AbortController().signal,
      conversationId: "c1",
      turnId: "t1",
      toolCallId: "call1",
      cwd: opts.cwd === null ? undefined : opts.cwd ?? cwd,
      emitOutput: opts.onOutput ?? (() => {}),
    };
    const result = await tool.execute(parsed.value, ctx);
    return { content: result.content, isError: !!result.isError };
  };
  const write = (rel: string, text: string | Uint8Array) =>
    typeof text === "string"
      ? Deno.writeTextFile(join(cwd, rel), text)
      : Deno.writeFile(join(cwd, rel), text);
  const read = (rel: string) => Deno.readTextFile(join(cwd, rel));

  return {
    host,
    root,
    cwd,
    outside,
    dataDir,
    envFile,
    tools,
    call,
    write,
    read,
    async [Symbol.asyncDispose]() {
      await host.shutdown();
      await Deno.remove(root, { recursive: true });
    },
  };
}

async function ok(p: Promise<Outcome>): Promise<string> {
  const r = await p;
  assert(!r.isError, `expected success, got error: ${r.content}`);
  return r.content;
}

async function err(p: Promise<Outcome>, pattern: RegExp): Promise<string> {
  const r = await p;
  assert(r.isError, `expected an error, got: ${r.content}`);
  assertMatch(r.content, pattern);
  return r.content;
}

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

// ---------------------------------------------------------------- registration

Deno.test("all six tools register with JSON-schema parameters and model-facing descriptions", async () => {
  await using f = await fixture();
  assertEquals([...f.tools.keys()].sort(), [
    "edit_file",
    "glob",
    "grep",
    "read_file",
    "run_shell",
    "write_file",
  ]);
  for (const tool of f.tools.values()) {
    assertEquals(tool.spec.parameters.type, "object");
    assert(tool.spec.description.length > 100, `${tool.spec.name} has a real description`);
  }
  const props = (name: string) => Object.keys(f.tools.get(name)!.spec.parameters.properties as object).sort();
  assertEquals(props("read_file"), ["limit", "offset", "path"]);
  assertEquals(props("write_file"), ["content", "overwrite", "path"]);
  assertEquals(props("edit_file"), ["newString", "oldString", "path", "replaceAll"]);
  assertEquals(props("run_shell"), ["command", "timeoutMs"]);
  assertEquals(props("grep"), ["glob", "path", "pattern"]);
  assertEquals(props("glob"), ["path", "pattern"]);
});

Deno.test("a malformed DISPATCH_PROTECTED_PATHS fails activation instead of running unprotected", async () => {
  const host = new ExtensionHost({ sink: { write() {} }, config: { DISPATCH_PROTECTED_PATHS: "/a:/b" } });
  await host.boot([{ manifest: readFile.manifest, activate: readFile.activate }]);
  const [state] = host.list();
  assertEquals(state.status, "failed");
  assertMatch(state.error!, /JSON array/);
  assertEquals(host.tools.list().length, 0);
});

// ---------------------------------------------------------------- read_file

Deno.test("read_file numbers lines, pages with offset/limit and says how to get the rest", async () => {
  await using f = await fixture();
  await f.write("a.txt", Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join("\n") + "\n");
  const all = await ok(f.call("read_file", { path: "a.txt" }));
  assertEquals(all.split("\n")[0], "     1\tline 1");
  assertEquals(all.split("\n").length, 10);
  assert(!all.includes("offset="), "no continuation marker when everything is shown");

  const window = await ok(f.call("read_file", { path: "a.txt", offset: 4, limit: 3 }));
  assertEquals(window.split("\n").slice(0, 3), ["     4\tline 4", "     5\tline 5", "     6\tline 6"]);
  assertStringIncludes(window, "showing lines 4-6 of 10");
  assertStringIncludes(window, "offset=7");

  await err(f.call("read_file", { path: "a.txt", offset: 11 }), /past the end .* 10 line/);
  assert((await f.call("read_file", { path: "a.txt", limit: 0 })).invalid);
  assert((await f.call("read_file", { path: "a.txt", offset: 1.5 })).invalid);
  assert((await f.call("read_file", {})).invalid);
});

Deno.test("read_file: default limit of 2000 lines, long lines cut, empty file, CRLF", async () => {
  await using f = await fixture();
  await f.write("big.txt", Array.from({ length: 2500 }, (_, i) => `${i + 1}`).join("\n"));
  const first = await ok(f.call("read_file", { path: "big.txt" }));
  assertStringIncludes(first, "  2000\t2000\n");
  assert(!first.includes("\t2001\n"));
  assertStringIncludes(first, "showing lines 1-2000 of 2500; call read_file with offset=2001");

  await f.write("long.txt", "x".repeat(5000) + "\nshort\n");
  const long = await ok(f.call("read_file", { path: "long.txt" }));
  assertStringIncludes(long, "[line truncated: 5000 characters]");
  assertStringIncludes(long, "     2\tshort");
  assert(long.length < 2200);

  await f.write("empty.txt", "");
  assertMatch(await ok(f.call("read_file", { path: "empty.txt" })), /empty/);

  await f.write("crlf.txt", "a\r\nb\r\n");
  assertEquals(await ok(f.call("read_file", { path: "crlf.txt" })), "     1\ta\n     2\tb");
});

Deno.test("read_file lists a folder: sorted, folders with a trailing slash", async () => {
  await using f = await fixture();
  await Deno.mkdir(join(f.cwd, "src"));
  await f.write("b.txt", "");
  await f.write("a.txt", "");
  await f.write("src/z.ts", "");
  const listing = await ok(f.call("read_file", { path: "." }));
  const lines = listing.split("\n");
  assertMatch(lines[0], /^\.\/ \(folder, 5 entries\)/);
  assertEquals(lines.slice(1), [".dispatch/", ".env", "a.txt", "b.txt", "src/"]);
  assertStringIncludes(await ok(f.call("read_file", { path: "src" })), "z.ts");
});

Deno.test("read_file refuses missing, binary and oversized files with clear messages", async () => {
  await using f = await fixture();
  await err(f.call("read_file", { path: "nope.txt" }), /nope\.txt does not exist/);

  await f.write("nul.bin", new Uint8Array([0x68, 0x69, 0x00, 0x01]));
  await err(f.call("read_file", { path: "nul.bin" }), /binary/);
  await f.write("latin1.txt", new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a])); // "café" in Latin-1
  await err(f.call("read_file", { path: "latin1.txt" }), /binary/);

  // Valid UTF-8 whose 8 KB sniff window ends inside a multi-byte character is still text.
  await f.write("utf8.txt", "a".repeat(8191) + "é\n");
  await ok(f.call("read_file", { path: "utf8.txt" }));

  const big = new Uint8Array(5 * 1024 * 1024 + 1).fill(0x61);
  await f.write("huge.txt", big);
  const msg = await err(f.call("read_file", { path: "huge.txt" }), /5\.0 MB/);
  assertStringIncludes(msg, "offset/limit do not lift it");
  await err(f.call("read_file", { path: "huge.txt", offset: 1, limit: 10 }), /limit/);
});

Deno.test("read_file stays inside the working directory: traversal, absolute paths, symlinks", async () => {
  await using f = await fixture();
  await f.write("in.txt", "inside\n");
  await err(f.call("read_file", { path: "../outside/secret.txt" }), /outside the working directory/);
  await err(f.call("read_file", { path: "sub/../../outside/secret.txt" }), /outside the working directory/);
  await err(f.call("read_file", { path: join(f.outside, "secret.txt") }), /outside the working directory/);
  await err(f.call("read_file", { path: "/etc/passwd" }), /outside the working directory/);
  await err(f.call("read_file", { path: ".." }), /outside the working directory/);
  assertStringIncludes(await ok(f.call("read_file", { path: join(f.cwd, "in.txt") })), "inside");

  await Deno.symlink(join(f.outside, "secret.txt"), join(f.cwd, "link.txt"));
  await Deno.symlink(f.outside, join(f.cwd, "linkdir"));
  await Deno.symlink("/etc", join(f.cwd, "etc"));
  const viaFile = await err(f.call("read_file", { path: "link.txt" }), /through a symbolic link/);
  assert(!viaFile.includes("TOPSECRET"));
  await err(f.call("read_file", { path: "linkdir/secret.txt" }), /through a symbolic link/);
  await err(f.call("read_file", { path: "linkdir" }), /through a symbolic link/);
  await err(f.call("read_file", { path: "etc/passwd" }), /through a symbolic link/);

  // A link that stays inside is fine.
  await Deno.symlink(join(f.cwd, "in.txt"), join(f.cwd, "good-link.txt"));
  assertStringIncludes(await ok(f.call("read_file", { path: "good-link.txt" })), "inside");
});

Deno.test("read_file refuses the daemon's data dir and env file, directly, via links and hard links", async () => {
  await using f = await fixture();
  const refused = /protected path/;
  for (const path of [".env", ".dispatch", ".dispatch/db.sqlite", "./.dispatch/../.env", f.envFile]) {
    const msg = await err(f.call("read_file", { path }), refused);
    assert(!msg.includes("TOPSECRET"));
  }
  await Deno.symlink(f.envFile, join(f.cwd, "env-link"));
  await Deno.symlink(f.dataDir, join(f.cwd, "data-link"));
  await Deno.symlink("../work/.env", join(f.outside, "back"));
  await Deno.mkdir(join(f.cwd, "deep"));
  await Deno.symlink("../.dispatch/db.sqlite", join(f.cwd, "deep", "db"));
  await Deno.link(f.envFile, join(f.cwd, "hard-env"));
  for (const path of ["env-link", "data-link", "data-link/db.sqlite", "deep/db", "hard-env"]) {
    await err(f.call("read_file", { path }), refused);
  }
});

Deno.test("read_file needs a working directory that exists and is not protected", async () => {
  await using f = await fixture();
  await err(f.call("read_file", { path: "a" }, { cwd: null }), /no working directory/);
  await err(f.call("read_file", { path: "a" }, { cwd: join(f.root, "missing") }), /does not exist/);
  await err(f.call("read_file", { path: "db.sqlite" }, { cwd: f.dataDir }), /protected/);
});

// ---------------------------------------------------------------- write_file

Deno.test("write_file creates a file atomically and reports the bytes written", async () => {
  await using f = await fixture();
  const msg = await ok(f.call("write_file", { path: "new.txt", content: "héllo\n" }));
  assertMatch(msg, /created new\.txt: wrote 7 bytes/);
  assertEquals(await f.read("new.txt"), "héllo\n");
  await ok(f.call("write_file", { path: "empty.txt", content: "" }));
  assertEquals(await f.read("empty.txt"), "");
  const names = (await Array.fromAsync(Deno.readDir(f.cwd))).map((e) => e.name);
  assert(!names.some((n) => n.endsWith(".tmp")), `no temp files left: ${names}`);
});

Deno.test("write_file refuses to replace without overwrite, replaces with it, keeps the mode", async () => {
  await using f = await fixture();
  await f.write("x.sh", "old\n");
  await Deno.chmod(join(f.cwd, "x.sh"), 0o750);
  const msg = await err(f.call("write_file", { path: "x.sh", content: "new\n" }), /already exists/);
  assertStringIncludes(msg, "overwrite: true");
  assertEquals(await f.read("x.sh"), "old\n");
  assertMatch(
    await ok(f.call("write_file", { path: "x.sh", content: "new\n", overwrite: true })),
    /replaced/,
  );
  assertEquals(await f.read("x.sh"), "new\n");
  assertEquals((await Deno.stat(join(f.cwd, "x.sh"))).mode! & 0o777, 0o750);
  await ok(f.call("write_file", { path: "fresh.txt", content: "a", overwrite: true }));
  assertEquals(await f.read("fresh.txt"), "a");
  await Deno.mkdir(join(f.cwd, "dir"));
  await err(f.call("write_file", { path: "dir", content: "a", overwrite: true }), /is a folder/);
});

Deno.test("write_file does not create folders and names the missing one", async () => {
  await using f = await fixture();
  await err(
    f.call("write_file", { path: "no/such/dir/a.txt", content: "a" }),
    /folder no\/such\/dir does not exist/,
  );
  assert(!(await exists(join(f.cwd, "no"))));
});

Deno.test("write_file stays inside the working directory and off protected paths", async () => {
  await using f = await fixture();
  await err(f.call("write_file", { path: "../outside/evil.txt", content: "x" }), /outside the working/);
  await err(f.call("write_file", { path: join(f.outside, "evil.txt"), content: "x" }), /outside the working/);
  await Deno.symlink(f.outside, join(f.cwd, "linkdir"));
  await err(f.call("write_file", { path: "linkdir/evil.txt", content: "x" }), /symbolic link/);
  // A dangling link: writing through it would create a file outside.
  await Deno.symlink(join(f.outside, "created-by-link.txt"), join(f.cwd, "dangling"));
  await err(f.call("write_file", { path: "dangling", content: "x", overwrite: true }), /symbolic link/);
  assert(!(await exists(join(f.outside, "evil.txt"))));
  assert(!(await exists(join(f.outside, "created-by-link.txt"))));

  await err(f.call("write_file", { path: ".env", content: "x", overwrite: true }), /protected path/);
  await err(f.call("write_file", { path: ".dispatch/new.sqlite", content: "x" }), /protected path/);
  await Deno.symlink(f.dataDir, join(f.cwd, "data-link"));
  await err(f.call("write_file", { path: "data-link/new.sqlite", content: "x" }), /protected path/);
  assertEquals(await f.read(".env"), "DISPATCH_API_KEY=TOPSECRET\n");
  assert(!(await exists(join(f.dataDir, "new.sqlite"))));
});

// ---------------------------------------------------------------- edit_file

Deno.test("edit_file replaces one exact occurrence, or all with replaceAll, and counts them", async () => {
  await using f = await fixture();
  await f.write("a.ts", "const a = 1;\nconst b = 2;\nconst c = 1;\n");
  assertMatch(
    await ok(f.call("edit_file", { path: "a.ts", oldString: "const b = 2;", newString: "const b = 3;" })),
    /1 replacement$/,
  );
  assertEquals(await f.read("a.ts"), "const a = 1;\nconst b = 3;\nconst c = 1;\n");

  const many = await err(
    f.call("edit_file", { path: "a.ts", oldString: " = 1;", newString: " = 9;" }),
    /occurs 2 times/,
  );
  assertStringIncludes(many, "replaceAll");
  assertEquals(await f.read("a.ts"), "const a = 1;\nconst b = 3;\nconst c = 1;\n");
  assertMatch(
    await ok(f.call("edit_file", { path: "a.ts", oldString: " = 1;", newString: " = 9;", replaceAll: true })),
    /2 replacements/,
  );
  assertEquals(await f.read("a.ts"), "const a = 9;\nconst b = 3;\nconst c = 9;\n");

  // `$&` and friends are inserted literally.
  await ok(f.call("edit_file", { path: "a.ts", oldString: "const a", newString: "let $& $1" }));
  assertEquals((await f.read("a.ts")).split("\n")[0], "let $& $1 = 9;");
});

Deno.test("edit_file fails clearly: not found, same strings, missing file, binary, CRLF adapted", async () => {
  await using f = await fixture();
  await f.write("a.txt", "hello world\n");
  await err(
    f.call("edit_file", { path: "a.txt", oldString: "Hello", newString: "Bye" }),
    /was not found in a\.txt/,
  );
  await err(f.call("edit_file", { path: "a.txt", oldString: "hello", newString: "hello" }), /the same/);
  assert((await f.call("edit_file", { path: "a.txt", oldString: "", newString: "x" })).invalid);
  await err(f.call("edit_file", { path: "nope.txt", oldString: "a", newString: "b" }), /does not exist/);
  await f.write("bin", new Uint8Array([0, 1, 2]));
  await err(f.call("edit_file", { path: "bin", oldString: "a", newString: "b" }), /not a UTF-8 text file/);

  await f.write("win.txt", "one\r\ntwo\r\nthree\r\n");
  assertMatch(
    await ok(f.call("edit_file", { path: "win.txt", oldString: "one\ntwo", newString: "1\n2" })),
    /CRLF/,
  );
  assertEquals(await f.read("win.txt"), "1\r\n2\r\nthree\r\n");
});

Deno.test("edit_file stays inside the working directory and off protected paths", async () => {
  await using f = await fixture();
  await err(
    f.call("edit_file", { path: "../outside/secret.txt", oldString: "T", newString: "x" }),
    /outside/,
  );
  await Deno.symlink(join(f.outside, "secret.txt"), join(f.cwd, "link"));
  await err(f.call("edit_file", { path: "link", oldString: "T", newString: "x" }), /symbolic link/);
  await err(f.call("edit_file", { path: ".env", oldString: "TOPSECRET", newString: "x" }), /protected/);
  assertEquals(await Deno.readTextFile(join(f.outside, "secret.txt")), "TOPSECRET outside\n");
  assertEquals(await f.read(".env"), "DISPATCH_API_KEY=TOPSECRET\n");
});

// ---------------------------------------------------------------- grep

async function searchTree(f: Awaited<ReturnType<typeof fixture>>) {
  await Deno.mkdir(join(f.cwd, "src/lib"), { recursive: true });
  await Deno.mkdir(join(f.cwd, "node_modules/pkg"), { recursive: true });
  await Deno.mkdir(join(f.cwd, ".git"));
  await f.write("src/main.ts", "import x from './lib/util.ts';\n// TODO: main\n");
  await f.write("src/lib/util.ts", "export const util = 1; // TODO util\n");
  await f.write("src/lib/notes.md", "TODO in markdown\n");
  await f.write("README.md", "no match here\n");
  await f.write("node_modules/pkg/index.ts", "// TODO in a dependency\n");
  await f.write(".git/config", "TODO in git\n");
  await f.write("src/blob.bin", new Uint8Array([0x54, 0x4f, 0x44, 0x4f, 0x00]));
}

Deno.test("grep prints file:line:text, skipping .git, node_modules and binary files", async () => {
  await using f = await fixture();
  await searchTree(f);
  const out = await ok(f.call("grep", { pattern: "TODO" }));
  assertEquals(out.split("\n"), [
    "src/lib/notes.md:1:TODO in markdown",
    "src/lib/util.ts:1:export const util = 1; // TODO util",
    "src/main.ts:2:// TODO: main",
  ]);
  assertEquals(
    await ok(f.call("grep", { pattern: "TODO", path: "src/lib" })),
    "src/lib/notes.md:1:TODO in markdown\nsrc/lib/util.ts:1:export const util = 1; // TODO util",
  );
  assertEquals(
    await ok(f.call("grep", { pattern: "TO+DO", path: "src/main.ts" })),
    "src/main.ts:2:// TODO: main",
  );
  assertMatch(await ok(f.call("grep", { pattern: "nothing-like-this" })), /^no matches/);
  assertEquals(
    await ok(f.call("grep", { pattern: "(?i:todo): MAIN|(?i:MAIN)$" })),
    "src/main.ts:2:// TODO: main",
  );
});

Deno.test("grep filters by glob: bare names at any depth, paths relative to the search folder", async () => {
  await using f = await fixture();
  await searchTree(f);
  assertEquals(
    (await ok(f.call("grep", { pattern: "TODO", glob: "*.ts" }))).split("\n").map((l) => l.split(":")[0]),
    ["src/lib/util.ts", "src/main.ts"],
  );
  assertEquals(
    (await ok(f.call("grep", { pattern: "TODO", glob: "src/lib/*.{md,txt}" }))).split("\n").map((l) =>
      l.split(":")[0]
    ),
    ["src/lib/notes.md"],
  );
  assertEquals(
    (await ok(f.call("grep", { pattern: "TODO", path: "src", glob: "lib/**/*.ts" }))).split(":")[0],
    "src/lib/util.ts",
  );
});

Deno.test("grep refuses an invalid regex and paths outside; skips protected and escaping files", async () => {
  await using f = await fixture();
  await searchTree(f);
  await err(f.call("grep", { pattern: "foo(" }), /invalid regular expression "foo\(": .*/);
  await err(f.call("grep", { pattern: "x", path: "../outside" }), /outside the working directory/);
  await err(f.call("grep", { pattern: "x", path: ".env" }), /protected/);
  await Deno.symlink(join(f.outside, "secret.txt"), join(f.cwd, "secret-link.txt"));
  await Deno.symlink(f.outside, join(f.cwd, "outside-dir"));
  await Deno.symlink(f.envFile, join(f.cwd, "env-link"));
  await Deno.link(f.envFile, join(f.cwd, "env-hard"));
  assertMatch(await ok(f.call("grep", { pattern: "TOPSECRET" })), /^no matches/);
});

Deno.test("grep stops at 200 matches and says so", async () => {
  await using f = await fixture();
  await f.write("many.txt", "hit\n".repeat(500));
  const out = await ok(f.call("grep", { pattern: "hit" }));
  const lines = out.split("\n");
  assertEquals(lines.filter((l) => l.startsWith("many.txt:")).length, 200);
  assertEquals(lines[199], "many.txt:200:hit");
  assertStringIncludes(out, "stopped at 200 matches");
});

// ---------------------------------------------------------------- glob

Deno.test("glob finds files sorted, ignores .git and node_modules unless named", async () => {
  await using f = await fixture();
  await searchTree(f);
  await f.write("top.ts", "");
  assertEquals(
    (await ok(f.call("glob", { pattern: "**/*.ts" }))).split("\n"),
    ["src/lib/util.ts", "src/main.ts", "top.ts"],
  );
  assertEquals(await ok(f.call("glob", { pattern: "*.ts" })), "top.ts");
  assertEquals(
    await ok(f.call("glob", { pattern: "src/**/*.{md,ts}" })),
    "src/lib/notes.md\nsrc/lib/util.ts\nsrc/main.ts",
  );
  assertEquals(await ok(f.call("glob", { pattern: "**/*.ts", path: "src/lib" })), "src/lib/util.ts");
  assertEquals(await ok(f.call("glob", { pattern: "node_modules/**/*.ts" })), "node_modules/pkg/index.ts");
  assertEquals(await ok(f.call("glob", { pattern: ".git/*" })), ".git/config");
  assertEquals(await ok(f.call("glob", { pattern: "src/l?b/[tu]*.ts" })), "src/lib/util.ts");
  assertMatch(await ok(f.call("glob", { pattern: "**/*.py" })), /^no files match/);
  assertMatch(await ok(f.call("glob", { pattern: "missing/**" })), /^no files match/);
});

Deno.test("glob skips protected paths and links that lead out; refuses escapes", async () => {
  await using f = await fixture();
  await f.write("a.txt", "");
  await Deno.symlink(join(f.outside, "secret.txt"), join(f.cwd, "secret-link.txt"));
  await Deno.symlink(f.outside, join(f.cwd, "outside-dir"));
  await Deno.symlink(f.envFile, join(f.cwd, "env-link"));
  await Deno.symlink(join(f.cwd, "a.txt"), join(f.cwd, "good-link.txt"));
  assertEquals(await ok(f.call("glob", { pattern: "**/*" })), "a.txt\ngood-link.txt");
  assertEquals(await ok(f.call("glob", { pattern: "**" })), "a.txt\ngood-link.txt");
  await err(f.call("glob", { pattern: "*", path: ".dispatch" }), /protected/);
  await err(f.call("glob", { pattern: "*", path: "../outside" }), /outside the working directory/);
  await err(f.call("glob", { pattern: "../outside/*" }), /may not contain `\.\.`/);
  await err(f.call("glob", { pattern: "/etc/*" }), /must be relative/);
  await err(f.call("glob", { pattern: "*", path: "outside-dir" }), /symbolic link/);
});

Deno.test("glob stops at 1000 files and says so", async () => {
  await using f = await fixture();
  await Deno.mkdir(join(f.cwd, "many"));
  await Promise.all(Array.from({ length: 1010 }, (_, i) => f.write(`many/f${i}.txt`, "")));
  const out = await ok(f.call("glob", { pattern: "many/*.txt" }));
  assertEquals(out.split("\n").filter((l) => l.startsWith("many/")).length, 1000);
  assertStringIncludes(out, "stopped at 1000 files");
});

// ---------------------------------------------------------------- run_shell

// A command whose shell blocks, with a background job and one in its own session (`setsid`), all marked.
const forever = (marker: string) =>
  `sleep ${marker} & setsid sleep ${marker} & echo started; sleep ${marker}`;
/** All three sleeps of `forever(marker)` are running. */
const allRunning = (marker: string) => waitProcesses(marker, (pids) => pids.length >= 3);
/** None of them is left. */
const noneLeft = (marker: string) => waitProcesses(marker, (pids) => pids.length === 0);

Deno.test("run_shell runs bash in the working directory and reports the exit code", async () => {
  await using f = await fixture();
  const out = await ok(f.call("run_shell", { command: "pwd; echo out; echo err >&2" }));
  assertEquals(out, `${f.cwd}\nout\nerr\nexit code 0`);
  const failed = await err(f.call("run_shell", { command: "echo nope; exit 3" }), /exit code 3$/);
  assertStringIncludes(failed, "nope");
  assertEquals(await ok(f.call("run_shell", { command: "true" })), "(no output)\nexit code 0");
  // stdin is closed: cat ends at once.
  assertEquals(await ok(f.call("run_shell", { command: "cat; echo done" })), "done\nexit code 0");
  await err(f.call("run_shell", { command: "kill -9 $$" }), /exit code 137$/);
  await err(f.call("run_shell", { command: "pwd" }, { cwd: null }), /no working directory/);
  await err(f.call("run_shell", { command: "pwd" }, { cwd: f.dataDir }), /protected/);
});

Deno.test("run_shell refuses bad timeouts through its schema", async () => {
  await using f = await fixture();
  for (const timeoutMs of [0, -5, 1.5, 600_001, "100"]) {
    assert((await f.call("run_shell", { command: "true", timeoutMs })).invalid, `timeoutMs ${timeoutMs}`);
  }
  assert((await f.call("run_shell", { command: "" })).invalid);
});

Deno.test("run_shell streams stdout and stderr live, in order", async () => {
  await using f = await fixture();
  const chunks: { data: string; stream: string; at: number }[] = [];
  const started = Date.now();
  const out = await ok(f.call("run_shell", {
    command: "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three",
  }, { onOutput: (data, stream) => chunks.push({ data, stream, at: Date.now() - started }) }));
  assertEquals(chunks.map((c) => [c.stream, c.data]), [["stdout", "one\n"], ["stderr", "two\n"], [
    "stdout",
    "three\n",
  ]]);
  assert(chunks[0].at < chunks[2].at - 250, "the first line arrived before the command ended");
  assertEquals(out, "one\ntwo\nthree\nexit code 0");
});

Deno.test("run_shell keeps the head and tail of long output with a marker in the middle", async () => {
  await using f = await fixture();
  let streamed = 0;
  const out = await ok(f.call("run_shell", { command: "seq 1 100000" }, {
    onOutput: (d) => (streamed += d.length),
  }));
  assert(out.length < shell.OUTPUT_LIMIT + 200, `capped: ${out.length}`);
  assert(out.startsWith("1\n2\n3\n"));
  assert(out.endsWith("99999\n100000\nexit code 0"));
  assertMatch(out, /\n… \[\d+ characters of output omitted here; 588895 in all\] …\n/);
  assertEquals(streamed, 588895, "everything under the live limit was streamed");
});

Deno.test("run_shell timeout kills everything the command started, setsid included", async () => {
  await using f = await fixture();
  const marker = sleepMarker();
  const started = Date.now();
  const call = err(
    f.call("run_shell", { command: forever(marker), timeoutMs: 1500 }),
    /killed: timeout after 1500ms$/,
  );
  assert(await allRunning(marker), "the command and its background jobs started");
  const out = await call;
  assert(Date.now() - started < 6000, "returned soon after the timeout");
  assertStringIncludes(out, "started");
  assert(await noneLeft(marker), "nothing the command started is left");
});

Deno.test("run_shell abort mid-command kills everything the command started", async () => {
  await using f = await fixture();
  const marker = sleepMarker();
  const controller = new AbortController();
  const running = f.call("run_shell", { command: forever(marker) }, { signal: controller.signal });
  assert(await allRunning(marker), "the command and its background jobs started");
  controller.abort();
  const out = await err(running, /aborted$/);
  assertStringIncludes(out, "started");
  assert(await noneLeft(marker), "nothing the command started is left");

  // Already aborted: nothing runs.
  const done = new AbortController();
  done.abort();
  await err(f.call("run_shell", { command: "touch ran" }, { signal: done.signal }), /aborted/);
  assert(!(await exists(join(f.cwd, "ran"))));
});

Deno.test("run_shell: shutting the extension down kills the commands still running", async () => {
  await using f = await fixture();
  const marker = sleepMarker();
  const running = f.call("run_shell", { command: forever(marker) });
  assert(await allRunning(marker), "the command and its background jobs started");
  await f.host.shutdown();
  await err(running, /aborted$/);
  assert(await noneLeft(marker), "nothing the command started is left");
});

Deno.test("run_shell: background jobs, setsid ones too, do not outlive a command that exits normally", async () => {
  await using f = await fixture();
  const marker = sleepMarker();
  const started = Date.now();
  const out = await ok(
    f.call("run_shell", { command: `sleep ${marker} & setsid sleep ${marker} & echo bg` }),
  );
  assert(Date.now() - started < 3000, "did not wait for the background jobs");
  assertEquals(out, "bg\nexit code 0");
  assert(await noneLeft(marker), "nothing the command started is left");
});

Deno.test("run_shell does not pass the daemon's environment (secrets) to commands", async () => {
  await using f = await fixture();
  Deno.env.set("DISPATCH_TOOLS_TEST_SECRET", "TOPSECRET");
  try {
    const out = await ok(
      f.call("run_shell", { command: 'echo "[${DISPATCH_TOOLS_TEST_SECRET:-unset}]"; echo "$PATH"' }),
    );
    assertMatch(out, /^\[unset\]\n.*\/bin/);
    assertEquals(
      await ok(f.call("run_shell", { command: 'echo "$HOME"' })),
      `${Deno.env.get("HOME") ?? ""}\nexit code 0`,
    );
  } finally {
    Deno.env.delete("DISPATCH_TOOLS_TEST_SECRET");
  }
});

Deno.test("runCommand stops live streaming at its limit but keeps the result's head and tail", async () => {
  const root = await Deno.makeTempDir({ prefix: "dispatch-tools-" });
  try {
    const chunks: string[] = [];
    const result = await shell.runCommand({
      command: "seq 1 1000",
      cwd: root,
      timeoutMs: 10_000,
      signal: new AbortController().signal,
      env: shell.shellEnv(),
      onOutput: (data) => chunks.push(data),
      outputLimit: 20,
      liveLimit: 10,
    });
    assertEquals(chunks.join("").slice(0, 10), "1\n2\n3\n4\n5\n");
    assertStringIncludes(chunks.join(""), "[live output stops here");
    assertEquals(result.end, { kind: "exit", code: 0, signal: null });
    assert(result.truncated);
    assert(result.output.startsWith("1\n2\n3\n4\n5\n"));
    assert(result.output.endsWith("\n999\n1000\n"), result.output);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
