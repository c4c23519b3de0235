// Incremental JSON Lines reading. events.jsonl is append-only and may end in a line cut short by
// a crash or still being written; any line may be garbage. Readers skip and count bad lines and
// never stop on them (docs/run-format.md).
import type { FileHandle } from 'node:fs/promises';
import { openRunFile, statRunFile } from './runFiles';

/** A line that is not valid JSON. */
export interface BadLine {
  /** 1-based line number in the file. */
  line: number;
  /** The start of the line (at most 120 characters). */
  snippet: string;
  /** The JSON parser's message. */
  error: string;
}

export interface JsonlReadResult {
  /** Parsed values of the complete lines read by this call, in file order. */
  records: unknown[];
  /** Lines of this call that were not valid JSON. */
  badLines: BadLine[];
  /** True when the file shrank or was replaced, and reading restarted from its beginning. */
  restarted: boolean;
}

const CHUNK_BYTES = 1 << 20;
const SNIPPET_CHARS = 120;
const NEWLINE = 0x0a;

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

  /**
   * @param path the file to follow; it need not exist yet.
   * @param startOffset start here instead of at byte 0 (must be at a line start, e.g. a size
   *   observed earlier); line numbers then count from that point.
   */
  constructor(
    readonly path: string,
    startOffset = 0,
  ) {
    this.offset = startOffset;
  }

  /** Bytes consumed so far (the end of the last complete line). */
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
    result.restarted = true;
  }

  private async consume(handle: FileHandle, size: number, result: JsonlReadResult): Promise<void> {
    let pending: Buffer = Buffer.alloc(0);
    let position = this.offset;
    while (position < size) {
      const length = Math.min(CHUNK_BYTES, size - position);
      const chunk = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(chunk, 0, length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const data = pending.length ? Buffer.concat([pending, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      const lastNewline = data.lastIndexOf(NEWLINE);
      if (lastNewline < 0) {
        pending = data;
        continue;
      }
      this.parseLines(data.toString('utf8', 0, lastNewline), result);
      this.offset += lastNewline + 1;
      pending = Buffer.from(data.subarray(lastNewline + 1));
    }
  }

  private parseLines(text: string, result: JsonlReadResult): void {
    for (const line of text.split('\n')) {
      this.lines += 1;
      parseLine(line, this.lines, result);
    }
  }
}

function parseLine(line: string, lineNumber: number, out: { records: unknown[]; badLines: BadLine[] }): void {
  const trimmed = line.trim();
  if (!trimmed) return;
  try {
    out.records.push(JSON.parse(trimmed));
  } catch (err) {
    out.badLines.push({ line: lineNumber, snippet: trimmed.slice(0, SNIPPET_CHARS), error: (err as Error).message });
  }
}

/**
 * Reads a whole JSONL file written at once (e.g. rollouts/step-NNNNNN.jsonl). A last line
 * without a newline is parsed too, since the file is complete.
 */
export async function readJsonlFile(path: string): Promise<{ records: unknown[]; badLines: BadLine[] }> {
  const handle = await openRunFile(path);
  let text: string;
  try {
    text = await handle.readFile({ encoding: 'utf8' });
  } finally {
    await handle.close();
  }
  const out = { records: [] as unknown[], badLines: [] as BadLine[] };
  const lines = text.split('\n');
  lines.forEach((line, i) => parseLine(line, i + 1, out));
  return out;
}

export { isRecord } from './runModel';
