// The coding tools end to end: the fake provider scripts tool calls, the daemon runs them sandboxed, and every
// bad argument comes back to the model as a readable tool error while the daemon keeps serving.
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { stall, startFakeProvider, text, toolCall } from "./fake_provider.ts";
import { readNdjson, startDaemon } from "./daemon.ts";
import { sleepMarker, waitProcesses } from "./process.ts";

const SECRET = "topsecret-env-file-value";

async function workspace() {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-tools-" }));
  await Deno.writeTextFile(`${dir}/.env`, `SOME_SETTING=${SECRET}\n`);
  await Deno.writeFile(`${dir}/image.bin`, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1, 2, 3]));
  await Deno.writeTextFile(`${dir}/huge.txt`, "x".repeat(6 * 1024 * 1024));
  await Deno.symlink("/etc", `${dir}/link-out`);
  await Deno.symlink(`${dir}/.env`, `${dir}/env-link`);
  return dir;
}

Deno.test("every tool works through POST /chat, and every bad argument is a readable tool error", async () => {
  const dir = await workspace();
  const fake = await startFakeProvider();
  const daemon = await startDaemon({
    cwd: dir,
    dataDir: `${dir}/.dispatch`,
    env: {
      DISPATCH_API_KEY: "sk-e2e-key-0000",
      DISPATCH_BASE_URL: fake.baseUrl,
      DISPATCH_MODEL: "fake-model",
      DISPATCH_ENV_FILE: `${dir}/.env`, // the workspace's .env is the daemon's env file: a protected path
    },
  });
  try {
    const calls: [string, string, unknown][] = [
      ["w1", "write_file", { path: "a.txt", content: "hello\nworld\nhello again\n" }],
      ["w2", "write_file", { path: "a.txt", content: "clobber" }],
      ["w3", "write_file", { path: "no/such/dir/b.txt", content: "x" }],
      ["r1", "read_file", { path: "a.txt" }],
      ["e1", "edit_file", { path: "a.txt", oldString: "hello", newString: "howdy" }],
      ["e2", "edit_file", { path: "a.txt", oldString: "world", newString: "earth" }],
      ["e3", "edit_file", { path: "a.txt", oldString: "not there", newString: "x" }],
      ["r2", "read_file", { path: "missing.txt" }],
      ["r3", "read_file", { path: "../../etc/passwd" }],
      ["r4", "read_file", { path: "/etc/passwd" }],
      ["r5", "read_file", { path: "link-out/passwd" }],
      ["r6", "read_file", { path: "image.bin" }],
      ["r7", "read_file", { path: "huge.txt" }],
      ["r8", "read_file", { path: ".env" }],
      ["r9", "read_file", { path: ".dispatch/conversations.sqlite" }],
      ["r10", "read_file", { path: "env-link" }],
      ["r11", "read_file", { path: 42 }],
      ["r12", "read_file", { path: "." }],
      ["g1", "grep", { pattern: "earth" }],
      ["g2", "grep", { pattern: "topsecret" }],
      ["g3", "grep", { pattern: "([" }],
      ["gl1", "glob", { pattern: "**/*" }],
      ["s1", "run_shell", { command: "echo out; echo err >&2; exit 3" }],
      ["s2", "run_shell", { command: "cat .env; ls -a .dispatch; cat env-link" }],
      ["s3", "run_shell", { command: "sleep 30", timeoutMs: 300 }],
      // Commands share the network by default (their sandbox host must not cut it for them).
      ["n1", "run_shell", {
        command: `(exec 3<>/dev/tcp/127.0.0.1/${new URL(fake.baseUrl).port}) && echo reached`,
      }],
      ["u1", "no_such_tool", {}],
    ];
    fake.script(calls.map(([id, name, args]) => toolCall(name, args, { id })), [text("done")]);
    const res = await daemon.fetch("/chat", {
      method: "POST",
      body: JSON.stringify({ message: "use the tools", cwd: dir }),
    });
    const events = await readNdjson(res);
    const results = new Map(
      events.filter((e) => e.type === "tool-result").map((e) => [e.toolCallId as string, e]),
    );
    const ok = (id: string, pattern: RegExp) => {
      const r = results.get(id)!;
      assertEquals(r.isError, false, `${id}: ${r.content}`);
      assertMatch(String(r.content), pattern, id);
    };
    const err = (id: string, pattern: RegExp) => {
      const r = results.get(id)!;
      assertEquals(r.isError, true, `${id} should fail: ${r.content}`);
      assertMatch(String(r.content), pattern, id);
    };
    ok("w1", /a\.txt/);
    err("w2", /overwrite/);
    err("w3", /no such|does not exist|missing/i);
    ok("r1", /hello again/);
    err("e1", /2 (matches|times|occurrences)|not unique|replaceAll/i);
    ok("e2", /1 replacement/);
    err("e3", /not found|no match|does not contain/i);
    err("r2", /not found|no such|does not exist/i);
    err("r3", /outside/);
    err("r4", /outside/);
    err("r5", /outside/);
    err("r6", /binary/i);
    err("r7", /MB|too large|size/i);
    err("r8", /protected/);
    err("r9", /protected/);
    err("r10", /protected/);
    err("r11", /invalid arguments.*path/);
    ok("r12", /a\.txt/);
    ok("g1", /a\.txt:2:earth/);
    assert(!String(results.get("g2")!.content).includes(SECRET), "grep must not search the env file");
    err("g3", /regular expression|regex|pattern/i);
    assert(!String(results.get("gl1")!.content).includes("conversations.sqlite"), "glob hides the data dir");
    err("s1", /out[\s\S]*err[\s\S]*exit code 3/);
    const s2 = String(results.get("s2")!.content);
    assert(!s2.includes(SECRET), `the shell read the env file: ${s2}`);
    assert(!s2.includes("conversations.sqlite"), `the shell listed the data dir: ${s2}`);
    err("s3", /timeout/);
    ok("n1", /reached/);
    err("u1", /unknown tool/);
    assertEquals(await Deno.readTextFile(`${dir}/a.txt`), "hello\nearth\nhello again\n");
    const outputs = events.filter((e) => e.type === "tool-output" && e.toolCallId === "s1");
    assert(outputs.length > 0, "run_shell streams tool-output events");
    assertEquals(events.find((e) => e.type === "done")?.reason, "stop");

    // An abort mid-command: the tool's result says so, everything it started dies (setsid too), and the daemon
    // keeps serving.
    const marker = sleepMarker();
    fake.script(
      [toolCall("run_shell", { command: `setsid sleep ${marker} & sleep ${marker} & wait` }, { id: "s4" })],
      [stall()],
    );
    const res2 = await daemon.fetch("/chat", {
      method: "POST",
      body: JSON.stringify({ message: "long one", cwd: dir }),
    });
    const id = res2.headers.get("x-conversation-id")!;
    const pending = readNdjson(res2);
    assert(await waitProcesses(marker, (pids) => pids.length >= 2), "the command's children started");
    await daemon.fetch(`/conversations/${id}/stop`, { method: "POST" }).then((r) => r.json());
    const aborted = await pending;
    const s4 = aborted.find((e) => e.type === "tool-result" && e.toolCallId === "s4")!;
    assertEquals(s4.isError, true);
    assertMatch(String(s4.content), /abort/);
    assert(
      await waitProcesses(marker, (pids) => pids.length === 0),
      "the command's children outlived the abort",
    );
    assertEquals(await (await daemon.fetch("/health")).json(), { ok: true });
  } finally {
    await daemon.stop();
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});
