// `deno task bundle [--outdir DIR]` → DIR (default dist/): the daemon and CLI as one JavaScript file, the sandbox
// worker's entry, and one self-contained module per sandboxed extension, laid out as src/build_layout.ts expects.
// Run it with `deno run --no-config --allow-all --unstable-worker-options DIR/dispatch.js serve`.
import { parseArgs } from "node:util";
import { dirname, join, resolve } from "node:path";
import { BUNDLE_PATHS } from "../src/build_layout.ts";
import { deno, fail, ROOT, sandboxedFolders } from "./layout.ts";

const { values } = parseArgs({ args: Deno.args, options: { outdir: { type: "string" } } });
const outdir = resolve(values.outdir ?? join(ROOT, "dist"));

// Only what this script writes is replaced, so a compiled dist/dispatch beside it survives.
for (const stale of [BUNDLE_PATHS.main, "sandbox", "extensions"]) {
  await Deno.remove(join(outdir, stale), { recursive: true }).catch(() => {});
}

const jobs: [entry: string, out: string][] = [
  ["src/main.ts", BUNDLE_PATHS.main],
  ["src/sandbox/worker_bootstrap.ts", BUNDLE_PATHS.worker],
  ...(await sandboxedFolders()).map((
    f,
  ): [string, string] => [`extensions/${f}/mod.ts`, BUNDLE_PATHS.extension(f)]),
];
// Two at a time: the machines this builds on are small.
for (let i = 0; i < jobs.length; i += 2) {
  await Promise.all(
    jobs.slice(i, i + 2).map(async ([entry, out]) => {
      const target = join(outdir, out);
      await Deno.mkdir(dirname(target), { recursive: true });
      const { ok, stderr } = await deno(["bundle", "--quiet", "--platform=deno", "--output", target, entry]);
      if (!ok) fail(`bundling ${entry} failed:\n${stderr.trim()}`);
    }),
  );
}
console.log(`dispatch build: bundle in ${outdir} (${jobs.length} modules)`);
