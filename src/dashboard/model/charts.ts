// Chart data for the dashboard, shaped on the host: metric families, decimation, the ψ_post
// histogram, the reliability diagram with its ECE, and the table of differing config keys.
// Pure functions of run data; no vscode, no DOM.

import type { ChartFamily, ConfigDiff, CriticView, Histogram, Reliability, ReliabilityBin, RunScore, StepValue, SeriesData } from '../../../webview/dashboard/contract';
import type { RunSummary } from '../../../webview/shared/contract';
import type { RolloutSample, RunInfo } from '../../run/model/runFormat';
import { commitLabel, isCorrect, isEvaluationMetric } from '../../run/model/runModel';
import { smooth } from './smoothing';

export interface MetricSeries {
  steps: number[];
  values: number[];
  /** Each point's event time (Unix seconds); null, or absent, where unknown. */
  times?: (number | null)[];
}

export interface RunMetrics {
  runId: string;
  series: ReadonlyMap<string, MetricSeries>;
  /** The run's loss metric (runModel.lossMetric); charted in the loss family. */
  lossMetric: string;
}

interface FamilyRule {
  id: string;
  title: string;
  matches: (metric: string, lossMetric: string) => boolean;
}

const prefix = (p: string) => (metric: string) => metric.startsWith(p);
const oneOf = (...names: string[]) => (metric: string) => names.includes(metric);

/** Known families, in display order. A metric no rule claims gets a family named by its prefix. */
const FAMILY_RULES: readonly FamilyRule[] = [
  { id: 'reward', title: 'Reward', matches: prefix('reward/') },
  { id: 'loss', title: 'Loss (PACS / GRPO / RLOO) and the critic after the update', matches: (m, loss) => m === loss || m === 'critic/bce' },
  { id: 'critic', title: 'Implicit critic: AUC, ECE, accuracy', matches: oneOf('critic/auc', 'critic/ece', 'critic/accuracy') },
  { id: 'psi', title: 'ψ and class weights', matches: (m, loss) => m.startsWith('critic/psi_') || (m.startsWith('pacs/') && m !== loss) },
  { id: 'eval', title: 'Evaluation: accuracy and pass@k', matches: prefix('eval/') },
  { id: 'grad-norm', title: 'Gradient norm', matches: oneOf('optim/grad_norm') },
  { id: 'length', title: 'Response length', matches: oneOf('response/length_mean', 'response/length_max') },
  { id: 'truncated', title: 'Truncated responses', matches: oneOf('response/truncated_frac') },
  { id: 'entropy', title: 'Policy entropy', matches: oneOf('policy/entropy') },
  { id: 'grpo', title: 'GRPO clipping and KL', matches: oneOf('grpo/clip_frac', 'grpo/kl') },
  { id: 'throughput', title: 'Throughput', matches: oneOf('perf/samples_per_s', 'perf/tokens_per_s') },
  { id: 'timing', title: 'Step time (s)', matches: (m) => m.startsWith('perf/') && m.endsWith('_s') && !m.endsWith('_per_s') },
  { id: 'lr', title: 'Learning rate', matches: oneOf('optim/lr') },
  { id: 'optim', title: 'Optimizer', matches: prefix('optim/') },
];

/** The chart a metric belongs to; `lossMetric` is the run's (runModel.lossMetric). */
export function familyOf(metric: string, lossMetric: string): { id: string; title: string } {
  const rule = FAMILY_RULES.find((r) => r.matches(metric, lossMetric));
  if (rule) return { id: rule.id, title: rule.title };
  const head = metric.includes('/') ? metric.slice(0, metric.indexOf('/')) : metric;
  return { id: `other-${head.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`, title: head };
}

export const MAX_POINTS_PER_SERIES = 1000;

/**
 * Decimates a series to at most `maxPoints` points: keeps the first and the last point and, in
 * each of the equal-count buckets between them, the minimum and the maximum (so spikes survive),
 * in step order. Null values are gaps; a bucket of only gaps keeps one gap.
 */
export function decimate(
  xs: readonly number[],
  ys: readonly (number | null)[],
  maxPoints = MAX_POINTS_PER_SERIES,
): { xs: number[]; ys: (number | null)[] } {
  const keep = decimationIndices(ys.slice(0, Math.min(xs.length, ys.length)), maxPoints);
  return { xs: keep.map((i) => xs[i]), ys: keep.map((i) => ys[i]) };
}

/** The indices `decimate` keeps, so a series' times and smoothed values are picked at the same points. */
export function decimationIndices(ys: readonly (number | null)[], maxPoints = MAX_POINTS_PER_SERIES): number[] {
  const n = ys.length;
  if (n <= maxPoints || maxPoints < 4) return [...Array(n).keys()];
  const keep: number[] = [0];
  const buckets = Math.floor((maxPoints - 2) / 2);
  const interior = n - 2;
  for (let b = 0; b < buckets; b++) {
    const start = 1 + Math.floor((b * interior) / buckets);
    const end = 1 + Math.floor(((b + 1) * interior) / buckets);
    let lo = -1;
    let hi = -1;
    for (let i = start; i < end; i++) {
      const y = ys[i];
      if (y === null) continue;
      if (lo < 0 || y < (ys[lo] as number)) lo = i;
      if (hi < 0 || y > (ys[hi] as number)) hi = i;
    }
    if (lo < 0) {
      if (start < end) keep.push(start);
      continue;
    }
    keep.push(Math.min(lo, hi));
    if (hi !== lo) keep.push(Math.max(lo, hi));
  }
  keep.push(n - 1);
  return keep;
}

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

/**
 * One chart per metric family, each run's metrics overlaid on a shared step axis: every point
 * keeps its own step, so runs logged at different steps (or evaluated every k steps) line up.
 */
export function buildFamilies(runs: readonly RunMetrics[], maxPoints = MAX_POINTS_PER_SERIES, smoothing = 0): ChartFamily[] {
  const families = new Map<string, ChartFamily>();
  for (const run of runs) {
    for (const [metric, raw] of run.series) {
      if (raw.steps.length === 0) continue;
      const { id, title } = familyOf(metric, run.lossMetric);
      const family = families.get(id) ?? { id, title, series: [] };
      families.set(id, family);
      family.series.push(seriesData(run.runId, metric, sortBySteps(raw), maxPoints, smoothing));
    }
  }
  const order = (id: string) => {
    const i = FAMILY_RULES.findIndex((r) => r.id === id);
    return i < 0 ? FAMILY_RULES.length : i;
  };
  const result = [...families.values()].sort((a, b) => order(a.id) - order(b.id) || a.id.localeCompare(b.id));
  for (const family of result) family.series.sort(bySeries(runs));
  return result;
}

/**
 * One series as charted: decimated to `maxPoints`, with its times and, for a training metric and
 * a weight above 0, its EMA computed over every raw point first (smoothing the decimated min/max
 * pairs instead would pull a spiky curve towards its extremes).
 */
function seriesData(runId: string, metric: string, ordered: MetricSeries, maxPoints: number, smoothing: number): SeriesData {
  const values = ordered.values.map(finiteOrNull);
  const keep = decimationIndices(values, maxPoints);
  const smoothed = smoothing > 0 && !isEvaluationMetric(metric) ? smooth(values, smoothing) : null;
  return {
    runId,
    metric,
    xs: keep.map((i) => ordered.steps[i]),
    ys: keep.map((i) => values[i]),
    ts: keep.map((i) => ordered.times?.[i] ?? null),
    smoothed: smoothed && keep.map((i) => smoothed[i]),
    rawCount: ordered.steps.length,
    constant: constantValue(values),
  };
}

/**
 * The value of a series that never moves (up to float rounding) over at least two points, such as
 * `pacs/weight_mean` at 1 or a one-update step's loss at ln 2; null for a series that moves.
 */
export function constantValue(values: readonly (number | null)[]): number | null {
  let lo = Infinity;
  let hi = -Infinity;
  let count = 0;
  for (const v of values) {
    if (v === null) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
    count++;
  }
  if (count < 2) return null;
  return hi - lo <= Math.max(Math.abs(lo), Math.abs(hi)) * 1e-9 ? lo : null;
}

function bySeries(runs: readonly RunMetrics[]) {
  const runIndex = new Map(runs.map((r, i) => [r.runId, i]));
  return (a: SeriesData, b: SeriesData) =>
    a.metric.localeCompare(b.metric) || (runIndex.get(a.runId) ?? 0) - (runIndex.get(b.runId) ?? 0);
}

function sortBySteps(series: MetricSeries): MetricSeries {
  const n = Math.min(series.steps.length, series.values.length);
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = series.steps[i - 1] <= series.steps[i];
  if (sorted && n === series.steps.length && n === series.values.length) return series;
  const idx = [...Array(n).keys()].sort((a, b) => series.steps[a] - series.steps[b]);
  return { steps: idx.map((i) => series.steps[i]), values: idx.map((i) => series.values[i]), times: idx.map((i) => series.times?.[i] ?? null) };
}

type CriticFields = Pick<RolloutSample, 'psi' | 'p_correct' | 'reward'>;

/** Histogram of ψ_post split by label over `bins` equal-width bins spanning the observed range. */
export function psiHistogram(samples: readonly CriticFields[], bins = 30): Histogram {
  const psis = samples.map((s) => s.psi).filter(Number.isFinite);
  let lo = psis.length ? Math.min(...chunkMin(psis)) : -1;
  let hi = psis.length ? Math.max(...chunkMax(psis)) : 1;
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * width);
  edges[bins] = hi;
  const positive = new Array<number>(bins).fill(0);
  const negative = new Array<number>(bins).fill(0);
  for (const s of samples) {
    if (!Number.isFinite(s.psi)) continue;
    const b = Math.min(bins - 1, Math.max(0, Math.floor((s.psi - lo) / width)));
    (isCorrect(s.reward) ? positive : negative)[b]++;
  }
  return { edges, positive, negative };
}

// Math.min(...xs) overflows the call stack for 100k+ values: reduce in chunks first.
function chunkMin(xs: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < xs.length; i += 10000) out.push(Math.min(...xs.slice(i, i + 10000)));
  return out;
}
function chunkMax(xs: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < xs.length; i += 10000) out.push(Math.max(...xs.slice(i, i + 10000)));
  return out;
}

/**
 * Reliability diagram of σ(ψ_post) against the empirical accuracy, `bins` equal-width bins on
 * [0, 1] (p = 1 falls in the last bin), and ECE = Σ_b (n_b / N) · |accuracy_b − confidence_b|,
 * null when no sample is binned. A p_correct that is not a number in [0, 1] (NaN from a diverged
 * step, or garbage in an untrusted file) is left out. The same numbers as the trainer's
 * `reliability_bins` and `expected_calibration_error` (metrics.py, which raises on a finite value
 * outside [0, 1]): test/unit/fixtures/reliability-parity.json.
 */
export function reliability(samples: readonly CriticFields[], bins = 10): Reliability {
  const count = new Array<number>(bins).fill(0);
  const confSum = new Array<number>(bins).fill(0);
  const correct = new Array<number>(bins).fill(0);
  let total = 0;
  for (const s of samples) {
    const p = s.p_correct;
    if (!(typeof p === 'number' && p >= 0 && p <= 1)) continue;
    const b = Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
    count[b]++;
    confSum[b] += p;
    if (isCorrect(s.reward)) correct[b]++;
    total++;
  }
  let ece: number | null = total ? 0 : null;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const n = count[b];
    const confidence = n ? confSum[b] / n : null;
    const accuracy = n ? correct[b] / n : null;
    if (n) ece = (ece as number) + (n / total) * Math.abs((accuracy as number) - (confidence as number));
    out.push({ lo: b / bins, hi: (b + 1) / bins, count: n, confidence, accuracy });
  }
  return { bins: out, ece, count: total };
}

export function criticView(runId: string, step: number, samples: readonly CriticFields[], badLines: number): CriticView {
  return {
    runId,
    step,
    samples: samples.length,
    badLines,
    histogram: psiHistogram(samples),
    reliability: reliability(samples),
  };
}

/** Flattens nested config objects to dotted keys; arrays and scalars are leaves. */
export function flattenConfig(config: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (typeof config === 'object' && config !== null && !Array.isArray(config)) {
    const entries = Object.entries(config as Record<string, unknown>);
    if (entries.length === 0 && path) out.set(path, '{}');
    for (const [key, value] of entries) flattenConfig(value, path ? `${path}.${key}` : key, out);
    return out;
  }
  if (path) out.set(path, typeof config === 'string' ? config : JSON.stringify(config) ?? 'null');
  return out;
}

/** Only the keys whose value differs between the runs (a key some runs lack differs). */
export function configDiff(runIds: readonly string[], configs: readonly (unknown | null)[]): ConfigDiff {
  const flat = configs.map((c) => (c === null || c === undefined ? null : flattenConfig(c)));
  const keys = new Set<string>();
  for (const f of flat) f?.forEach((_, k) => keys.add(k));
  const rows = [...keys]
    .sort()
    .map((key) => ({ key, values: flat.map((f) => f?.get(key) ?? null) }))
    .filter((row) => runIds.length > 1 && new Set(row.values).size > 1);
  return { runIds: [...runIds], rows, keyCount: keys.size };
}

export function runSummary(info: RunInfo): RunSummary {
  return {
    id: info.id,
    name: info.name,
    algorithm: String(info.algorithm),
    status: info.status,
    step: info.step,
    totalSteps: info.total_steps,
    commit: commitLabel(info.git),
  };
}

/** The share of a run's newest training steps its summary means are taken over. */
export const SCORE_WINDOW = 0.1;

/**
 * A run's headline numbers (the dashboard's summary table): the best and the newest held-out
 * accuracy, the newest pass@k, and reward and critic quality averaged over the last tenth of the
 * training steps, where single steps are noisy. Non-finite values are left out.
 */
export function runScore(runId: string, series: ReadonlyMap<string, MetricSeries>): RunScore {
  const points = (metric: string) => finitePoints(series, metric);
  const accuracy = points('eval/accuracy');
  const best = bestOf(accuracy);
  const evalSets = [...series.keys()]
    .map((m) => EVAL_SET_ACCURACY.exec(m)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort()
    .map((name) => {
      const set = points(`eval/${name}/accuracy`);
      return { name, best: bestOf(set), last: set.at(-1) ?? null };
    });
  const passMetrics = [...series.keys()]
    .map((m) => ({ m, k: /^eval\/pass@(\d+)$/.exec(m)?.[1] }))
    .filter((x): x is { m: string; k: string } => x.k !== undefined)
    .sort((a, b) => Number(b.k) - Number(a.k));
  const pass = passMetrics.length ? points(passMetrics[0].m).at(-1) : undefined;
  const window = scoreWindow(series);
  return {
    runId,
    bestAccuracy: best,
    lastAccuracy: accuracy.at(-1) ?? null,
    lastPassAtK: pass ? { ...pass, metric: passMetrics[0].m } : null,
    window,
    reward: windowMean(points('reward/mean'), window),
    criticAuc: windowMean(points('critic/auc'), window),
    criticAccuracy: windowMean(points('critic/accuracy'), window),
    evalSets,
  };
}

/**
 * The reward a run is ranked by wherever runs are compared (the dashboard's summary, the
 * CodeLens's "best reward"): the mean of `reward/mean` over its last tenth of training steps.
 */
export function recentReward(series: ReadonlyMap<string, MetricSeries>): number | null {
  return windowMean(finitePoints(series, 'reward/mean'), scoreWindow(series));
}

function finitePoints(series: ReadonlyMap<string, MetricSeries>, metric: string): StepValue[] {
  const s = series.get(metric);
  if (!s) return [];
  const ordered = sortBySteps(s);
  return ordered.steps.map((step, i) => ({ step, value: ordered.values[i] })).filter((p) => Number.isFinite(p.value));
}

/** The first and last step of a run's newest tenth of training steps (at least one); null before the first. */
function scoreWindow(series: ReadonlyMap<string, MetricSeries>): [number, number] | null {
  const trainSteps = finitePoints(series, 'reward/mean').map((p) => p.step);
  if (!trainSteps.length) return null;
  const count = Math.max(1, Math.ceil(trainSteps.length * SCORE_WINDOW));
  return [trainSteps[trainSteps.length - count], trainSteps[trainSteps.length - 1]];
}

function windowMean(points: readonly StepValue[], window: [number, number] | null): number | null {
  if (!window) return null;
  const [from, to] = window;
  const inWindow = points.filter((p) => p.step >= from && p.step <= to);
  return inWindow.length ? inWindow.reduce((sum, p) => sum + p.value, 0) / inWindow.length : null;
}

/** A named eval set's accuracy (`eval/<name>/accuracy`); per-source metrics (`source=...`) are not sets. */
const EVAL_SET_ACCURACY = /^eval\/([^/=]+)\/accuracy$/;

/** The highest value, the earliest step on a tie. */
function bestOf(points: StepValue[]): StepValue | null {
  let best: StepValue | null = null;
  for (const p of points) if (!best || p.value > best.value) best = p;
  return best;
}

/** A series as exported: which run and metric, and its full-resolution points. */
export interface ExportedSeries {
  runId: string;
  metric: string;
  series: MetricSeries;
}

/**
 * CSV of full-resolution series in long form, one row per point: `run,metric,step,t,value` (`t`
 * in Unix seconds, empty where unknown). Run ids and metric names come from run files: quoted
 * when they hold a comma, quote or line break, and prefixed with `'` when they start like a
 * spreadsheet formula.
 */
export function seriesCsv(exported: readonly ExportedSeries[]): string {
  const lines = ['run,metric,step,t,value'];
  for (const { runId, metric, series } of exported) {
    const ordered = sortBySteps(series);
    const run = csvText(runId);
    const name = csvText(metric);
    ordered.steps.forEach((step, i) => {
      const value = ordered.values[i];
      const t = ordered.times?.[i];
      lines.push(`${run},${name},${step},${t ?? ''},${Number.isFinite(value) ? value : ''}`);
    });
  }
  return `${lines.join('\n')}\n`;
}

function csvText(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
