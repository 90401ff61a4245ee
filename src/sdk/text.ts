// Text helpers shared by the file tools: limits, binary sniffing, line truncation, capped output.

/** Largest file the text tools (read_file, edit_file, grep) will load. */
export const MAX_TEXT_FILE_BYTES = 5 * 1024 * 1024;
/** How much of a file's start is inspected to decide whether it is binary. */
export const SNIFF_BYTES = 8192;

/** True when `sample` (a file's first bytes) has a NUL byte or is not valid UTF-8 (a cut final character is fine). */
export function looksBinary(sample: Uint8Array): boolean {
  if (sample.includes(0)) return true;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(sample, { stream: true });
    return false;
  } catch {
    return true;
  }
}

/** "812 B", "12.3 KB", "5.0 MB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`;
}

/** `line` cut to `max` characters, with a marker saying how long it was. */
export function truncateLine(line: string, max: number): string {
  if (line.length <= max) return line;
  return `${line.slice(0, max)}… [line truncated: ${line.length} characters]`;
}

/** A file's text split into lines: `\n` or `\r\n` endings, no phantom empty line after a final newline. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/**
 * Keeps at most `limit` characters of a growing text: its first half and its latest half, with a marker in
 * the middle saying how much was dropped.
 */
export class HeadTailBuffer {
  #head = "";
  #tail = "";
  #total = 0;
  readonly #headCap: number;
  readonly #tailCap: number;

  constructor(readonly limit: number) {
    this.#headCap = Math.ceil(limit / 2);
    this.#tailCap = Math.floor(limit / 2);
  }

  push(text: string): void {
    this.#total += text.length;
    if (this.#head.length < this.#headCap) {
      const room = this.#headCap - this.#head.length;
      this.#head += text.slice(0, room);
      text = text.slice(room);
    }
    if (text === "") return;
    this.#tail += text;
    // Trim lazily (at twice the cap) so pushing many small chunks stays linear.
    if (this.#tail.length > 2 * this.#tailCap) this.#tail = this.#lastOf(this.#tail);
  }

  /** Characters pushed in all. */
  get total(): number {
    return this.#total;
  }

  get truncated(): boolean {
    return this.#total > this.#headCap + this.#tailCap;
  }

  #lastOf(text: string): string {
    return this.#tailCap === 0 ? "" : text.length > this.#tailCap ? text.slice(-this.#tailCap) : text;
  }

  toString(): string {
    const tail = this.#lastOf(this.#tail);
    const omitted = this.#total - this.#head.length - tail.length;
    if (omitted <= 0) return this.#head + tail;
    return `${this.#head}\n… [${omitted} characters of output omitted here; ${this.#total} in all] …\n${tail}`;
  }
}
