// What the property tests of hostile run files share: how many cases a property runs, fresh scratch
// folders removed after the file's tests, and JSON nested deeper than any reader's cap.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import fc from 'fast-check';

/** Cases per property: PACS_FUZZ_RUNS (`make fuzz` sets many more than `make test`'s 500). */
export const FUZZ_RUNS = Number(process.env.PACS_FUZZ_RUNS) || 500;

/** A function giving a new empty folder each call, all under one temporary folder removed after the tests. */
export function scratchFolders(prefix: string): () => string {
  const base = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(base, { recursive: true, force: true }));
  let n = 0;
  return () => {
    const dir = join(base, `c${n++}`);
    mkdirSync(dir);
    return dir;
  };
}

/** Arrays nested 1 to 3,000 levels deep (the readers' cap is 64). */
export const deepJson = fc.integer({ min: 1, max: 3000 }).map((d) => '['.repeat(d) + ']'.repeat(d));
