import { assertEquals } from "../tests/assert.ts";
import { type DotenvProblem, mergeEnv, parseDotenv } from "./dotenv.ts";

Deno.test("dotenv: plain assignments, blanks, comments, export prefix", () => {
  const env = parseDotenv([
    "# a comment",
    "",
    "A=1",
    "  B = two  ",
    "export C=3",
    "export\tD=4",
    "   # indented comment",
    "E=",
  ].join("\n"));
  assertEquals(env, { A: "1", B: "two", C: "3", D: "4", E: "" });
});

Deno.test("dotenv: inline comments only after whitespace; # inside values stays", () => {
  const env = parseDotenv(
    "A=abc # note\nB=pa#ss\nC= # only a comment\nD=#starts-with-hash\nE=x\t#tab comment",
  );
  assertEquals(env, { A: "abc", B: "pa#ss", C: "", D: "#starts-with-hash", E: "x" });
});

Deno.test("dotenv: quotes", () => {
  const env = parseDotenv([
    `A="hello world"`,
    `B='single # not a comment'`,
    "C=`back tick`",
    `D="with # hash" # and a comment`,
    `E="esc \\"quoted\\" \\\\ done"`,
    `F="line1\\nline2\\ttab"`,
    `G='no \\n escapes'`,
    `H=""`,
    `I="  spaced  "`,
    `J = "after spaces"`,
  ].join("\n"));
  assertEquals(env, {
    A: "hello world",
    B: "single # not a comment",
    C: "back tick",
    D: "with # hash",
    E: 'esc "quoted" \\ done',
    F: "line1\nline2\ttab",
    G: "no \\n escapes",
    H: "",
    I: "  spaced  ",
    J: "after spaces",
  });
});

Deno.test("dotenv: multi-line quoted values and line numbers after them", () => {
  const problems: DotenvProblem[] = [];
  const env = parseDotenv(
    `KEY="-----BEGIN-----\nabc\n-----END-----"\nNEXT=1\nnot an assignment\n`,
    (p) => problems.push(p),
  );
  assertEquals(env, { KEY: "-----BEGIN-----\nabc\n-----END-----", NEXT: "1" });
  assertEquals(problems.map((p) => p.line), [5]);
});

Deno.test("dotenv: CRLF, BOM, later keys win, = inside values", () => {
  const env = parseDotenv("\uFEFFA=1\r\nB=x=y=z\r\nA=2\r\nURL=https://h/v1?a=b\r\n");
  assertEquals(env, { A: "2", B: "x=y=z", URL: "https://h/v1?a=b" });
});

Deno.test("dotenv: malformed lines are skipped and reported", () => {
  const problems: DotenvProblem[] = [];
  const env = parseDotenv(`GOOD=1\njust words\n1BAD=2\nOPEN="never closed\nLAST=ok`, (p) => problems.push(p));
  // The unterminated quote swallows nothing: that line is skipped, parsing resumes on the next one.
  assertEquals(env, { GOOD: "1", LAST: "ok" });
  assertEquals(problems.map((p) => p.line), [2, 3, 4]);
});

Deno.test("dotenv: mergeEnv lets the process environment win", () => {
  assertEquals(mergeEnv({ A: "file", B: "file" }, { A: "proc", C: "proc", D: undefined }), {
    A: "proc",
    B: "file",
    C: "proc",
  });
});
