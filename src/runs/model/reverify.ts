// Re-verifying a run (`python -m pacslab verify RUN`, trainer/pacslab/reverify.py) and reading its
// results from RUN/reverify/*.json. Everything read from a run folder is untrusted: shapes are checked,
// text is only ever shown as text, and nothing in it is run.
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { absoluteCommand, pythonEnv, withNeutralCwd } from '../../python/model/python';
import { isRealFolder, readRunFile, runFilePath } from '../../run/model/runFiles';

export const REVERIFY_DIR = 'reverify';
const RESULT_FILE = /^\d{8}T\d{6}\d*Z\.json$/;

export class ReverifyError extends Error {
  override name = 'ReverifyError';
}

/** A label a checker gave, with what it read and why. */
export interface Verdict {
  label: 0 | 1;
  parsed?: string | null;
  detail?: string | null;
  error?: string | null;
}

/** One sample whose label changed: before (as recorded) and after (the re-verification). */
export interface Flip {
  group: number;
  index: number;
  before: Verdict;
  after: Verdict;
}

export interface StepCounts {
  checked: number;
  up: number;
  down: number;
}

export interface ReverifyResult {
  verifier: string;
  createdAt: string;
  steps: Map<number, StepCounts & { flips: Flip[] }>;
  total: StepCounts;
}

export interface ReverifyOptions {
  runDir: string;
  python: string;
  /** A verifier spec (`exact`, `math`, `python:/abs/file.py:fn`...); default: the config's. */
  verifier?: string;
  /** The workspace config whose verifier, time limit and workers to use. */
  config?: string;
  timeoutMs?: number;
}

/** Runs `python -m pacslab verify` on `runDir`; resolves the result file's path and totals. */
export function reverifyRun(options: ReverifyOptions): Promise<{ file: string; verifier: string; total: StepCounts }> {
  const args = ['-m', 'pacslab', 'verify', resolve(options.runDir), '--json'];
  if (options.config) args.push('--config', resolve(options.config));
  if (options.verifier) args.push('--verifier', options.verifier);
  // started in an empty folder: neither the run folder nor the workspace root is put on sys.path
  return withNeutralCwd((cwd) => new Promise((resolvePromise, reject) => {
    execFile(absoluteCommand(options.python), args, { cwd, env: pythonEnv(), timeout: options.timeoutMs ?? 1800000, maxBuffer: 16 << 20, windowsHide: true }, (err, stdout, stderr) => {
      if (err) {
        const lines = stderr.trim().split('\n').filter(Boolean);
        const why = lines.slice(-6).join('\n').replace(/^verify: /, '') || err.message;
        reject(new ReverifyError(why));
        return;
      }
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        const out = JSON.parse(last) as { file?: unknown; verifier?: unknown; total?: unknown };
        const total = counts(out.total);
        if (typeof out.file === 'string' && typeof out.verifier === 'string' && total) {
          resolvePromise({ file: out.file, verifier: out.verifier, total });
          return;
        }
      } catch {
        // reported below
      }
      reject(new ReverifyError(`unexpected output from ${options.python}: ${last.slice(0, 200)}`));
    });
  }));
}

/** The newest re-verification of the run, or null when it has none (or none readable). */
export async function readLatestReverify(runDir: string): Promise<ReverifyResult | null> {
  const folder = join(runDir, REVERIFY_DIR);
  if (!(await isRealFolder(folder))) return null;
  const names = (await readdir(folder)).filter((name) => RESULT_FILE.test(name)).sort().reverse();
  for (const name of names) {
    try {
      const parsed = parseReverify(JSON.parse(await readRunFile(await runFilePath(runDir, `${REVERIFY_DIR}/${name}`))));
      if (parsed) return parsed;
    } catch {
      // a file being written, a link or not JSON: try the one before
    }
  }
  return null;
}

/** A reverify/*.json object, checked; null when it is not one. */
export function parseReverify(value: unknown): ReverifyResult | null {
  if (!isObject(value) || typeof value.verifier !== 'string' || !Array.isArray(value.steps)) return null;
  const total = counts(value.total);
  if (!total) return null;
  const steps = new Map<number, StepCounts & { flips: Flip[] }>();
  for (const s of value.steps) {
    if (!isObject(s) || !Number.isInteger(s.step) || !Array.isArray(s.up) || !Array.isArray(s.down)) continue;
    const flips = [...s.up, ...s.down].map(flip).filter((f): f is Flip => f !== null);
    steps.set(s.step as number, { checked: Number(s.checked) || 0, up: s.up.length, down: s.down.length, flips });
  }
  return { verifier: value.verifier, createdAt: typeof value.created_at === 'string' ? value.created_at : '', steps, total };
}

function flip(value: unknown): Flip | null {
  if (!isObject(value) || !Number.isInteger(value.group) || !Number.isInteger(value.index)) return null;
  const before = verdict(value.before);
  const after = verdict(value.after);
  if (!before || !after) return null;
  return { group: value.group as number, index: value.index as number, before, after };
}

/** A verdict object from a record (`audit`) or a re-verification; null when it has no 0/1 label. */
export function verdict(value: unknown): Verdict | null {
  if (!isObject(value) || (value.label !== 0 && value.label !== 1)) return null;
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return { label: value.label, parsed: text(value.parsed), detail: text(value.detail), error: text(value.error) };
}

function counts(value: unknown): StepCounts | null {
  if (!isObject(value)) return null;
  const { checked, up, down } = value;
  return [checked, up, down].every((n) => Number.isInteger(n) && (n as number) >= 0)
    ? { checked: checked as number, up: up as number, down: down as number }
    : null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
