// Incremental JSON Lines reading. events.jsonl is append-only and may end in a line cut short by
// a crash or still being written; any line may be garbage. Readers skip and count bad lines and
// never stop on them (docs/run-format.md).
import type { FileHandle } from 'node:fs/promises';
import { formatBytes, RUN_LIMITS } from './boundedJson';
import { BoundedLineSplitter, parseJsonLine } from './boundedLines';
import type { BadLine } from './boundedLines';
import { openRunFile, RunFileError, statRunFile } from './runFiles';

export type { BadLine };

export interface JsonlReadResult {
  /** Parsed values of the complete lines read by this call, in file order. */
  records: unknown[];
  /** Lines of this call that were not valid JSON. */
  badLines: BadLine[];
  /** True when the file shrank or was replaced, and reading restarted from its beginning. */
  restarted: boolean;
}

const CHUNK_BYTES = 1 << 20;

/**
 * Follows an append-only JSONL file by byte offset. Each `read()` parses only the bytes added
 * since the last call; a last line without its newline is left for a later call. When the file
 * is smaller than the offset or is a different file (new inode), reading restarts at byte 0 and
 * the result says so, so callers can drop what they derived from the old content.
 */
export class JsonlTail {
  /** Byte offset just after the last complete line consumed. */
  private offset = 0;
  /** Number of complete lines consumed (blank lines included), for 1-based line numbers. */
  private lines = 0;
  private inode: number | null = null;
  private badTotal = 0;
  private reading: Promise<JsonlReadResult> | null = null;
  private splitter: BoundedLineSplitter;

  /**
   * @param path the file to follow; it need not exist yet.
   * @param startOffset start here instead of at byte 0 (must be at a line start, e.g. a size
   *   observed earlier); line numbers then count from that point.
   */
  constructor(
    readonly path: string,
    startOffset = 0,
    maxLineBytes: number = RUN_LIMITS.maxLineBytes,
  ) {
    this.offset = startOffset;
    this.splitter = new BoundedLineSplitter(maxLineBytes);
  }

  /** Bytes consumed so far: the end of the last complete line, or further inside a line over the cap (read past, never again). */
  get position(): number {
    return this.offset;
  }

  /** Complete lines consumed so far. */
  get lineCount(): number {
    return this.lines;
  }

  /** Bad lines seen since the last restart. */
  get badLineCount(): number {
    return this.badTotal;
  }

  /** Reads what was appended since the last call. Concurrent calls share one read. */
  read(): Promise<JsonlReadResult> {
    if (!this.reading) {
      this.reading = this.readNew().finally(() => {
        this.reading = null;
      });
    }
    return this.reading;
  }

  private async readNew(): Promise<JsonlReadResult> {
    const result: JsonlReadResult = { records: [], badLines: [], restarted: false };
    // A link or special file under the name throws RunFileError: it is never followed.
    const info = await statRunFile(this.path);
    if (!info) {
      if (this.offset > 0 || this.inode !== null) this.restart(result);
      return result;
    }
    if ((this.inode !== null && info.ino !== this.inode) || info.size < this.offset) this.restart(result);
    this.inode = info.ino;
    if (info.size === this.offset) return result;

    const handle = await openRunFile(this.path);
    try {
      await this.consume(handle, info.size, result);
    } finally {
      await handle.close();
    }
    this.badTotal += result.badLines.length;
    return result;
  }

  private restart(result: JsonlReadResult): void {
    this.offset = 0;
    this.lines = 0;
    this.badTotal = 0;
    this.inode = null;
    this.splitter = new BoundedLineSplitter(this.splitter.maxLineBytes);
    result.restarted = true;
  }

  private async consume(handle: FileHandle, size: number, result: JsonlReadResult): Promise<void> {
    const split = this.splitter;
    split.continueAt(this.offset);
    split.lines = this.lines;
    let position = this.offset;
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    while (position < size) {
      const length = Math.min(CHUNK_BYTES, size - position);
      const { bytesRead } = await handle.read(chunk, 0, length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      split.push(chunk.subarray(0, bytesRead), (line, n) => parseJsonLine(line, n, (r) => result.records.push(r), (b) => result.badLines.push(b)), (bad) => result.badLines.push(bad));
    }
    // An unfinished last line under the cap is read again next time; one over it never is.
    split.dropPartial();
    this.offset = split.committed;
    this.lines = split.lines;
  }
}

/**
 * Reads a whole JSONL file written at once (e.g. rollouts/step-NNNNNN.jsonl). A last line
 * without a newline is parsed too, since the file is complete. A file over `maxFileBytes` is
 * refused (RunFileError); lines over the line cap are skipped and reported.
 */
export async function readJsonlFile(
  path: string,
  maxFileBytes: number = RUN_LIMITS.maxRolloutFileBytes,
): Promise<{ records: unknown[]; badLines: BadLine[] }> {
  const out = { records: [] as unknown[], badLines: [] as BadLine[] };
  await forEachJsonLine(path, (record) => out.records.push(record), (bad) => out.badLines.push(bad), maxFileBytes);
  return out;
}

/**
 * Streams a whole JSONL file line by line (a last line without a newline included), holding at
 * most one capped line: each record goes to `onRecord`, each bad line to `onBad`.
 */
export async function forEachJsonLine(
  path: string,
  onRecord: (record: unknown) => void,
  onBad: (bad: BadLine) => void,
  maxFileBytes = Infinity,
): Promise<void> {
  const handle = await openRunFile(path);
  try {
    const { size } = await handle.stat();
    if (size > maxFileBytes) {
      throw new RunFileError(`${path} holds ${formatBytes(size)}, more than the ${formatBytes(maxFileBytes)} PACS Lab reads of one run file: it is not read.`, path);
    }
    const split = new BoundedLineSplitter();
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    for (let position = 0; position < size; ) {
      const { bytesRead } = await handle.read(chunk, 0, Math.min(CHUNK_BYTES, size - position), position);
      if (bytesRead === 0) break;
      position += bytesRead;
      split.push(chunk.subarray(0, bytesRead), (line, n) => parseJsonLine(line, n, onRecord, onBad), onBad);
    }
    const rest = split.takeRest();
    if (rest !== null) parseJsonLine(rest, split.lines + 1, onRecord, onBad);
    else if (split.insideLongLine) split.push(Buffer.from('\n'), () => undefined, onBad);
  } finally {
    await handle.close();
  }
}

export { isRecord } from './runModel';
