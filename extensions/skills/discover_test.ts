import { join } from "node:path";
import { assert, assertEquals } from "../../tests/assert.ts";
import { discoverSkills, formatSkillList, loadSkill, parseSkill } from "./discover.ts";

const skill = (name: string, description: string, body = "Do it.") =>
  `---\nname: ${name}\ndescription: ${description}\n---\n${body}\n`;

async function tree(files: Record<string, string>): Promise<string> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "skills-" }));
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), content);
  }
  return root;
}

Deno.test("skills are found in the cwd, its parents, .claude/skills and the home folder, nearest first", async () => {
  const root = await tree({
    "p/a/.agents/skills/one/SKILL.md": skill("one", "near one"),
    "p/.agents/skills/one/SKILL.md": skill("one", "far one"),
    "p/.claude/skills/two/SKILL.md": skill("two", "from claude"),
    "home/.agents/skills/three/SKILL.md": skill("three", "from home"),
    "home/.claude/skills/four/SKILL.md": skill("four", "from home's claude"),
  });
  const skipped: string[] = [];
  try {
    const found = await discoverSkills(join(root, "p/a"), {
      home: join(root, "home"),
      onSkip: (path) => skipped.push(path),
    });
    assertEquals(found.map((s) => [s.name, s.description]), [
      ["four", "from home's claude"],
      ["one", "near one"],
      ["three", "from home"],
      ["two", "from claude"],
    ]);
    assertEquals(found.find((s) => s.name === "one")?.path, join(root, "p/a/.agents/skills/one/SKILL.md"));
    assertEquals(skipped, [join(root, "p/.agents/skills/one/SKILL.md")], "the farther duplicate is reported");
    const noCwd = await discoverSkills(undefined, { home: join(root, "home") });
    assertEquals(noCwd.map((s) => s.name), ["four", "three"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("malformed, oversized and escaping SKILL.md files are skipped with a reason, never thrown", async () => {
  const root = await tree({
    "w/.agents/skills/ok/SKILL.md": skill("ok", "fine"),
    "w/.agents/skills/nohead/SKILL.md": "just text\n",
    "w/.agents/skills/noname/SKILL.md": "---\ndescription: x\n---\nbody",
    "w/.agents/skills/nodesc/SKILL.md": "---\nname: nodesc\n---\nbody",
    "w/.agents/skills/badname/SKILL.md": skill("bad name!", "x"),
    "w/.agents/skills/big/SKILL.md": skill("big", "listed, not loadable", "y".repeat(300 * 1024)),
    "w/.agents/skills/longhead/SKILL.md": `---\nname: longhead\n${"#\n".repeat(5000)}description: x\n---\n`,
    "w/.agents/skills/binary/SKILL.md": "---\nname: binary\ndescription: x\n---\n\u0000",
    "secret/SKILL.md": skill("stolen", "outside the project"),
  });
  await Deno.mkdir(join(root, "w/.agents/skills/escape"));
  await Deno.symlink(join(root, "secret/SKILL.md"), join(root, "w/.agents/skills/escape/SKILL.md"));
  await Deno.mkdir(join(root, "w/.agents/skills/nofile"));
  const skipped = new Map<string, string>();
  try {
    const found = await discoverSkills(join(root, "w"), { onSkip: (path, why) => skipped.set(path, why) });
    assertEquals(found.map((s) => s.name), ["big", "ok"]);
    assertEquals(await loadSkill(found[1]), "Do it.");
    assertEquals(await loadSkill(found[0]), { error: 'the skill "big" is larger than 262144 bytes' });
    const why = (name: string) => skipped.get(join(root, "w/.agents/skills", name, "SKILL.md")) ?? "";
    assert(why("nohead").includes("front-matter"), why("nohead"));
    assert(why("noname").includes("no name"), why("noname"));
    assert(why("nodesc").includes("no description"), why("nodesc"));
    assert(why("badname").includes("bad name!"), why("badname"));
    assert(why("longhead").includes("first 8192 bytes"), why("longhead"));
    assertEquals(why("binary"), "binary");
    assert(why("escape").includes("links outside"), why("escape"));
    assertEquals(
      skipped.has(join(root, "w/.agents/skills/nofile/SKILL.md")),
      false,
      "a folder without one is fine",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a skill folder linked from elsewhere in the same project is followed", async () => {
  const root = await tree({ "w/shared/lint/SKILL.md": skill("lint", "Lint the code") });
  await Deno.mkdir(join(root, "w/.agents/skills"), { recursive: true });
  await Deno.symlink(join(root, "w/shared/lint"), join(root, "w/.agents/skills/lint"));
  try {
    assertEquals((await discoverSkills(join(root, "w"))).map((s) => s.name), ["lint"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the header: quoted and folded values, CRLF, unknown keys; the body is what follows", () => {
  const parsed = parseSkill(
    "---\r\nname: 'my-skill'\r\ndescription: >\r\n  Two\r\n  lines\r\nlicense: MIT\r\n---\r\n# Body\r\ntext\r\n",
  );
  assertEquals(parsed, { name: "my-skill", description: "Two lines", body: "# Body\r\ntext" });
  const quoted = parseSkill('---\nname: "q"\ndescription: "say \\"hi\\""\nmetadata:\n  a: b\n---\n');
  assertEquals(quoted, { name: "q", description: 'say "hi"', body: "" });
  assertEquals(parseSkill("---\nname: s\ndescription: 'it''s'\n---\nb"), {
    name: "s",
    description: "it's",
    body: "b",
  });
});

Deno.test("the prompt's list is one line per skill", () => {
  assertEquals(formatSkillList([]), null);
  assertEquals(
    formatSkillList([{ name: "a", description: "one\ntwo", path: "/s/a/SKILL.md", within: "/s" }]),
    "- a: one two (/s/a/SKILL.md)",
  );
});
