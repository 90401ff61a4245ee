import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { DispatchError } from "../../src/kernel/mod.ts";
import { checkTemplate, parseTemplate, referencedKeys, renderTemplate, TemplateError } from "./template.ts";
import { DEFAULT_TEMPLATE } from "./default_template.ts";

const render = (template: string, values: Record<string, string | null>) =>
  renderTemplate(parseTemplate(template), new Map(Object.entries(values)));

Deno.test("placeholders are replaced by their values, never parsed again", () => {
  assertEquals(
    render("cwd: [prompt:cwd], model: [prompt:model]", { "prompt:cwd": "/w/[if a:b]", "prompt:model": "m" }),
    "cwd: /w/[if a:b], model: m",
  );
  assertEquals(render("x [prompt:cwd] y", {}), "x  y");
});

Deno.test("a conditional section appears and disappears with its variable", () => {
  const t = "A\n[if prompt:cwd]\nin [prompt:cwd]\n[else]\nno cwd\n[endif]\nB";
  assertEquals(render(t, { "prompt:cwd": "/w" }), "A\nin /w\nB");
  assertEquals(render(t, { "prompt:cwd": null }), "A\nno cwd\nB");
  assertEquals(render(t, { "prompt:cwd": "  " }), "A\nno cwd\nB", "a blank value counts as unset");
  assertEquals(render("[if !prompt:cwd]none[endif]", { "prompt:cwd": "/w" }), "");
  assertEquals(render("[if !prompt:cwd]none[endif]", {}), "none");
});

Deno.test("sections nest, and inline tags keep their line", () => {
  const t = "[if a:x]\nx\n[if b:y]\ny\n[endif]\n[endif]\nend [if a:x](a)[endif].";
  assertEquals(render(t, { "a:x": "1", "b:y": "1" }), "x\ny\nend (a).");
  assertEquals(render(t, { "a:x": "1" }), "x\nend (a).");
  assertEquals(render(t, {}), "end .");
});

Deno.test("other bracketed text is plain text", () => {
  const t = "[x] [a b] [Link](http://h:1) [A:b] [if] [endif now]";
  assertEquals(render(t, {}), t);
});

Deno.test("empty values leave at most one blank line, and the end is trimmed", () => {
  assertEquals(render("a\n\n[x:y]\n\n[x:z]\n\nb\n\n", {}), "a\n\nb");
});

Deno.test("unbalanced conditionals are refused, naming the tag and its line", () => {
  const cases: [string, RegExp][] = [
    ["a\n[if prompt:cwd]\nb", /\[if prompt:cwd\] on line 2 is never closed/],
    ["[endif]", /\[endif\] on line 1 has no \[if\]/],
    ["x\n[else]", /\[else\] on line 2 has no \[if\]/],
    ["[if !a:b]1[else]2[else]3[endif]", /second \[else\]/],
  ];
  for (const [template, message] of cases) {
    const error = assertThrows(() => parseTemplate(template), message);
    assertEquals(error instanceof TemplateError, true);
  }
});

Deno.test("unknown placeholders are refused with a 400-kind error naming them", () => {
  const known = (k: string) => k === "prompt:cwd";
  const error = assertThrows(
    () => checkTemplate("ok [prompt:cwd]\n[prompt:nope]", known),
    /\[prompt:nope\] on line 2/,
  );
  assertEquals(error instanceof DispatchError && error.kind, "invalid");
  assertThrows(() => checkTemplate("[if system:nope]x[endif]", known), /unknown placeholder \[system:nope\]/);
});

Deno.test("the keys a template uses are collected, conditions included", () => {
  assertEquals(
    [...referencedKeys(parseTemplate("[a:b] [if c:d][e:f][else][g:h][endif] [a:b]"))],
    ["a:b", "c:d", "e:f", "g:h"],
  );
});

Deno.test("the default template parses and renders without time-of-day values", () => {
  const keys = referencedKeys(parseTemplate(DEFAULT_TEMPLATE));
  assertEquals(keys.has("system:time"), false, "the time would change the prompt every turn");
  for (const k of ["system:date", "prompt:cwd", "agents:project", "agents:user", "prompt:skills"]) {
    assertEquals(keys.has(k), true, k);
  }
  const out = render(DEFAULT_TEMPLATE, {
    "system:date": "2026-12-01",
    "prompt:cwd": "/w",
    "prompt:tools": "grep",
  });
  assertEquals(out.includes("Working directory: /w"), true);
  assertEquals(out.includes("# Skills"), false);
  assertEquals(/\n\n\n/.test(out), false);
});

Deno.test("a template at the size limit, all tags, parses; errors still name the right line", () => {
  const manyLines = "[a:b]\n".repeat(16_000);
  assertEquals(parseTemplate(manyLines).length, 32_000);
  assertThrows(() => parseTemplate(manyLines + "[endif]"), /\[endif\] on line 16001/);
  const oneLine = "[if a:b]x[endif]".repeat(6_000);
  assertEquals(render(oneLine, { "a:b": "1" }), "x".repeat(6_000));
});
