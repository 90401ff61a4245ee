// The service over a real SQLite file, and the AGENTS.md search over real folders.
import { join } from "node:path";
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import type { Logger } from "../../src/kernel/mod.ts";
import { SqliteStorage } from "../storage-sqlite/mod.ts";
import { formatInstructionFiles, projectAgentsMd, userAgentsMd } from "./agents_md.ts";
import type { PromptContext } from "./api.ts";
import { DEFAULT_TEMPLATE } from "./default_template.ts";
import { SystemPrompt } from "./service.ts";
import { TemplateStore } from "./store.ts";
import { builtinVariables, describeOs, localDate } from "./variables.ts";

function recordingLog(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const none = () => {};
  return { debug: none, info: none, error: none, warn: (msg) => warnings.push(msg), warnings };
}

async function tempDir(): Promise<string> {
  return await Deno.realPath(await Deno.makeTempDir({ prefix: "system-prompt-" }));
}

const context = (cwd?: string): PromptContext => ({
  conversationId: "c1",
  ...(cwd ? { cwd } : {}),
  workspaceId: "default",
  model: "m-1",
  tools: ["grep", "read_file", "web_search"],
});

Deno.test("the template is the default until stored, checked against the variables, and kept on disk", async () => {
  const dir = await tempDir();
  const storage = new SqliteStorage(dir);
  try {
    const log = recordingLog();
    const service = new SystemPrompt(new TemplateStore(storage.openDatabase("system-prompt")), log);
    assertEquals(service.template(), { template: DEFAULT_TEMPLATE, isDefault: true });
    assertThrows(() => service.setTemplate("[prompt:skills]"), /unknown placeholder \[prompt:skills\]/);
    service.addVariable({ type: "prompt", name: "skills", description: "d", resolve: () => "- s: x" });
    assertThrows(
      () => service.addVariable({ type: "prompt", name: "skills", description: "d", resolve: () => null }),
      /already defined/,
    );
    service.setTemplate("S=[prompt:skills]");
    assertEquals(await service.render(context()), "S=- s: x");
    storage.closeAll();
    const reopened = new SystemPrompt(
      new TemplateStore(new SqliteStorage(dir).openDatabase("system-prompt")),
      log,
    );
    assertEquals(reopened.template(), { template: "S=[prompt:skills]", isDefault: false });
    assertEquals(await reopened.render(context()), "S=", "its variable is gone: unset, and said once");
    assertEquals(await reopened.render(context()), "S=");
    assertEquals(log.warnings.filter((w) => w.includes("unknown variable")).length, 1);
  } finally {
    storage.closeAll();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("built-in variables: the same facts render the same bytes; a failing variable counts as unset", async () => {
  const dir = await tempDir();
  const storage = new SqliteStorage(dir);
  try {
    const log = recordingLog();
    const service = new SystemPrompt(new TemplateStore(storage.openDatabase("system-prompt")), log);
    let now = new Date(2026, 11, 1, 9, 30, 15).getTime();
    for (
      const v of builtinVariables({
        now: () => now,
        os: "TestOS",
        hostname: "box",
        protectedPaths: [],
        onSkip: () => {},
      })
    ) service.addVariable(v);
    service.addVariable({
      type: "x",
      name: "boom",
      description: "d",
      resolve: () => Promise.reject(new Error("no")),
    });
    service.setTemplate(
      "[system:date] [system:os] [system:hostname] [prompt:model] [prompt:workspace_id] [prompt:tools]\n" +
        "[if prompt:web_tools]web: [prompt:web_tools][endif][if !prompt:cwd] no cwd[endif][if x:boom] boom[endif]",
    );
    const first = await service.render(context());
    assertEquals(
      first,
      "2026-12-01 TestOS box m-1 default grep, read_file, web_search\nweb: web_search no cwd",
    );
    now += 3 * 60 * 60 * 1000; // later the same day
    assertEquals(await service.render(context()), first, "byte-identical within the day");
    assert(log.warnings.some((w) => w.includes("failed")));
    const values = await service.resolve(context());
    assertEquals(values.get("system:time"), "12:30 (UTC" + values.get("system:time")!.slice(10));
    assertEquals(values.get("prompt:web_tools"), "web_search");
    assertEquals(values.get("prompt:cwd"), null);
    service.setTemplate("");
    assertEquals(await service.render(context()), "");
  } finally {
    storage.closeAll();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AGENTS.md from the cwd upward, outermost first; links out of a folder and protected files are refused", async () => {
  const root = await tempDir();
  try {
    await Deno.mkdir(join(root, "a/b/c"), { recursive: true });
    await Deno.writeTextFile(join(root, "AGENTS.md"), "root rules");
    await Deno.writeTextFile(join(root, "a/CLAUDE.md"), "a rules");
    await Deno.symlink(join(root, "a/CLAUDE.md"), join(root, "a/AGENTS.md")); // a link inside its folder: fine
    await Deno.writeTextFile(join(root, "secret.txt"), "TOKEN=hunter2");
    await Deno.symlink(join(root, "secret.txt"), join(root, "a/b/AGENTS.md")); // leads out of a/b
    await Deno.writeTextFile(join(root, "a/b/c/AGENTS.md"), "inside a protected folder");
    const skipped: string[] = [];
    const files = await projectAgentsMd(join(root, "a/b/c"), {
      protectedPaths: [join(root, "a/b/c")],
      onSkip: (path, why) => skipped.push(`${path.slice(root.length)} ${why}`),
    });
    assertEquals(files.map((f) => [f.path.slice(root.length), f.text]), [
      ["/AGENTS.md", "root rules"],
      ["/a/AGENTS.md", "a rules"],
    ]);
    assertEquals(skipped.sort(), ["/a/b/AGENTS.md escapes", "/a/b/c/AGENTS.md protected"]);
    const value = formatInstructionFiles(files)!;
    assert(!value.includes("hunter2"));
    assertEquals(value.split("<instructions").length - 1, 2);

    await Deno.mkdir(join(root, "home/.agents"), { recursive: true });
    await Deno.writeTextFile(join(root, "home/.agents/AGENTS.md"), "y".repeat(200));
    const user = await userAgentsMd(join(root, "home"), { maxBytes: 50 });
    assertEquals(user?.text.length, 50);
    assertEquals(user?.truncatedFrom, 200);
    assert(formatInstructionFiles([user!])!.includes("cut at 50 of 200 bytes"));
    assertEquals(await userAgentsMd(join(root, "nowhere")), undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dates are local calendar days; the OS line comes from os-release when there is one", () => {
  assertEquals(localDate(new Date(2026, 0, 5, 23, 59).getTime()), "2026-01-05");
  assertEquals(
    describeOs('NAME="X"\nPRETTY_NAME="Debian 12"\n', "linux", "x86_64"),
    "Debian 12 (linux x86_64)",
  );
  assertEquals(describeOs(undefined, "darwin", "aarch64"), "darwin aarch64");
});
