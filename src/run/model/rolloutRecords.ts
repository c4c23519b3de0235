// One step's rollout records (docs/run-format.md): `rollouts/step-NNNNNN.parquet`, written by the
// trainer (trainer/pacslab/run/records.py), or the JSONL file of runs written before and of imported
// runs. A Parquet step is read with hyparquet: its light columns at once (what the list, filters,
// sorts and the critic view need), each response as its `response_preview` when the file has one
// (decoding every whole response is most of a long-reasoning step's open), and a sample's whole
// response and token details only when it is shown, from the pages that hold it (the file's page
// index); every whole response only when asked for (the inspector's text filter). Every read goes
// through openRunFile (no link, no FIFO); sizes read from the file are capped before anything is
// allocated; a truncated or corrupt file is reported by name.

import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { parquetMetadataAsync, parquetReadObjects, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { isRecord, readJsonlFile } from './events';
import { openRunFile, RunFileError, runFilePath, statRunFile } from './runFiles';
import { rolloutFileName, type RolloutSample, type TokenDetails } from './runFormat';

export type { TokenDetails };

export interface StepRecords {
  /**
   * The light fields of every sample, in file order. A Parquet step's carry `token_details: true`
   * instead of their tokens, and `response_cut: true` where `response` holds only the start of it.
   */
  samples: RolloutSample[];
  badLines: number;
  /** The token details of (group, index), read from the file; null when the sample has none. */
  tokenDetails(group: number, index: number): Promise<TokenDetails | null>;
  /** The sample (group, index) whole: its whole response and its tokens, read from the file; null when the step has none such. */
  sample(group: number, index: number): Promise<RolloutSample | null>;
  /** Every sample's whole response, in the order of `samples`: read from the file (once) when some are cut. */
  responses(): Promise<string[]>;
}

export const PARQUET_SUFFIX = '.parquet';
const TOKEN_COLUMNS = ['token_lengths', 'token_text', 'token_logratio'];
const PREVIEW_COLUMN = 'response_preview';
/** A response's preview is its first this many code points (records.PREVIEW_CHARS): a shorter one is the whole response. */
export const RESPONSE_PREVIEW_CHARS = 400;
/** Any one read from a rollout file (the footer, a column chunk), and any column chunk uncompressed, is at most this big. */
const MAX_CHUNK = 512 << 20;
const MAX_ROWS = 10_000_000;

// Brotli, as the trainer writes it, and gzip, both native in Node's zlib (a pure-JS zstd reads ~25 MB/s).
const compressors = {
  BROTLI: (input: Uint8Array): Uint8Array => brotliDecompressSync(input),
  GZIP: (input: Uint8Array): Uint8Array => gunzipSync(input),
};

/** The step's rollout file: the Parquet one when there is one (a link there is refused), else the JSONL one. */
export async function stepRecordsFile(runDir: string, step: number): Promise<string> {
  const parquet = await runFilePath(runDir, rolloutFileName(step, PARQUET_SUFFIX));
  if (await statRunFile(parquet)) return parquet;
  return runFilePath(runDir, rolloutFileName(step));
}

/** Reads a step's records from either format (by the file's suffix). */
export async function readStepRecords(path: string): Promise<StepRecords> {
  if (!path.endsWith(PARQUET_SUFFIX)) return readJsonlStep(path);
  const { metadata, names, rows, version } = await withFile(path, async (file, version) => {
    const metadata = await readMetadata(path, file);
    const names = new Set(parquetSchema(metadata).children.map((c) => c.element.name));
    const heavy = [...TOKEN_COLUMNS, ...(names.has(PREVIEW_COLUMN) ? ['response'] : [])];
    const rows = await readRows(path, file, metadata, [...names].filter((n) => !heavy.includes(n)));
    return { metadata, names, rows, version };
  });
  const hasTokens = names.has('token_lengths');
  const samples = rows.map((row) => lightSample(path, row, hasTokens));
  const position = new Map<string, number>();
  samples.forEach((s, i) => position.set(`${s.group}:${s.index}`, i));
  const readLater = (columns: string[], rowStart?: number, rowEnd?: number) => withFile(path, (file, now) => {
    // a resumed trainer may write the step again: the footer read before no longer fits
    if (now !== version) throw new Error(`${path} changed since the step was opened; open the step again`);
    return readRows(path, file, metadata, columns, rowStart, rowEnd);
  });
  let whole: Promise<string[]> | undefined;
  const step: StepRecords = {
    samples,
    badLines: 0,
    async tokenDetails(group, index) {
      return hasTokens ? tokenDetailsIn(await step.sample(group, index)) : null;
    },
    async sample(group, index) {
      const at = position.get(`${group}:${index}`);
      if (at === undefined) return null;
      const full: RolloutSample = { ...samples[at] };
      const cut = full.response_cut === true;
      delete full.token_details;
      delete full.response_cut;
      const columns = [...(hasTokens ? TOKEN_COLUMNS.filter((n) => names.has(n)) : []), ...(cut ? ['response'] : [])];
      if (columns.length === 0) return full;
      const [row] = await readLater(columns, at, at + 1);
      if (!row) throw corrupt(path, `no row ${at}`);
      if (cut) full.response = textOf(path, row.response);
      return hasTokens ? { ...full, ...tokenDetailsOf(path, row, full.response) } : full;
    },
    responses() {
      if (!samples.some((s) => s.response_cut)) return Promise.resolve(samples.map((s) => s.response));
      whole ??= readLater(['response']).then((read) => read.map((row, i) => (samples[i].response_cut ? textOf(path, row.response) : samples[i].response)));
      whole.catch(() => { whole = undefined; });
      return whole;
    },
  };
  return step;
}

async function readJsonlStep(path: string): Promise<StepRecords> {
  const { records, badLines } = await readJsonlFile(path);
  const samples = records.filter(isRecord) as RolloutSample[];
  const find = (group: number, index: number) => samples.find((r) => r.group === group && r.index === index) ?? null;
  return {
    samples,
    badLines: badLines.length + records.length - samples.length,
    async tokenDetails(group, index) {
      return tokenDetailsIn(find(group, index));
    },
    async sample(group, index) {
      return find(group, index);
    },
    async responses() {
      return samples.map((s) => s.response);
    },
  };
}

function tokenDetailsIn(s: RolloutSample | null): TokenDetails | null {
  return s && Array.isArray(s.tokens) ? { tokens: s.tokens, ...(Array.isArray(s.token_logratio) ? { token_logratio: s.token_logratio } : {}) } : null;
}

/** Reads through the open file as hyparquet's AsyncBuffer; `version` tells one file at a path from the next. */
async function withFile<T>(path: string, read: (file: AsyncBuffer, version: string) => Promise<T>): Promise<T> {
  const handle = await openRunFile(path);
  try {
    const { size, ino, mtimeMs } = await handle.stat();
    const file: AsyncBuffer = {
      byteLength: size,
      async slice(start: number, end = size): Promise<ArrayBuffer> {
        const length = Math.max(0, Math.min(end, size) - start);
        if (length > MAX_CHUNK) throw corrupt(path, `a read of ${length} bytes`);
        const buffer = new Uint8Array(length);
        const { bytesRead } = await handle.read(buffer, 0, length, start);
        if (bytesRead < length) throw corrupt(path, 'the file ended early (truncated)');
        return buffer.buffer;
      },
    };
    return await read(file, `${ino}:${size}:${mtimeMs}`);
  } finally {
    await handle.close();
  }
}

async function readMetadata(path: string, file: AsyncBuffer): Promise<FileMetaData> {
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file, { initialFetchSize: Math.min(file.byteLength, 1 << 16) });
  } catch (err) {
    throw err instanceof RunFileError ? err : corrupt(path, (err as Error).message);
  }
  if (Number(metadata.num_rows) > MAX_ROWS) throw corrupt(path, `${metadata.num_rows} rows`);
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const size = Number(chunk.meta_data?.total_uncompressed_size ?? 0);
      if (size > MAX_CHUNK) throw corrupt(path, `a column of ${size} bytes uncompressed`);
    }
  }
  return metadata;
}

async function readRows(path: string, file: AsyncBuffer, metadata: FileMetaData, columns: string[],
  rowStart?: number, rowEnd?: number): Promise<Record<string, unknown>[]> {
  try {
    return await parquetReadObjects({ file, metadata, columns, rowStart, rowEnd, compressors, useOffsetIndex: rowStart !== undefined });
  } catch (err) {
    throw err instanceof RunFileError ? err : corrupt(path, (err as Error).message);
  }
}

function lightSample(path: string, row: Record<string, unknown>, hasTokens: boolean): RolloutSample {
  const { verifier, extra, [PREVIEW_COLUMN]: preview, ...light } = row;
  const sample: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(light)) sample[key] = typeof value === 'bigint' ? Number(value) : value;
  if (typeof preview === 'string') {
    sample.response = preview;
    // UTF-16 units are never fewer than code points: a preview shorter than this is the whole response
    if (preview.length >= RESPONSE_PREVIEW_CHARS) sample.response_cut = true;
  } else if (PREVIEW_COLUMN in row) sample.response = null;
  if (typeof verifier === 'string') sample.verifier = parseJson(path, verifier, 'verifier');
  else if (verifier === null) sample.verifier = null;
  if (typeof extra === 'string') Object.assign(sample, parseJson(path, extra, 'extra'));
  if (hasTokens) sample.token_details = true;
  return sample as RolloutSample;
}

function textOf(path: string, value: unknown): string {
  if (typeof value !== 'string') throw corrupt(path, 'a cut response without its whole text');
  return value;
}

function tokenDetailsOf(path: string, row: Record<string, unknown>, response: unknown): TokenDetails {
  const lengths = row.token_lengths;
  if (!Array.isArray(lengths)) throw corrupt(path, 'a sample without token_lengths');
  const text = typeof row.token_text === 'string' ? row.token_text : typeof response === 'string' ? response : '';
  const tokens = splitByCodePoints(text, lengths as number[]);
  if (!tokens) throw corrupt(path, 'token_lengths longer than the text');
  const ratios = row.token_logratio;
  return Array.isArray(ratios) ? { tokens, token_logratio: ratios.map(Number) } : { tokens };
}

/** The text cut into pieces of the given lengths in code points (Python's str lengths), or null when too short. */
export function splitByCodePoints(text: string, lengths: readonly number[]): string[] | null {
  const out: string[] = new Array<string>(lengths.length);
  // Without surrogate pairs code points are UTF-16 units, and slices need no walk.
  const simple = !/[\uD800-\uDFFF]/.test(text);
  let at = 0;
  for (let k = 0; k < lengths.length; k++) {
    let end = at;
    if (simple) end = at + lengths[k];
    else {
      for (let n = 0; n < lengths[k]; n++) {
        if (end >= text.length) return null;
        end += (text.codePointAt(end) ?? 0) > 0xffff ? 2 : 1;
      }
    }
    if (end > text.length) return null;
    out[k] = text.slice(at, end);
    at = end;
  }
  return out;
}

function parseJson(path: string, text: string, column: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw corrupt(path, `column ${column} holds text that is not JSON`);
  }
}

function corrupt(path: string, what: string): Error {
  return new Error(`${path}: not a readable rollout file (${what}); delete it or let the trainer write the step again`);
}
