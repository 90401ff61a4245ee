// Finding skills: `<dir>/.agents/skills/<name>/SKILL.md` in the cwd and each folder above it, then the user's
// `~/.agents/skills/`, and `.claude/skills/` beside each for compatibility. The nearest skill of a name wins.
// A SKILL.md starts with a front-matter header holding `name` and `description`; one without is skipped.
import { join } from "node:path";
import { ancestors, readConfined, realDir } from "../system-prompt/files.ts";

export interface Skill {
  name: string;
  description: string;
  /** The SKILL.md, as found. */
  path: string;
  /** The real folder its file must stay inside (where its `.agents` or `.claude` folder is). */
  within: string;
}

export interface ParsedSkill {
  name: string;
  description: string;
  /** The instructions after the header. */
  body: string;
}

export const SKILL_FILE = "SKILL.md";
export const SKILL_FOLDERS = [".agents/skills", ".claude/skills"] as const;
/** The list reads only this much of each file, so the header must fit; load_skill reads the rest. */
export const HEADER_BYTES = 8 * 1024;
export const MAX_SKILL_BYTES = 256 * 1024;
/** Per folder, so a huge folder cannot stall every turn or flood the prompt. */
export const MAX_SKILLS_PER_FOLDER = 100;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_DESCRIPTION = 1024;

export interface DiscoverOptions {
  home?: string;
  protectedPaths?: readonly string[];
  /** Told of each SKILL.md skipped (malformed, unsafe, a duplicate name). */
  onSkip?: (path: string, why: string) => void;
}

/** The skills for a turn in `cwd` (none of the project's without one), sorted by name. */
export async function discoverSkills(cwd: string | undefined, opts: DiscoverOptions = {}): Promise<Skill[]> {
  // Each base folder confines what its skills may link to: the project folder, or the home folder.
  const bases = [...(cwd ? ancestors(cwd) : []), ...(opts.home ? [opts.home] : [])];
  // Read in parallel, then merged in precedence order.
  const reals = await Promise.all(bases.map(realDir));
  const seenBase = new Set<string>();
  const found = await Promise.all(bases.map((base, i) => {
    const realBase = reals[i];
    if (!realBase || seenBase.has(realBase)) return [];
    seenBase.add(realBase);
    return Promise.all(SKILL_FOLDERS.map((folder) => skillsIn(join(base, folder), realBase, opts)));
  }));
  const byName = new Map<string, Skill>();
  for (const skill of found.flat(2)) {
    const earlier = byName.get(skill.name);
    if (earlier) opts.onSkip?.(skill.path, `the skill "${skill.name}" of ${earlier.path} comes first`);
    else byName.set(skill.name, skill);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function skillsIn(folder: string, within: string, opts: DiscoverOptions): Promise<Skill[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (entry.isDirectory || entry.isSymlink) names.push(entry.name);
    }
  } catch {
    return []; // no such folder, or not readable: nothing to offer
  }
  names.sort();
  const skills = await Promise.all(
    names.slice(0, MAX_SKILLS_PER_FOLDER).map(async (name): Promise<Skill[]> => {
      const path = join(folder, name, SKILL_FILE);
      const read = await readSkill(path, within, HEADER_BYTES, opts);
      if (typeof read === "string") {
        if (read !== "missing") opts.onSkip?.(path, read);
        return [];
      }
      return [{ name: read.name, description: read.description, path, within }];
    }),
  );
  return skills.flat();
}

/** A listed skill's instructions, read again (the file may have changed since the list), or why not. */
export async function loadSkill(
  skill: Skill,
  opts: DiscoverOptions = {},
): Promise<string | { error: string }> {
  const read = await readSkill(skill.path, skill.within, MAX_SKILL_BYTES, opts);
  if (typeof read === "string") return { error: `the skill "${skill.name}" cannot be read: ${read}` };
  if (read.truncated) return { error: `the skill "${skill.name}" is larger than ${MAX_SKILL_BYTES} bytes` };
  return read.body;
}

async function readSkill(
  path: string,
  within: string,
  maxBytes: number,
  opts: DiscoverOptions,
): Promise<(ParsedSkill & { truncated: boolean }) | string> {
  const read = await readConfined(path, within, maxBytes, opts.protectedPaths);
  if (read === "escapes") return `it links outside ${within}`;
  if (typeof read === "string") return read;
  const parsed = parseSkill(read.text);
  return typeof parsed === "string" ? parsed : { ...parsed, truncated: read.truncatedFrom !== undefined };
}

/** A SKILL.md's header and body, or why it is malformed. */
export function parseSkill(text: string): ParsedSkill | string {
  const match = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(text);
  if (!match) {
    return `no front-matter header in its first ${HEADER_BYTES} bytes (a line ---, name: and description:, ---)`;
  }
  const fields = parseHeader(match[1]);
  const name = fields.get("name");
  const description = fields.get("description");
  if (!name) return "the header has no name";
  if (!NAME.test(name)) return `the name "${name}" is not letters, digits, '.', '_' and '-' (at most 64)`;
  if (!description) return "the header has no description";
  if (description.length > MAX_DESCRIPTION) {
    return `the description is longer than ${MAX_DESCRIPTION} characters`;
  }
  return { name, description, body: text.slice(match[0].length).trim() };
}

/**
 * The header's top-level `key: value` lines. Enough YAML for skills: plain or quoted scalars, and values
 * continued on indented lines (`description: >` folds them) joined with spaces. Nested keys are ignored.
 */
function parseHeader(header: string): Map<string, string> {
  const fields = new Map<string, string>();
  let current: string | undefined;
  for (const line of header.split(/\r?\n/)) {
    const top = /^([A-Za-z_][A-Za-z0-9_-]*):(.*)$/.exec(line);
    if (top) {
      current = top[1];
      const value = top[2].trim();
      fields.set(current, /^[>|][-+]?$/.test(value) ? "" : unquote(value));
    } else if (current && /^\s+\S/.test(line)) {
      const before = fields.get(current) ?? "";
      fields.set(current, before ? `${before} ${line.trim()}` : unquote(line.trim()));
    } else if (line.trim() !== "" && !line.trimStart().startsWith("#")) {
      current = undefined;
    }
  }
  return new Map([...fields].map(([k, v]) => [k, v.trim()]));
}

function unquote(value: string): string {
  const q = value[0];
  if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
    const inner = value.slice(1, -1);
    return q === "'"
      ? inner.replaceAll("''", "'")
      : inner.replace(/\\(["\\])/g, "$1").replaceAll("\\n", "\n");
  }
  return value;
}

/** The prompt's list: one line per skill, name, description and where it is. */
export function formatSkillList(skills: Skill[]): string | null {
  if (skills.length === 0) return null;
  return skills.map((s) => `- ${s.name}: ${oneLine(s.description)} (${s.path})`).join("\n");
}

const oneLine = (text: string) => text.replace(/\s+/g, " ").trim();
