import { z } from "zod";
import { assert, assertEquals, assertMatch, assertStringIncludes, assertThrows } from "../../tests/assert.ts";
import type { Tool, ToolContext, ToolHandle } from "./contracts.ts";
import { describeZodError, isToolHandle, toolHandle, ToolRegistry } from "./tools.ts";

const ReadInput = z.object({
  path: z.string().describe("file to read"),
  limit: z.number().int().min(1).optional(),
  options: z.object({ follow: z.boolean() }).optional(),
}).strict();

const readTool: Tool<z.infer<typeof ReadInput>> = {
  name: "read_file",
  description: "Reads a file",
  inputSchema: ReadInput,
  execute: (input) => Promise.resolve(`read ${input.path} limit=${input.limit ?? "none"}`),
};

const ctx = (): ToolContext => ({
  signal: new AbortController().signal,
  conversationId: "conv",
  turnId: "turn",
  toolCallId: "call",
  emitOutput: () => {},
});

const named = (name: string): ToolHandle =>
  toolHandle({ name, description: name, inputSchema: z.object({}), execute: () => Promise.resolve("") });

// ---------------------------------------------------------------- toolHandle

Deno.test("toolHandle: spec carries name, description and a JSON schema without $schema", () => {
  const handle = toolHandle(readTool);
  assertEquals(handle.spec.name, "read_file");
  assertEquals(handle.spec.description, "Reads a file");
  assert(!("$schema" in handle.spec.parameters), "no $schema key");
  assertEquals(handle.spec.parameters, {
    type: "object",
    properties: {
      path: { type: "string", description: "file to read" },
      limit: { type: "integer", minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
      options: {
        type: "object",
        properties: { follow: { type: "boolean" } },
        required: ["follow"],
      },
    },
    required: ["path"],
    additionalProperties: false,
  });
});

Deno.test("toolHandle: the schema describes the input side (defaults make a field optional)", () => {
  const handle = toolHandle({
    name: "t",
    description: "t",
    inputSchema: z.object({ n: z.number().default(3), s: z.string().transform((s) => s.length) }),
    execute: () => Promise.resolve(""),
  });
  const params = handle.spec.parameters as { required?: string[]; properties: Record<string, unknown> };
  assertEquals(params.required, ["s"]);
  assertEquals(params.properties.s, { type: "string" });
});

Deno.test("toolHandle: parse returns the parsed value (defaults and transforms applied)", () => {
  const handle = toolHandle({
    name: "t",
    description: "t",
    inputSchema: z.object({ n: z.number().default(3), s: z.string().transform((s) => s.length) }),
    execute: () => Promise.resolve(""),
  });
  assertEquals(handle.parse({ s: "abcd" }), { ok: true, value: { n: 3, s: 4 } });
});

Deno.test("toolHandle: a missing argument is named in the parse error", () => {
  const out = toolHandle(readTool).parse({});
  assert(!out.ok);
  assertEquals(out.error, "path: Invalid input: expected string, received undefined");
});

Deno.test("toolHandle: every problem gets its own entry, naming nested arguments with dots", () => {
  const out = toolHandle(readTool).parse({ path: 1, limit: 0, options: { follow: "yes" } });
  assert(!out.ok);
  const problems = out.error.split("; ");
  assertEquals(problems.length, 3);
  assertMatch(problems[0], /^path: .*expected string, received number/);
  assertMatch(problems[1], /^limit: .*>=1/);
  assertMatch(problems[2], /^options\.follow: .*expected boolean/);
});

Deno.test("toolHandle: unknown arguments and a non-object input are reported against `input`", () => {
  const extra = toolHandle(readTool).parse({ path: "a", bogus: true });
  assert(!extra.ok);
  assertEquals(extra.error, `input: Unrecognized key: "bogus"`);

  const notObject = toolHandle(readTool).parse("a.txt");
  assert(!notObject.ok);
  assertEquals(notObject.error, "input: Invalid input: expected object, received string");
});

Deno.test("toolHandle: execute normalises a string to a non-error result", async () => {
  const handle = toolHandle(readTool);
  const parsed = handle.parse({ path: "a.txt", limit: 2 });
  assert(parsed.ok);
  assertEquals(await handle.execute(parsed.value, ctx()), { content: "read a.txt limit=2", isError: false });
});

Deno.test("toolHandle: execute keeps isError, defaulting it to false", async () => {
  const make = (result: { content: string; isError?: boolean }) =>
    toolHandle({
      name: "t",
      description: "t",
      inputSchema: z.object({}),
      execute: () => Promise.resolve(result),
    });
  assertEquals(await make({ content: "bad", isError: true }).execute({}, ctx()), {
    content: "bad",
    isError: true,
  });
  assertEquals(await make({ content: "fine" }).execute({}, ctx()), { content: "fine", isError: false });
});

Deno.test("toolHandle: execute passes the context through and lets a throw propagate", async () => {
  let seen: ToolContext | undefined;
  const handle = toolHandle({
    name: "t",
    description: "t",
    inputSchema: z.object({}),
    execute: (_input, c) => {
      seen = c;
      return Promise.reject(new Error("boom"));
    },
  });
  const context = ctx();
  let thrown: unknown;
  try {
    await handle.execute({}, context);
  } catch (error) {
    thrown = error;
  }
  assertEquals((thrown as Error).message, "boom");
  assert(seen === context);
});

Deno.test("describeZodError: one entry per issue, root issues named `input`", () => {
  const result = z.object({ a: z.object({ b: z.number() }) }).safeParse({ a: { b: "x" } });
  assert(!result.success);
  assertEquals(describeZodError(result.error), "a.b: Invalid input: expected number, received string");
  const root = z.string().safeParse(1);
  assert(!root.success);
  assertEquals(describeZodError(root.error), "input: Invalid input: expected string, received number");
});

// ---------------------------------------------------------------- registry

Deno.test("registry: register and list handles in registration order", () => {
  const registry = new ToolRegistry();
  const a = named("alpha");
  const b = named("beta");
  registry.register(a, "ext-a");
  registry.register(b, "ext-b");
  assertEquals(registry.list().map((h) => h.spec.name), ["alpha", "beta"]);
  assert(registry.list()[0] === a);
  assertEquals(registry.owners(), [{ name: "alpha", owner: "ext-a" }, { name: "beta", owner: "ext-b" }]);
});

Deno.test("registry: a duplicate name is refused, naming the tool and its owner", () => {
  const registry = new ToolRegistry();
  registry.register(named("shell"), "ext-a");
  const error = assertThrows(() => registry.register(named("shell"), "ext-b"));
  assertEquals(error.message, `tool "shell" is already registered by ext-a`);
  assertEquals(registry.owners(), [{ name: "shell", owner: "ext-a" }]);
});

Deno.test("registry: invalid names are refused with the rule", () => {
  const registry = new ToolRegistry();
  for (const bad of ["", "has space", "dot.ted", "slash/y", "ünicode", "x".repeat(65)]) {
    const error = assertThrows(() => registry.register(named(bad)));
    assertStringIncludes(error.message, `tool name "${bad}" must match [a-zA-Z0-9_-]{1,64}`);
  }
  for (const good of ["a", "read_file", "web-fetch", "Tool9", "x".repeat(64)]) registry.register(named(good));
  assertEquals(registry.list().length, 5);
  assertEquals(registry.list().map((h) => h.spec.name).includes("x".repeat(64)), true);
});

Deno.test("registry: the unregister function removes the tool, is idempotent, and spares a re-registration", () => {
  const registry = new ToolRegistry();
  const off = registry.register(named("alpha"), "ext-a");
  off();
  assertEquals(registry.list(), []);
  registry.register(named("alpha"), "ext-b");
  off(); // stale: must not remove ext-b's tool
  assertEquals(registry.owners(), [{ name: "alpha", owner: "ext-b" }]);
});

Deno.test("registry: withdraw removes only that owner's tools", () => {
  const registry = new ToolRegistry();
  registry.register(named("a1"), "ext-a");
  registry.register(named("b1"), "ext-b");
  registry.register(named("a2"), "ext-a");
  registry.withdraw("ext-a");
  assertEquals(registry.owners(), [{ name: "b1", owner: "ext-b" }]);
});

Deno.test("registry: scope accepts a zod Tool or a ToolHandle and records the owner", () => {
  const registry = new ToolRegistry();
  const scoped = registry.scope("ext-a");
  scoped.register(readTool);
  const handle = named("prebuilt");
  scoped.register(handle);
  assertEquals(registry.owners(), [
    { name: "read_file", owner: "ext-a" },
    { name: "prebuilt", owner: "ext-a" },
  ]);
  assert(scoped.list()[1] === handle, "a handle is registered as-is");
  assertEquals(scoped.list()[0].spec.parameters.type, "object", "a Tool is converted");
  registry.withdraw("ext-a");
  assertEquals(scoped.list(), []);
});

Deno.test("registry: scoped register reports duplicates and bad names like the registry", () => {
  const registry = new ToolRegistry();
  registry.scope("ext-a").register(readTool);
  assertThrows(() => registry.scope("ext-b").register(readTool), /already registered by ext-a/);
  assertThrows(() => registry.scope("ext-b").register({ ...readTool, name: "bad name" }), /must match/);
});

Deno.test("isToolHandle: tells handles from tools", () => {
  assert(isToolHandle(named("x")));
  assert(!isToolHandle(readTool));
  assert(!isToolHandle(null));
  assert(!isToolHandle("x"));
});
