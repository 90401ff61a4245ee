// A seeded fuzz of extension manifests: the manifest schema, the host's boot and the sandbox's permission
// mapping never throw anything but their own errors, every extension ends listed (active, or failed with a
// reason), and the permissions a Worker would get hold the invariants: every kind set explicitly, ffi off, no
// env grant that could reach a secret, no broad grant without the operator's. The PRNG is seeded.
import { assert, assertEquals } from "./assert.ts";
import { prng } from "./prng.ts";
import { BootError, ExtensionHost, ManifestSchema } from "../src/kernel/mod.ts";
import { PermissionError, workerPermissions } from "../src/sandbox/permissions.ts";
import { envGrantRefusal } from "../src/secrets.ts";

const SEED = 0x3a2f_2026;
const COUNT = 600;
const KINDS = ["read", "write", "net", "env", "run", "sys", "import"] as const;

function generator(random: () => number) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const chance = (p: number) => random() < p;
  const junk = (): unknown =>
    pick([null, 0, -1, "", " ", true, false, [], {}, "x".repeat(1 + int(2000)), ["a"], { a: 1 }, 1e308]);
  const entry = () =>
    pick([
      "/",
      "/etc",
      "..",
      "../..",
      "data",
      "$WORKSPACE_ROOTS",
      "$NOPE",
      "$",
      "\u0000",
      "HOME",
      "PATH",
      "AWS_*",
      "DISPATCH_API_KEY",
      "DISPATCH_MODEL",
      "GITHUB_TOKEN",
      "DATABASE_URL",
      "my_password",
      "LANG",
      "127.0.0.1:8080",
      "*",
      "example.com",
      "/bin/sh",
      "deno",
      "hostname",
      "jsr:@std/path",
      "",
    ]);
  const grant = (): unknown => {
    const r = random();
    if (r < 0.15) return true;
    if (r < 0.25) return false;
    if (r < 0.35) return junk();
    return Array.from({ length: int(5) }, () => (chance(0.9) ? entry() : junk()));
  };
  return (i: number): Record<string, unknown> => {
    const m: Record<string, unknown> = {
      id: chance(0.8)
        ? `ext-${i}`
        : pick(["", "Ext", "1abc", "a".repeat(70), "ext_x", `ext-${int(10)}`, junk()]),
      version: chance(0.9) ? "1.0.0" : junk(),
      description: chance(0.9) ? "a fuzzed extension" : junk(),
    };
    if (chance(0.5)) m.dependsOn = chance(0.7) ? [pick(["ext-1", "ext-2", `ext-${i}`, "missing"])] : junk();
    if (chance(0.8)) {
      const permissions: Record<string, unknown> = {};
      for (const kind of KINDS) if (chance(0.4)) permissions[kind] = grant();
      if (chance(0.05)) permissions.ffi = pick([true, false, ["x"]]);
      if (chance(0.05)) permissions.bogus = true;
      m.permissions = chance(0.95) ? permissions : junk();
    }
    if (chance(0.05)) m.core = junk();
    if (chance(0.05)) m.extra = junk();
    return m;
  };
}

Deno.test("fuzz: extension manifests: schema, boot and sandbox permissions hold their invariants", async () => {
  const next = generator(prng(SEED));
  const manifests = Array.from({ length: COUNT }, (_, i) => next(i));
  let valid = 0;
  let granted = 0;
  for (const m of manifests) {
    const parsed = ManifestSchema.safeParse(m); // never throws
    if (!parsed.success) continue;
    valid++;
    const allowBroad = granted % 2 === 0 ? [] : (["read", "net"] as const);
    let perms: Deno.PermissionOptionsObject;
    try {
      perms = workerPermissions(parsed.data.permissions, {
        folder: "/opt/ext",
        expand: (p) => (p === "$WORKSPACE_ROOTS" ? ["/srv/ws"] : undefined as unknown as string[]),
        allowBroad,
      });
    } catch (error) {
      assert(error instanceof PermissionError, `${JSON.stringify(m)} threw ${error}`);
      continue;
    }
    granted++;
    const p = perms as Record<string, unknown>;
    for (const kind of KINDS) assert(kind in p, `${kind} left to inheritance: ${JSON.stringify(m)}`);
    assertEquals(p.ffi, false);
    assert(p.env !== true, `env: true granted: ${JSON.stringify(m)}`);
    if (Array.isArray(p.env)) {
      for (const name of p.env) assertEquals(envGrantRefusal(name), undefined, `${name} granted`);
    }
    for (const kind of ["read", "run", "net"] as const) {
      if (p[kind] === true) assert((allowBroad as readonly string[]).includes(kind), `${kind}: true granted`);
    }
    if (Array.isArray(p.read)) assert(p.read.includes("/opt/ext"), "its own folder readable");
  }
  assert(valid > COUNT / 4 && granted > 20, `valid ${valid}, granted ${granted}: the generator misses`);

  // All of them through one boot, non-core: boot itself never throws, each ends listed.
  const host = new ExtensionHost({ sink: { write: () => {} } });
  const entries = manifests.map((m) => ({ manifest: { ...m, core: false } as never, activate: () => {} }));
  const unique = new Map<string, (typeof entries)[number]>();
  for (const e of entries) unique.set(String((e.manifest as { id?: unknown }).id), e); // duplicates are a BootError
  try {
    await host.boot([...unique.values()]);
  } catch (error) {
    assert(error instanceof BootError, String(error));
    throw error;
  }
  const states = host.list();
  assertEquals(states.length, unique.size);
  for (const s of states) {
    assert(
      s.status === "active" || (s.status === "failed" && typeof s.error === "string" && s.error),
      JSON.stringify(s),
    );
  }
  await host.shutdown();
});
