// Splitting an untrusted JSON Lines file into lines without ever holding more than one capped line:
// a line longer than the cap is read past (its bytes are dropped as they come), reported once with
// its start, and never read again (docs/run-format.md, "A run folder is untrusted data").
import { formatBytes, parseBoundedJson, RUN_LIMITS } from './boundedJson';

/** A line that is not valid JSON, nests too deeply or is longer than the cap. */
export interface BadLine {
  /** 1-based line number in the file. */
  line: number;
  /** The start of the line (at most 120 characters). */
  snippet: string;
  /** Why the line was skipped. */
  error: string;
}

const SNIPPET_CHARS = 120;
const NEWLINE = 0x0a;

/** Parses one line: a record goes to `onRecord`, a bad line to `onBad` (a blank line to neither). */
export function parseJsonLine(line: string, lineNumber: number, onRecord: (record: unknown) => void, onBad: (bad: BadLine) => void): void {
  const trimmed = line.trim();
  if (!trimmed) return;
  let record: unknown;
  try {
    record = parseBoundedJson(trimmed);
  } catch (err) {
    onBad({ line: lineNumber, snippet: trimmed.slice(0, SNIPPET_CHARS), error: (err as Error).message });
    return;
  }
  onRecord(record);
}

/** The bad line reported for a line longer than `maxLineBytes`. */
function tooLong(line: number, snippet: string, bytes: number, maxLineBytes: number): BadLine {
  return { line, snippet, error: `line of ${formatBytes(bytes)} is longer than the ${formatBytes(maxLineBytes)} a run-file line may hold (skipped)` };
}

/**
 * Cuts bytes into lines of at most `maxLineBytes`. Feed it consecutive chunks with `push`; each
 * complete line goes to `onLine` (its 1-based number counted from the first byte fed). A line
 * over the cap goes to `onTooLong` once its newline comes, and its bytes are dropped as they
 * arrive, so memory stays bounded whatever the file holds. `committed` is how many bytes a reader
 * may skip on its next pass: the end of the last complete line, or everything fed while inside an
 * over-long line (the split remembers it is inside one).
 */
export class BoundedLineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private skipping = false;
  private skipSnippet = '';
  private skipBytes = 0;
  private fed = 0;
  /** Bytes up to which the lines are fully handled (see the class comment). */
  committed = 0;
  /** Complete lines seen, blank and over-long ones included. */
  lines = 0;

  constructor(readonly maxLineBytes: number = RUN_LIMITS.maxLineBytes) {}

  /** True while the bytes fed end inside a line longer than the cap. */
  get insideLongLine(): boolean {
    return this.skipping;
  }

  push(chunk: Buffer, onLine: (line: string, lineNumber: number) => void, onTooLong: (bad: BadLine) => void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      this.lines += 1;
      if (this.skipping) {
        onTooLong(tooLong(this.lines, this.skipSnippet, this.skipBytes + piece.length, this.maxLineBytes));
        this.skipping = false;
      } else if (this.pendingBytes + piece.length > this.maxLineBytes) {
        onTooLong(tooLong(this.lines, this.snippetOf(piece), this.pendingBytes + piece.length, this.maxLineBytes));
      } else {
        const whole = this.pendingBytes ? Buffer.concat([...this.pending, piece]) : piece;
        onLine(whole.toString('utf8'), this.lines);
      }
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
      this.committed = this.fed + start;
    }
    const rest = chunk.subarray(start);
    this.fed += chunk.length;
    if (this.skipping) {
      this.skipBytes += rest.length;
      this.committed = this.fed;
    } else if (this.pendingBytes + rest.length > this.maxLineBytes) {
      // The line just went over the cap: drop what is held and read past the rest of it.
      this.skipping = true;
      this.skipSnippet = this.snippetOf(rest);
      this.skipBytes = this.pendingBytes + rest.length;
      this.pending = [];
      this.pendingBytes = 0;
      this.committed = this.fed;
    } else if (rest.length) {
      this.pending.push(Buffer.from(rest));
      this.pendingBytes += rest.length;
    }
  }

  /** The unfinished last line, if any and under the cap, then forgets it (for a file known complete). */
  takeRest(): string | null {
    if (this.skipping || !this.pendingBytes) return null;
    const text = Buffer.concat(this.pending).toString('utf8');
    this.pending = [];
    this.pendingBytes = 0;
    return text;
  }

  /** Forgets a held partial line (the reader re-reads it from `committed` next time); keeps the skip state. */
  dropPartial(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Starts over for a new pass beginning at byte `committed` of the same file. */
  continueAt(offset: number): void {
    this.fed = offset;
    this.committed = offset;
  }

  private snippetOf(tail: Buffer): string {
    const head = this.pending.length ? this.pending[0] : tail;
    return head.subarray(0, SNIPPET_CHARS * 4).toString('utf8').slice(0, SNIPPET_CHARS);
  }
}
