// The collector's loop: read the journal from the stored position, file by file across rotations, and ingest
// complete lines in batches; each batch and the position after it commit together, so a collector killed at
// any point re-reads at most the batch it had not committed, and the store's keys make that re-read a no-op.
import { join } from "node:path";
import { journalFileName, journalFiles } from "../journal-sink/journal.ts";
import { type JournalRecord, parseRecord } from "../journal-sink/records.ts";
import type { Position, TraceStore } from "../trace-store/store.ts";

export interface PassResult {
  /** Records read (new or already stored). */
  read: number;
  inserted: number;
  /** Journal files that were removed before they were read to the end. */
  skippedFiles: number;
  /** The spans that were new in this pass (for an exporter). */
  spans: JournalRecord[];
}

const BATCH_BYTES = 256 * 1024;
const NEWLINE = 0x0a;

/** Reads everything complete in the journal after the store's position into the store. */
export async function collectOnce(store: TraceStore, dir: string): Promise<PassResult> {
  const result: PassResult = { read: 0, inserted: 0, skippedFiles: 0, spans: [] };
  let pos = store.position();
  while (true) {
    const files = journalFiles(dir);
    if (files.length === 0) return result;
    const current = files.find((f) => f.seq === pos.fileSeq);
    if (!current) {
      const next = files.find((f) => f.seq > pos.fileSeq);
      if (!next) return result;
      if (pos.fileSeq !== 0) result.skippedFiles += next.seq - pos.fileSeq - 1;
      pos = { fileSeq: next.seq, offset: 0 };
      await store.ingest([], pos);
      continue;
    }
    const advanced = await readFile(store, join(dir, journalFileName(pos.fileSeq)), pos, result);
    pos = advanced;
    const later = files.find((f) => f.seq > pos.fileSeq);
    // The writer never returns to a file it rotated away from: once a later one exists, this one is done
    // (a line torn by a crash at its end is left behind).
    if (!later) return result;
    pos = { fileSeq: later.seq, offset: 0 };
    await store.ingest([], pos);
  }
}

async function readFile(
  store: TraceStore,
  path: string,
  from: Position,
  result: PassResult,
): Promise<Position> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return from; // removed meanwhile: the caller moves on
  }
  let pos = from;
  try {
    await file.seek(pos.offset, Deno.SeekMode.Start);
    const buffer = new Uint8Array(BATCH_BYTES);
    let carry = new Uint8Array(0);
    const decoder = new TextDecoder();
    while (true) {
      const n = await file.read(buffer);
      if (n === null || n === 0) break;
      const chunk = new Uint8Array(carry.length + n);
      chunk.set(carry);
      chunk.set(buffer.subarray(0, n), carry.length);
      const last = chunk.lastIndexOf(NEWLINE);
      if (last < 0) {
        carry = chunk;
        continue;
      }
      const lines = decoder.decode(chunk.subarray(0, last)).split("\n");
      carry = chunk.slice(last + 1);
      const records = lines.map(parseRecord).filter((r): r is JournalRecord => r !== undefined);
      pos = { fileSeq: pos.fileSeq, offset: pos.offset + last + 1 };
      const inserted = await store.ingest(records, pos);
      result.read += records.length;
      result.inserted += inserted;
      if (inserted > 0) result.spans.push(...records.filter((r) => r.type === "span"));
    }
  } finally {
    file.close();
  }
  return pos;
}
