// `deno task compile [--output FILE]` → FILE (default dist/dispatch): one executable holding the kernel, the CLI
// and every extension; the sandboxed ones (and the sandbox worker's entry) are embedded as files and still loaded
// by import() in their Workers. `deno compile` needs its runtime image (denort): DENORT_BIN names a local copy,
// otherwise Deno downloads it, and when it cannot, this says what to do in one line.
import { parseArgs } from "node:util";
import { dirname, join, resolve } from "node:path";
import { deno, fail, ROOT, sandboxedFolders } from "./layout.ts";

const { values } = parseArgs({ args: Deno.args, options: { output: { type: "string" } } });
const output = resolve(values.output ?? join(ROOT, "dist", "dispatch"));

const denort = Deno.env.get("DENORT_BIN");
if (denort && !(await Deno.stat(denort).then((s) => s.isFile, () => false))) {
  fail(`DENORT_BIN=${denort} is not a file; point it at the denort ${Deno.version.deno} binary`);
}

// Each sandboxed extension's module (into the module graph) and its folder (as files: the sandbox checks the
// folder before it loads the module).
const includes = [
  "src/sandbox/worker_bootstrap.ts",
  ...(await sandboxedFolders()).flatMap((f) => [`extensions/${f}/mod.ts`, `extensions/${f}/`]),
];
await Deno.mkdir(dirname(output), { recursive: true });
const { ok, stderr } = await deno([
  "compile",
  "--quiet",
  "--no-check", // as `deno bundle`: type checking is `deno task check`'s
  // The flags `deno run` gets in development, baked in: the daemon grants each Worker its own subset.
  "--allow-all",
  "--unstable-worker-options",
  ...includes.flatMap((path) => ["--include", path]),
  "--output",
  output,
  "src/main.ts",
]);
if (!ok) {
  if (!denort && /denort|dl\.deno\.land|error sending request|dns error/i.test(stderr)) {
    fail(
      `deno compile could not download its runtime (denort ${Deno.version.deno}); get ` +
        `denort-${Deno.build.target}.zip for this Deno version, unzip it and set DENORT_BIN=/path/to/denort, ` +
        `or build with \`deno task bundle\` instead`,
    );
  }
  fail(`deno compile failed: ${stderr.trim().split("\n").find((l) => l.trim()) ?? "no message"}`);
}
// A runtime image that is not denort (e.g. DENORT_BIN pointing at deno itself) builds a file that ignores the
// program: catch that here rather than in an installed service.
const smoke = await new Deno.Command(output, { args: ["--version"], stdin: "null", stderr: "null" }).output()
  .catch(() => undefined);
if (!smoke?.success || !new TextDecoder().decode(smoke.stdout).startsWith("dispatch ")) {
  await Deno.remove(output).catch(() => {});
  fail(`${output} does not run Dispatch; is DENORT_BIN the denort binary of Deno ${Deno.version.deno}?`);
}
console.log(`dispatch build: executable at ${output}`);
