// The system prompt and skills end to end: the daemon as a subprocess, the fake provider recording what the
// model is sent, the template and its variables over HTTP.
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { text, toolCall } from "./fake_provider.ts";
import { type Daemon, readNdjson, startDaemonWithFake } from "./daemon.ts";

interface SentMessage {
  role: string;
  content?: string;
}

const skill = (name: string, description: string, body: string) =>
  `---\nname: ${name}\ndescription: ${description}\n---\n${body}\n`;

/** A project two folders below a root holding an AGENTS.md, skills at three levels, and a home of its own. */
async function layout() {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "dispatch-sp-" }));
  const cwd = join(root, "repo", "app");
  const home = join(root, "home");
  const write = async (path: string, content: string) => {
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, content);
  };
  await write(join(root, "AGENTS.md"), "Outer rule: write tests first.");
  await write(join(root, "repo", "AGENTS.md"), "Repo rule: use tabs.");
  await Deno.mkdir(cwd, { recursive: true });
  await write(
    join(cwd, ".agents/skills/deploy/SKILL.md"),
    skill("deploy", "Ship the app", "Run make deploy."),
  );
  await write(
    join(root, "repo/.claude/skills/review/SKILL.md"),
    skill("review", "Review a change", "Read diffs."),
  );
  await write(join(cwd, ".agents/skills/broken/SKILL.md"), "no header here\n");
  await write(join(home, ".agents/skills/notes/SKILL.md"), skill("notes", "Keep notes", "Write NOTES.md."));
  await write(join(home, ".agents/AGENTS.md"), "User rule: answer in English.");
  // A checkout that links its instructions to a file outside it: not quoted, whatever it holds.
  await write(join(root, "secret.txt"), "---\nname: stolen\ndescription: TOPSECRET\n---\nTOPSECRET");
  await Deno.symlink(join(root, "secret.txt"), join(cwd, "AGENTS.md"));
  await Deno.mkdir(join(cwd, ".agents/skills/stolen"));
  await Deno.symlink(join(root, "secret.txt"), join(cwd, ".agents/skills/stolen/SKILL.md"));
  return { root, cwd, home };
}

const chat = (daemon: Daemon, body: unknown) =>
  daemon.fetch("/chat", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

const put = (daemon: Daemon, path: string, body: unknown) =>
  daemon.fetch(path, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

Deno.test("the system prompt reaches the provider, stays byte-identical, and its template is served", async () => {
  const { root, cwd, home } = await layout();
  const { fake, daemon } = await startDaemonWithFake("sk-sp-test-123456", {
    HOME: home,
    // Deno's module cache is found through HOME unless DENO_DIR says where it is.
    DENO_DIR: Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/", ".cache", "deno"),
  });
  const sent = () => fake.chatRequests.at(-1)!.body.messages as SentMessage[];
  const systemOf = (messages: SentMessage[]) => messages.filter((m) => m.role === "system");
  try {
    let conversationId = "";
    await t("the first turn's system message holds the cwd, the AGENTS.md files and the skills", async () => {
      const res = await chat(daemon, { message: "hello", cwd });
      assertEquals(res.status, 200);
      conversationId = res.headers.get("x-conversation-id")!;
      assertEquals((await readNdjson(res)).at(-1)?.type, "turn-sealed");
      const messages = sent();
      assertEquals(messages[0].role, "system", "the system message comes first");
      assertEquals(systemOf(messages).length, 1);
      const prompt = messages[0].content!;
      assertStringIncludes(prompt, `Working directory: ${cwd}`);
      assertStringIncludes(prompt, new Date().getFullYear().toString());
      assertStringIncludes(prompt, "Outer rule: write tests first.");
      assertStringIncludes(prompt, "Repo rule: use tabs.");
      assert(prompt.indexOf("Outer rule") < prompt.indexOf("Repo rule"), "outermost AGENTS.md first");
      assertStringIncludes(prompt, join(root, "repo", "AGENTS.md"));
      assertStringIncludes(prompt, "User rule: answer in English.");
      assertStringIncludes(prompt, `- deploy: Ship the app (${join(cwd, ".agents/skills/deploy/SKILL.md")})`);
      assertStringIncludes(prompt, "- review: Review a change");
      assertStringIncludes(prompt, "- notes: Keep notes");
      assert(prompt.indexOf("- deploy") < prompt.indexOf("- notes"), "skills sorted by name");
      assert(!prompt.includes("broken"), "a malformed skill is not listed");
      assert(!prompt.includes("TOPSECRET"), "links out of the folder they were found in are not followed");
      assertStringIncludes(daemon.logs(), "an AGENTS.md is not quoted");
      assertStringIncludes(prompt, "load_skill");
      assertStringIncludes(daemon.logs(), "a skill is skipped");
    });

    await t("two turns with nothing changed send byte-identical system messages", async () => {
      const first = sent()[0].content;
      await readNdjson(await chat(daemon, { conversationId, message: "again" }));
      const second = sent();
      assertEquals(second[0].content, first);
      assertEquals(systemOf(second).length, 1, "history does not accumulate system messages");
      // A cache warm sends the prefix the next turn will: the same system message.
      const warm = await daemon.fetch("/chat/warm", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ conversationId }),
      });
      assertEquals(warm.status, 200);
      await warm.body?.cancel();
      assertEquals(sent()[0].content, first);
    });

    await t(
      "load_skill returns a listed skill's body; an unknown name is an error the model reads",
      async () => {
        fake.script(
          [
            toolCall("load_skill", { name: "review" }, { id: "c1" }),
            toolCall("load_skill", { name: "x" }, { id: "c2" }),
          ],
          [text("done")],
        );
        const first = fake.chatRequests.length;
        await readNdjson(await chat(daemon, { conversationId, message: "review it" }));
        const requests = fake.chatRequests.slice(first);
        assertEquals(requests.length, 2);
        assertEquals(
          requests[0].body.messages[0].content,
          requests[1].body.messages[0].content,
          "same prompt per step",
        );
        const tools = (requests[1].body.messages as SentMessage[]).filter((m) => m.role === "tool");
        assertStringIncludes(tools[0].content!, "Read diffs.");
        assertStringIncludes(tools[1].content!, 'no skill named "x"; available: deploy, notes, review');
      },
    );

    await t("a skill or AGENTS.md changed on disk shows in the next turn", async () => {
      await Deno.writeTextFile(join(root, "repo", "AGENTS.md"), "Repo rule: use spaces.");
      await Deno.mkdir(join(cwd, ".agents/skills/later"));
      await Deno.writeTextFile(join(cwd, ".agents/skills/later/SKILL.md"), skill("later", "Added late", "x"));
      await readNdjson(await chat(daemon, { conversationId, message: "changed" }));
      const prompt = sent()[0].content!;
      assertStringIncludes(prompt, "Repo rule: use spaces.");
      assert(!prompt.includes("use tabs"));
      assertStringIncludes(prompt, "- later: Added late");
    });

    await t("GET /system-prompt serves the default; a bad template is a 400 naming the problem", async () => {
      const got = await (await daemon.fetch("/system-prompt")).json();
      assertEquals(got.isDefault, true);
      assertStringIncludes(got.template, "[prompt:cwd]");
      const unknown = await put(daemon, "/system-prompt", { template: "hi\n[prompt:nope]" });
      assertEquals(unknown.status, 400);
      const unknownBody = await unknown.json();
      assertStringIncludes(unknownBody.error, "[prompt:nope] on line 2");
      assertEquals(unknownBody.code, "bad_template");
      const unbalanced = await put(daemon, "/system-prompt", { template: "[if prompt:cwd]\nopen" });
      assertEquals(unbalanced.status, 400);
      assertStringIncludes((await unbalanced.json()).error, "[if prompt:cwd] on line 1 is never closed");
      const stray = await put(daemon, "/system-prompt", { template: "x [endif]" });
      assertEquals(stray.status, 400);
      assertStringIncludes((await stray.json()).error, "[endif]");
      const notString = await put(daemon, "/system-prompt", { template: 42 });
      assertEquals(notString.status, 400);
      assertStringIncludes((await notString.json()).error, "template");
      const tooLong = await put(daemon, "/system-prompt", { template: "x".repeat(100_001) });
      assertEquals(tooLong.status, 400);
      assertStringIncludes((await tooLong.json()).error, "template");
      assertEquals(
        (await (await daemon.fetch("/system-prompt")).json()).isDefault,
        true,
        "nothing was stored",
      );
    });

    await t("a stored template is used from the next turn; its sections follow their variables", async () => {
      const template = "CWD=[prompt:cwd][if prompt:web_tools] WEB[endif][if !prompt:skills] NO-SKILLS[endif]";
      const res = await put(daemon, "/system-prompt", { template });
      assertEquals(res.status, 200);
      assertEquals(await res.json(), { template, isDefault: false });
      await readNdjson(await chat(daemon, { conversationId, message: "custom" }));
      assertEquals(sent()[0], { role: "system", content: `CWD=${cwd}` });
      // A conversation without a cwd: no skills of a project, and the cwd section empty.
      await readNdjson(await chat(daemon, { message: "elsewhere" }));
      assertEquals(sent()[0], { role: "system", content: "CWD=" });
    });

    await t("GET /system-prompt/variables lists them, with a conversation's values on request", async () => {
      const list = await (await daemon.fetch("/system-prompt/variables")).json();
      const keys = list.variables.map((v: { type: string; name: string }) => `${v.type}:${v.name}`);
      for (
        const k of [
          "system:date",
          "prompt:cwd",
          "prompt:model",
          "prompt:skills",
          "agents:project",
          "agents:user",
        ]
      ) {
        assert(keys.includes(k), k);
      }
      assert(list.variables.every((v: { description: string }) => v.description.length > 0));
      assert(list.variables.every((v: object) => !("value" in v)));
      const withValues =
        await (await daemon.fetch(`/system-prompt/variables?conversationId=${conversationId}`))
          .json();
      const value = (k: string) =>
        withValues.variables.find((v: { type: string; name: string }) => `${v.type}:${v.name}` === k)?.value;
      assertEquals(value("prompt:cwd"), cwd);
      assertEquals(value("prompt:model"), "fake-model");
      assertStringIncludes(value("prompt:skills"), "- deploy:");
      assertStringIncludes(value("agents:project"), "Repo rule");
      const missing = await daemon.fetch("/system-prompt/variables?conversationId=nope");
      assertEquals(missing.status, 404);
      assertEquals(typeof (await missing.json()).error, "string");
      const bad = await daemon.fetch("/system-prompt/variables?conversationId=%20bad%20");
      assertEquals(bad.status, 400);
      await bad.body?.cancel();
    });

    await t("an empty template sends no system message; the routes are in the OpenAPI document", async () => {
      assertEquals((await put(daemon, "/system-prompt", { template: "" })).status, 200);
      await readNdjson(await chat(daemon, { conversationId, message: "plain" }));
      assertEquals(systemOf(sent()).length, 0);
      const doc = await (await daemon.fetch("/openapi.json")).json();
      assert(doc.paths["/system-prompt"]?.get && doc.paths["/system-prompt"]?.put, "GET/PUT /system-prompt");
      assert(doc.paths["/system-prompt/variables"]?.get, "GET /system-prompt/variables");
    });
  } finally {
    await daemon.stop();
    await fake.close();
    await Deno.remove(root, { recursive: true });
  }

  async function t(name: string, fn: () => Promise<void>) {
    try {
      await fn();
    } catch (error) {
      throw new Error(`${name}: ${(error as Error).message}`, { cause: error });
    }
  }
});
