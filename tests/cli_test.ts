// Every CLI command and flag as a subprocess against one running daemon (and the fake provider).
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { delay, reasoning, stall, startFakeProvider, text } from "./fake_provider.ts";
import { readNdjson, runCliProcess, startDaemon } from "./daemon.ts";

const MODEL = "opencode/fake-model";

/** A failed command: exit 1 and exactly one line on stderr, starting `dispatch: `. */
function assertOneLineError(r: { code: number; stderr: string; stdout: string }, pattern: RegExp) {
  assertEquals(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 1, r.stderr);
  assertMatch(lines[0], /^dispatch: /);
  assertMatch(lines[0], pattern);
}

Deno.test("CLI: every command against a running daemon", async (t) => {
  const fake = await startFakeProvider();
  const daemon = await startDaemon({
    env: { DISPATCH_API_KEY: "sk-cli-test", DISPATCH_BASE_URL: fake.baseUrl, DISPATCH_MODEL: "fake-model" },
  });
  const server = ["--server", daemon.url];
  const cli = (...args: string[]) => runCliProcess([...args, ...server], {}, workdir);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await daemon.fetch(path, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return await res.json();
  };
  const workdir = await Deno.makeTempDir({ prefix: "dispatch-cli-" });
  await Deno.writeTextFile(`${workdir}/notes.txt`, "the password is swordfish");
  let first = "";

  try {
    await t.step("--help, -h and no arguments print the usage", async () => {
      const [help, h, none] = await Promise.all([
        runCliProcess(["--help"]),
        runCliProcess(["-h"]),
        runCliProcess([]),
      ]);
      assertEquals([help.code, h.code, none.code], [0, 0, 2]);
      assertEquals(h.stdout, help.stdout);
      for (
        const word of [
          "models",
          "list",
          "read",
          "stop",
          "compact",
          "open",
          "send",
          "--queue",
          "--open",
          "--cwd",
          "--effort",
          "--workspace",
          "--file",
          "--conversation",
          "--show-reasoning",
          "--status",
          "--all",
          "--json",
          "--server",
          "Effort levels: low, medium, high (default), xhigh, max",
        ]
      ) assertStringIncludes(help.stdout, word);
    });

    await t.step(
      "one-shot: MODEL --text with --cwd --effort --workspace --show-reasoning --open",
      async () => {
        fake.script([reasoning("let me think"), text("Hi from the CLI")]);
        const r = await cli(
          MODEL,
          "--text",
          "hello",
          "--cwd",
          ".",
          "--effort",
          "low",
          "--workspace",
          "cli-ws",
          "--show-reasoning",
          "--open",
        );
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout.trim(), "Hi from the CLI");
        assertStringIncludes(r.stderr, "let me think");
        first = r.stderr.match(/conversation: (\S+)/)![1];
        assertEquals(fake.chatRequests.at(-1)!.body.reasoning_effort, "low");
        assertEquals(fake.chatRequests.at(-1)!.body.model, "fake-model");
        assertEquals(
          (await api("GET", `/conversations/${first}/cwd`)).cwd,
          workdir,
          "--cwd resolves to absolute",
        );
        const listed = await api("GET", "/conversations?workspaceId=cli-ws");
        assertEquals(listed.conversations.map((c: { id: string }) => c.id), [first]);
        assert(daemon.logs().includes(`"path":"/conversations/${first}/open"`), "--open asked frontends");
      },
    );

    await t.step("one-shot: --file, and --conversation with a short id prefix", async () => {
      fake.script([text("swordfish it is")]);
      const r = await cli(
        MODEL,
        "--text",
        "what is the password?",
        "--file",
        "notes.txt",
        "--conversation",
        first.slice(0, 8),
      );
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout.trim(), "swordfish it is");
      assertEquals(r.stderr.match(/conversation: (\S+)/)![1], first);
      const sent = JSON.stringify(fake.chatRequests.at(-1)!.body.messages);
      assertStringIncludes(sent, "the password is swordfish");
      assertStringIncludes(sent, "Hi from the CLI"); // the earlier turn is part of the history
    });

    await t.step("models, and models --json", async () => {
      const [plain, json] = await Promise.all([cli("models"), cli("models", "--json")]);
      assertEquals(plain.code, 0, plain.stderr);
      assert(plain.stdout.split("\n").includes(MODEL), plain.stdout);
      assert(JSON.parse(json.stdout).models.includes(MODEL));
    });

    await t.step("list [QUERY] --status --all --workspace --json", async () => {
      await api("PUT", "/conversations/closed-one/title", { title: "A closed conversation" });
      await api("POST", "/conversations/closed-one/close");
      const [all, open, query, status, json, inWs, badStatus] = await Promise.all([
        cli("list", "--all"),
        cli("list"),
        cli("list", "CLOSED conv", "--all"),
        cli("list", "--status", "closed"),
        cli("list", "--json", "--all"),
        cli("list", "--workspace", "cli-ws"),
        cli("list", "--status", "weird"),
      ]);
      for (const r of [all, open, query, status, json, inWs]) assertEquals(r.code, 0, r.stderr);
      assertMatch(all.stdout, /closed-one\s+closed .*A closed conversation/);
      assertMatch(all.stdout, new RegExp(`${first}\\s+idle`));
      assert(!open.stdout.includes("closed-one"), "closed ones need --all");
      assertEquals(
        query.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]),
        ["closed-one"],
        "QUERY matches titles",
      );
      assertMatch(status.stdout, /closed-one/);
      assert(!status.stdout.includes(first));
      const parsed = JSON.parse(json.stdout) as { id: string; status: string }[];
      assert(parsed.some((c) => c.id === "closed-one" && c.status === "closed"));
      assertEquals(inWs.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]), [first]);
      assertOneLineError(badStatus, /unknown status weird/);
    });

    await t.step("read ID waits for a running turn; --json; short ids", async () => {
      fake.script([text("slow "), delay(300), text("answer")]);
      const res = await daemon.fetch("/chat", {
        method: "POST",
        body: JSON.stringify({ conversationId: first, message: "take your time" }),
      });
      const [read, json] = await Promise.all([cli("read", first.slice(0, 6)), cli("read", first, "--json")]);
      await res.body?.cancel();
      assertEquals(read.code, 0, read.stderr);
      assertEquals(read.stdout.trim(), "slow answer");
      const last = JSON.parse(json.stdout);
      assertEquals([last.conversationId, last.content], [first, "slow answer"]);
      assert(typeof last.turnId === "string");
    });

    await t.step("stop ID aborts a running turn; an idle one says so", async () => {
      fake.script([text("forever"), stall()]);
      const res = await daemon.fetch("/chat", {
        method: "POST",
        body: JSON.stringify({ conversationId: first, message: "go on and on" }),
      });
      const events = readNdjson(res);
      const stopped = await cli("stop", first);
      assertEquals(stopped.code, 0, stopped.stderr);
      assertEquals(stopped.stdout.trim(), `stopped the running turn of ${first}`);
      assertEquals((await events).find((e) => e.type === "done")?.reason, "aborted");
      const [idle, json] = await Promise.all([cli("stop", first), cli("stop", first, "--json")]);
      assertEquals(idle.stdout.trim(), `no turn was running in ${first}`);
      assertEquals(JSON.parse(json.stdout), { conversationId: first, abortedTurn: false });
    });

    await t.step("compact ID forks the conversation (tests/compaction_test.ts has the details)", async () => {
      const r = await cli("compact", first);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(
        r.stdout,
        new RegExp(`^compacted ${first} into \\S+ \\(\\d+ messages summarized, \\d+ kept\\)`),
      );
    });

    await t.step("open ID asks frontends to show it (and reopens a closed one)", async () => {
      const [r, json] = await Promise.all([cli("open", "closed-one"), cli("open", "closed-one", "--json")]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout.trim(), "asked frontends to open closed-one");
      assertEquals(JSON.parse(json.stdout), { conversationId: "closed-one" });
      assertEquals((await api("GET", "/conversations/closed-one/status")).status, "idle");
    });

    await t.step("send ID --text streams the reply; --cwd and --effort apply", async () => {
      fake.script([text("sent and answered")]);
      const r = await cli("send", first, "--text", "follow up", "--effort", "max", "--cwd", workdir);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout.trim(), "sent and answered");
      assertEquals(fake.chatRequests.at(-1)!.body.reasoning_effort, "max");
      assertOneLineError(await cli("send", "nobody", "--text", "x"), /no conversation nobody/);
    });

    await t.step("send ID --queue --open enqueues without waiting", async () => {
      fake.script([text("queued answer")]);
      const r = await cli("send", first, "--text", "when you can", "--queue", "--open", "--effort", "high");
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout.trim(), new RegExp(`^(started a turn in|queued in) ${first}`));
      assertEquals((await api("GET", `/conversations/${first}/reasoning-effort`)).reasoningEffort, "high");
      assertEquals((await cli("read", first)).stdout.trim(), "queued answer");
    });

    await t.step("mistakes are one line and exit 1", async () => {
      await api("PUT", "/conversations/amb-1/title", { title: "one" });
      await api("PUT", "/conversations/amb-2/title", { title: "two" });
      const cases: [string[], RegExp][] = [
        [["frobnicate"], /unknown command "frobnicate"/],
        [["models", "--text", "x"], /--text does not apply here/],
        [["list", "--conversation", "x"], /--conversation does not apply here/],
        [[MODEL, "--text", "x", "--effort", "bogus"], /--effort must be one of/],
        [[MODEL], /missing message/],
        [[MODEL, "--text", "x", "--file", "no-such-file"], /cannot read --file/],
        [[MODEL, "hello", "world", "--text", "x"], /unexpected argument "world"/],
        [["read"], /missing conversation id/],
        [["read", "a", "b"], /unexpected argument "b"/],
        [["read", "amb"], /matches 2 conversations/],
        [["read", "nope"], /no conversation nope/],
        [["send", first], /missing message/],
        [["send", first, "--text", "x", "--queue", "--workspace", "w"], /needs --cwd/],
        [["list", "--bogus"], /bogus/],
        [["nobody/model", "--text", "x"], /nobody/],
      ];
      const results = await Promise.all(cases.map(([args]) => cli(...args)));
      results.forEach((r, i) => assertOneLineError(r, cases[i][1]));
      assertOneLineError(await runCliProcess(["models", "--server", "ftp://x"]), /--server must be an http/);
      assertOneLineError(
        await runCliProcess(["models", "--server", "http://127.0.0.1:1"]),
        /cannot reach the daemon/,
      );
    });

    await t.step("BACKEND_PORT picks the daemon when --server is not given", async () => {
      const port = new URL(daemon.url).port;
      const r = await runCliProcess(["models"], { BACKEND_PORT: port });
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout, /opencode\/fake-model/);
    });
  } finally {
    await daemon.stop();
    await fake.close();
    await Deno.remove(workdir, { recursive: true });
  }
});

/** A port free a moment ago (bound, then released): for a daemon whose port only its env file names. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("CLI: reads BACKEND_PORT and DISPATCH_TOKEN from the env file the daemon reads; the environment wins", async () => {
  const fake = await startFakeProvider();
  const port = freePort();
  const token = "tok-from-the-env-file-0123";
  const envFile = [
    `BACKEND_PORT=${port}`,
    `DISPATCH_TOKEN=${token}`,
    `DISPATCH_API_KEY=sk-env-file`,
    `DISPATCH_BASE_URL=${fake.baseUrl}`,
    `DISPATCH_MODEL=fake-model`,
  ].join("\n");
  // Nothing but the env file configures this daemon: no BACKEND_PORT in its environment.
  const daemon = await startDaemon({ env: { BACKEND_PORT: undefined }, envFile });
  const checkout = await Deno.makeTempDir({ prefix: "dispatch-cli-env-" });
  try {
    assertEquals(new URL(daemon.url).port, String(port));
    const shared = { DISPATCH_ENV_FILE: daemon.envFile };
    const viaFile = await runCliProcess(["models"], shared);
    assertEquals(viaFile.code, 0, viaFile.stderr);
    assertMatch(viaFile.stdout, /opencode\/fake-model/);

    // ./.env in the working directory, as the README sets it up
    await Deno.copyFile(daemon.envFile, `${checkout}/.env`);
    const viaDotenv = await runCliProcess(["list"], { DISPATCH_ENV_FILE: undefined }, checkout);
    assertEquals(viaDotenv.code, 0, viaDotenv.stderr);

    // a relative DISPATCH_ENV_FILE is found from the working directory
    await Deno.rename(`${checkout}/.env`, `${checkout}/dispatch.env`);
    const relative = await runCliProcess(["list"], { DISPATCH_ENV_FILE: "dispatch.env" }, checkout);
    assertEquals(relative.code, 0, relative.stderr);

    // the environment wins over the file: another token is refused, another port is not the daemon
    assertOneLineError(
      await runCliProcess(["models"], { ...shared, DISPATCH_TOKEN: "tok-wrong-wrong-wrong-wrong" }),
      /DISPATCH_TOKEN/,
    );
    assertOneLineError(
      await runCliProcess(["models"], { ...shared, BACKEND_PORT: String(freePort()) }),
      /cannot reach the daemon/,
    );
    // DISPATCH_HOST names the host; a wildcard bind is reached on loopback
    const wildcard = await runCliProcess(["models"], { ...shared, DISPATCH_HOST: "0.0.0.0" });
    assertEquals(wildcard.code, 0, wildcard.stderr);
    assertOneLineError(
      await runCliProcess(["models"], { ...shared, DISPATCH_HOST: "bad host" }),
      /DISPATCH_HOST and BACKEND_PORT do not make a URL/,
    );
    // an env file that cannot be read is one line naming it
    assertOneLineError(
      await runCliProcess(["models"], { DISPATCH_ENV_FILE: checkout }),
      /cannot read env file/,
    );
  } finally {
    await daemon.stop();
    await fake.close();
    await Deno.remove(checkout, { recursive: true });
  }
});
