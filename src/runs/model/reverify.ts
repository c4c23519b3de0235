// Re-verifying a run (`python -m pacslab verify RUN`, trainer/pacslab/reverify.py) and reading its
// results from RUN/reverify/*.json. Everything read from a run folder is untrusted: shapes are checked,
// text is only ever shown as text, and nothing in it is run.
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { absoluteCommand, pythonEnv, withNeutralCwd } from '../../python/model/python';
import { parseBoundedJson, RUN_LIMITS } from '../../run/model/boundedJson';
import { isRealFolder, readRunFile, runFilePath } from '../../run/model/runFiles';
import { RUN_FILES } from '../../run/model/runFormat';

export const REVERIFY_DIR = RUN_FILES.reverifyDir;
export const HELDOUT_DIR = RUN_FILES.heldoutDir;
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
  /** The held-out results re-verified (`verify --eval`); null when the run was re-verified without. */
  heldout: HeldoutReverify | null;
}

/** A held-out measure (greedy accuracy, pass@k) from the recorded labels and under the new verifier. */
export interface BeforeAfter {
  before: number;
  after: number;
}

export interface HeldoutCounts {
  examples: number;
  checked: number;
  greedy: { up: number; down: number };
  sampled: StepCounts;
}

/** One eval set at one evaluation (`set` null: the task's own held-out split). */
export interface HeldoutSetResult extends HeldoutCounts {
  set: string | null;
  /** null when no example of the set could be re-verified. */
  accuracy: BeforeAfter | null;
  passAtK: (BeforeAfter & { k: number })[];
  /** Each data source's measures, sorted by source; empty unless the set mixes several. */
  sources: HeldoutSourceResult[];
}

/** One data source of an eval set that mixes several (the trainer's `eval/<set>/source=<name>/...`). */
export interface HeldoutSourceResult {
  dataSource: string;
  checked: number;
  accuracy: BeforeAfter;
  passAtK: (BeforeAfter & { k: number })[];
}

export interface HeldoutReverify {
  steps: { step: number; sets: HeldoutSetResult[] }[];
  total: HeldoutCounts;
}

export interface ReverifyOptions {
  runDir: string;
  python: string;
  /** A verifier spec (`exact`, `math`, `python:/abs/file.py:fn`...); default: the config's. */
  verifier?: string;
  /** The workspace config whose verifier, time limit and workers to use. */
  config?: string;
  timeoutMs?: number;
  /** Re-verify the held-out results of every evaluation too (`--eval`). */
  eval?: boolean;
}

export interface ReverifyOutput {
  file: string;
  verifier: string;
  total: StepCounts;
  heldout: HeldoutReverify | null;
}

/** Runs `python -m pacslab verify` on `runDir`; resolves the result file's path and totals. */
export function reverifyRun(options: ReverifyOptions): Promise<ReverifyOutput> {
  const args = ['-m', 'pacslab', 'verify', resolve(options.runDir), '--json'];
  if (options.config) args.push('--config', resolve(options.config));
  if (options.verifier) args.push('--verifier', options.verifier);
  if (options.eval) args.push('--eval');
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
        const out = JSON.parse(last) as { file?: unknown; verifier?: unknown; total?: unknown; eval?: unknown };
        const total = counts(out.total);
        const heldout = out.eval === undefined ? null : parseHeldoutPart(out.eval);
        if (typeof out.file === 'string' && typeof out.verifier === 'string' && total && (heldout || !options.eval)) {
          resolvePromise({ file: out.file, verifier: out.verifier, total, heldout });
          return;
        }
      } catch {
        // reported below
      }
      reject(new ReverifyError(`unexpected output from ${options.python}: ${last.slice(0, 200)}`));
    });
  }));
}

/** Whether the run recorded held-out results (a real `heldout/` folder), so `--eval` has something to re-verify. */
export async function hasHeldoutResults(runDir: string): Promise<boolean> {
  try {
    return await isRealFolder(join(runDir, HELDOUT_DIR));
  } catch {
    return false; // a link or a file in its place: nothing to offer
  }
}

/** The newest re-verification of the run, or null when it has none (or none readable). */
export async function readLatestReverify(runDir: string): Promise<ReverifyResult | null> {
  const folder = join(runDir, REVERIFY_DIR);
  if (!(await isRealFolder(folder))) return null;
  const names = (await readdir(folder)).filter((name) => RESULT_FILE.test(name)).sort().reverse();
  for (const name of names) {
    try {
      const text = await readRunFile(await runFilePath(runDir, `${REVERIFY_DIR}/${name}`), RUN_LIMITS.maxResultFileBytes);
      const parsed = parseReverify(parseBoundedJson(text));
      if (parsed) return parsed;
    } catch {
      // a file being written, a link, over the cap, nested too deep or not JSON: try the one before
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
    steps.set(s.step as number, { checked: isCount(s.checked) ? s.checked : 0, up: s.up.length, down: s.down.length, flips });
  }
  const heldout = value.eval === undefined ? null : parseHeldoutPart(value.eval);
  return { verifier: value.verifier, createdAt: typeof value.created_at === 'string' ? value.created_at : '', steps, total, heldout };
}

/** The `eval` part of a reverify/*.json object (or of `verify --json`'s output), checked; its flips
 * are not read. Null when it is not one; a step or set of the wrong shape is left out. */
export function parseHeldoutPart(value: unknown): HeldoutReverify | null {
  if (!isObject(value) || !Array.isArray(value.steps)) return null;
  const total = heldoutCounts(value.total);
  if (!total) return null;
  const steps: HeldoutReverify['steps'] = [];
  for (const s of value.steps) {
    if (!isObject(s) || !Number.isInteger(s.step) || !Array.isArray(s.sets)) continue;
    steps.push({ step: s.step as number, sets: s.sets.map(heldoutSet).filter((r): r is HeldoutSetResult => r !== null) });
  }
  return { steps, total };
}

function heldoutSet(value: unknown): HeldoutSetResult | null {
  const c = heldoutCounts(value);
  if (!c || !isObject(value) || (value.set !== null && typeof value.set !== 'string')) return null;
  const sources = (Array.isArray(value.sources) ? value.sources : []).map(heldoutSource)
    .filter((r): r is HeldoutSourceResult => r !== null);
  return { ...c, set: value.set, accuracy: beforeAfter(value.accuracy) ?? null, passAtK: passAtKOf(value.pass_at_k), sources };
}

/** A `sources` entry; null when it has no data source, count or accuracy. */
function heldoutSource(value: unknown): HeldoutSourceResult | null {
  if (!isObject(value) || typeof value.data_source !== 'string' || !isCount(value.checked)) return null;
  const accuracy = beforeAfter(value.accuracy);
  return accuracy ? { dataSource: value.data_source, checked: value.checked, accuracy, passAtK: passAtKOf(value.pass_at_k) } : null;
}

function passAtKOf(value: unknown): (BeforeAfter & { k: number })[] {
  return Object.entries(isObject(value) ? value : {})
    .map(([k, v]) => ({ k: Number(k), ...beforeAfter(v) }))
    .filter((p): p is BeforeAfter & { k: number } => Number.isInteger(p.k) && p.k > 0 && p.before !== undefined)
    .sort((a, b) => a.k - b.k);
}

function beforeAfter(value: unknown): BeforeAfter | undefined {
  const share = (x: unknown): x is number => typeof x === 'number' && x >= 0 && x <= 1;
  return isObject(value) && share(value.before) && share(value.after) ? { before: value.before, after: value.after } : undefined;
}

function heldoutCounts(value: unknown): HeldoutCounts | null {
  if (!isObject(value) || !isCount(value.examples) || !isCount(value.checked) || !isObject(value.greedy)) return null;
  const sampled = counts(value.sampled);
  const { up, down } = value.greedy;
  if (!sampled || !isCount(up) || !isCount(down)) return null;
  return { examples: value.examples, checked: value.checked, greedy: { up, down }, sampled };
}

const percent = (x: number): string => `${(100 * x).toFixed(1)}%`;
const changed = (c: { up: number; down: number }): number => c.up + c.down;

/** The most data sources whose accuracy change Re-verify Run… names per set; the rest are counted. */
const MESSAGE_SOURCES = 4;

/** What Re-verify Run… says when it is done: the training labels changed and, with the held-out
 * results, the greedy and sampled labels changed and each eval set's accuracy and pass@k before →
 * after at the last evaluation, with the data sources whose accuracy changed. Plain text (run ids,
 * set and source names and the spec are shown as text). */
export function reverifyMessage(runId: string, out: Pick<ReverifyOutput, 'verifier' | 'total' | 'heldout'>): string {
  const t = out.total;
  const training = t.checked
    ? `${changed(t)} of ${t.checked} training labels changed (${t.up} 0→1, ${t.down} 1→0)`
    : 'no training rollouts to re-verify';
  const parts = [`re-verified ${runId} with ${out.verifier}: ${training}.`];
  const h = out.heldout;
  if (h) {
    parts.push(`Held-out: ${changed(h.total.greedy)} of ${h.total.checked} greedy and ${changed(h.total.sampled)} of ${h.total.sampled.checked} sampled labels changed.`);
    const last = h.steps[h.steps.length - 1];
    const sets = (last?.sets ?? []).flatMap((r) => {
      if (!r.accuracy) return [];
      const measures = [{ name: 'accuracy', ...r.accuracy }, ...r.passAtK.map((p) => ({ name: `pass@${p.k}`, ...p }))];
      const name = r.set === null ? 'held-out split' : `set ${r.set}`;
      return [`${name}: ${measures.map((m) => `${m.name} ${percent(m.before)} → ${percent(m.after)}`).join(', ')}${sourceChanges(r.sources)}`];
    });
    if (sets.length) parts.push(`At step ${last.step}, ${sets.join('; ')}.`);
  }
  return parts.join(' ');
}

/** ` (accuracy by data source: A 50.0% → 100.0%, ...)` for the sources whose accuracy changed; empty when none did. */
function sourceChanges(sources: HeldoutSourceResult[]): string {
  const moved = sources.filter((x) => x.accuracy.before !== x.accuracy.after);
  if (!moved.length) return '';
  const named = moved.slice(0, MESSAGE_SOURCES).map((x) => `${x.dataSource} ${percent(x.accuracy.before)} → ${percent(x.accuracy.after)}`);
  const more = moved.length > MESSAGE_SOURCES ? `, ${moved.length - MESSAGE_SOURCES} more` : '';
  return ` (accuracy by data source: ${named.join(', ')}${more})`;
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
  return isCount(checked) && isCount(up) && isCount(down) ? { checked, up, down } : null;
}

function isCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
