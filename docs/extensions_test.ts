// Every `ts` block of docs/extensions.md type-checks against the kit (each block one module, in a temp folder,
// checked with the program's deno.json so `@dispatch/kernel`, `@dispatch/sdk` and `zod` resolve as for an
// author), and every `json` block parses; the install example is a valid grants file.
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { assert, assertEquals } from "../tests/assert.ts";
import { ExternalConfigSchema } from "../src/extensions_external.ts";
import { McpConfigSchema } from "../extensions/mcp/config.ts";

const DOC = new URL("./extensions.md", import.meta.url);
const ROOT = fileURLToPath(new URL("../", import.meta.url));

function blocks(markdown: string, lang: string): string[] {
  const out: string[] = [];
  const fence = new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```$", "gm");
  for (const m of markdown.matchAll(fence)) out.push(m[1]);
  return out;
}

Deno.test("docs/extensions.md: every TypeScript example type-checks", async () => {
  const markdown = await Deno.readTextFile(DOC);
  const code = blocks(markdown, "ts");
  assert(code.length >= 8, `found ${code.length} ts blocks`);
  const dir = await Deno.makeTempDir({ prefix: "dispatch-docs-" });
  try {
    const files = await Promise.all(code.map(async (text, i) => {
      // The testing example imports the program as a test beside src/ would; point it at this checkout.
      const file = join(dir, `block_${i}.ts`);
      await Deno.writeTextFile(file, text.replaceAll('"../src/', `"${pathToFileURL(ROOT).href}src/`));
      return file;
    }));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", join(ROOT, "deno.json"), ...files],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docs/extensions.md: the JSON examples are a valid grants file and a valid MCP config", async () => {
  const json = blocks(await Deno.readTextFile(DOC), "json").map((t) => JSON.parse(t));
  assertEquals(json.length, 2);
  assert(ExternalConfigSchema.safeParse(json[0]).success);
  assert(McpConfigSchema.safeParse(json[1]).success);
});

Deno.test("docs/extensions.md: a type mistake in an example would fail (the check is not vacuous)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dispatch-docs-" });
  try {
    const file = join(dir, "wrong.ts");
    // The README's old example: `name` implicitly any, a string where a Promise is due.
    await Deno.writeTextFile(
      file,
      [
        'import { z } from "zod";',
        'import type { ExtensionContext } from "@dispatch/kernel";',
        "export function activate(ctx: ExtensionContext) {",
        '  ctx.tools.register({ name: "hello", description: "Greets", inputSchema: z.object({ name: z.string() }),',
        "    execute: ({ name }) => `hello, ${name}` });",
        "}",
      ].join("\n"),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", join(ROOT, "deno.json"), file],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.success, false);
    const errors = new TextDecoder().decode(out.stderr);
    assert(/TS2769|TS2322|TS7031/.test(errors) && errors.includes("wrong.ts:5"), errors);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
