// The journal: NDJSON files in one directory, appended synchronously (a record written is in the file before
// the call returns, so a crash loses nothing the daemon had logged), rotated by size, the oldest removed past a
// count. Writing never throws: a full disk or a vanished directory drops the record, counts it, and the next
// write tries again (at most once a second), so the daemon keeps serving.
import { join } from "node:path";
import { secretMasker } from "../../src/log.ts";

/** The journal's files, in order: journal-<seq>.ndjson, seq zero-padded so names sort as numbers do. */
export const JOURNAL_FILE = /^journal-(\d{12})\.ndjson$/;
export const journalFileName = (seq: number) => `journal-${String(seq).padStart(12, "0")}.ndjson`;

export interface JournalOptions {
  /** A file is closed and the next begun once it would pass this many bytes. */
  maxFileBytes?: number;
  /** Rotated files kept (the oldest are removed; a collector behind by more loses them, counted by it). */
  maxFiles?: number;
  /** Values masked wherever they occur in a record (the same values the log lines mask). */
  secrets?: string[];
}

export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_FILES = 20;
const RETRY_MS = 1000;

/** The sequence numbers of the journal files in `dir`, ascending (empty when it cannot be read). */
export function journalFiles(dir: string): { seq: number; name: string }[] {
  const files: { seq: number; name: string }[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      const m = entry.isFile ? JOURNAL_FILE.exec(entry.name) : null;
      if (m) files.push({ seq: Number(m[1]), name: entry.name });
    }
  } catch { /* a missing or unreadable directory has no files */ }
  return files.sort((a, b) => a.seq - b.seq);
}

export class Journal {
  readonly #encoder = new TextEncoder();
  readonly #maxFileBytes: number;
  readonly #maxFiles: number;
  readonly #mask: (text: string) => string;
  readonly #boot = crypto.randomUUID().slice(0, 8);
  #file: Deno.FsFile | undefined;
  #seq = 0;
  #size = 0;
  #count = 0;
  #retryAt = 0;
  #dropped = 0;
  #closed = false;

  constructor(readonly dir: string, opts: JournalOptions = {}) {
    this.#maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.#maxFiles = opts.maxFiles ?? DEFAULT_MAX_FILES;
    this.#mask = secretMasker(opts.secrets ?? []);
  }

  /** Records dropped because they could not be written. */
  get dropped(): number {
    return this.#dropped;
  }

  /** A record id unique across boots (the collector's key for exactly-once insertion). */
  nextId(): string {
    return `${this.#boot}-${(++this.#count).toString(36)}`;
  }

  /** Appends one record (masked) as one line; returns the line written, or undefined when it was dropped. */
  write(record: object): string | undefined {
    if (this.#closed) return undefined;
    let line: string;
    try {
      line = this.#mask(JSON.stringify({ id: (record as { id?: string }).id ?? this.nextId(), ...record })) +
        "\n";
    } catch {
      this.#dropped++; // not serialisable (a cycle, a BigInt)
      return undefined;
    }
    const bytes = this.#encoder.encode(line);
    try {
      const file = this.#open(bytes.length);
      if (!file) {
        this.#dropped++;
        return undefined;
      }
      let written = 0;
      while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
      this.#size += bytes.length;
      return line;
    } catch {
      this.#dropped++;
      this.#file?.close();
      this.#file = undefined;
      this.#retryAt = Date.now() + RETRY_MS;
      return undefined;
    }
  }

  close(): void {
    this.#closed = true;
    try {
      this.#file?.close();
    } catch { /* already gone */ }
    this.#file = undefined;
  }

  /** The file to append `length` bytes to: the current one, or a new one past the size limit. */
  #open(length: number): Deno.FsFile | undefined {
    if (this.#file && this.#size + length <= this.#maxFileBytes) return this.#file;
    if (!this.#file && Date.now() < this.#retryAt) return undefined;
    if (this.#file) {
      this.#file.close();
      this.#file = undefined;
    }
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // Each boot and each rotation begins a fresh file, so a line torn by a crash is never continued.
    const existing = journalFiles(this.dir);
    this.#seq = Math.max(this.#seq, existing.at(-1)?.seq ?? 0) + 1;
    this.#file = Deno.openSync(join(this.dir, journalFileName(this.#seq)), {
      create: true,
      append: true,
      mode: 0o600,
    });
    this.#size = 0;
    for (const old of existing.slice(0, Math.max(0, existing.length + 1 - this.#maxFiles))) {
      try {
        Deno.removeSync(join(this.dir, old.name));
      } catch { /* removed already */ }
    }
    return this.#file;
  }
}
