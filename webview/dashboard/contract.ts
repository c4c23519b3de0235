// The dashboard's message contract: the DashboardState the host sends whole, the page's
// messages back, and what the page keeps across sessions (webview/shared/contract.ts has the rest).

import { isInt, isRecord, isString, messageGuard, type RunSummary } from '../shared/contract';

export interface SeriesData {
  runId: string;
  metric: string;
  xs: number[];
  ys: (number | null)[];
  /** Each point's event time (Unix seconds), null where unknown: the x axis in time. */
  ts: (number | null)[];
  /** The EMA at `DashboardState.smoothing`, computed before decimation; null when not smoothed (evaluations, weight 0). */
  smoothed: (number | null)[] | null;
  /** Points before decimation: grows while a run trains. */
  rawCount: number;
  /** The value of a series that never moves (two or more points), else null: such a series is noted, not drawn, next to moving ones. */
  constant: number | null;
}

export interface ChartFamily {
  /** Stable id: the chart canvas is `#chart-<id>`. */
  id: string;
  title: string;
  series: SeriesData[];
}

export interface Histogram {
  /** Bin edges, length = bins + 1. */
  edges: number[];
  /** Counts of samples with R = 1 per bin. */
  positive: number[];
  /** Counts of samples with R = 0 per bin. */
  negative: number[];
}

export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  /** Mean σ(ψ) of the bin's samples; null for an empty bin. */
  confidence: number | null;
  /** Fraction of the bin's samples with R = 1; null for an empty bin. */
  accuracy: number | null;
}

export interface Reliability {
  bins: ReliabilityBin[];
  /** Expected calibration error; null when no sample has a probability. */
  ece: number | null;
  /** Samples binned. */
  count: number;
}

export interface CriticView {
  runId: string;
  step: number;
  samples: number;
  badLines: number;
  histogram: Histogram;
  reliability: Reliability;
}

export interface ConfigDiffRow {
  /** Dotted path, e.g. `pacs.beta`. */
  key: string;
  /** One display value per run of `ConfigDiff.runIds`; null where the run lacks the key. */
  values: (string | null)[];
}

export interface ConfigDiff {
  runIds: string[];
  rows: ConfigDiffRow[];
  /** Keys compared in all (differing or not). */
  keyCount: number;
}

/** A metric's value and the step it was logged at. */
export interface StepValue {
  step: number;
  value: number;
}

/** One run's headline numbers for the dashboard's summary table. */
export interface RunScore {
  runId: string;
  /** The best `eval/accuracy` (the earliest step that reached it). */
  bestAccuracy: StepValue | null;
  /** The newest evaluation's accuracy and the pass@k of its largest k (`metric` names it). */
  lastAccuracy: StepValue | null;
  lastPassAtK: (StepValue & { metric: string }) | null;
  /** Means over the last tenth of the run's training steps (at least one step): [first, last] step. */
  window: [number, number] | null;
  reward: number | null;
  criticAuc: number | null;
  criticAccuracy: number | null;
  /** Each named eval set (`eval/<name>/accuracy`, config eval.sets), by name. */
  evalSets: EvalSetScore[];
}

/** A named eval set's best (earliest step that reached it) and newest accuracy. */
export interface EvalSetScore {
  name: string;
  best: StepValue | null;
  last: StepValue | null;
}

/** An `alert` event of a run shown, for the markers on the charts (webview/dashboard/alertMarkers.ts). */
export interface AlertMarker {
  runId: string;
  step: number;
  rule: string;
  action: string;
}

export interface DashboardState {
  runs: RunSummary[];
  /** The alerts of the runs shown (absent from a state of an older host: no markers). */
  alerts?: AlertMarker[];
  /** One per run of `runs`, in the same order. */
  scores: RunScore[];
  /** Run ids asked for but not found in the runs root. */
  missing: string[];
  families: ChartFamily[];
  /** The run whose rollouts feed the critic view, and the steps that have rollouts. */
  criticRunId: string | null;
  rolloutSteps: number[];
  critic: CriticView | null;
  /** Why the critic view is empty (a step file that cannot be read), or null. */
  criticError: string | null;
  configDiff: ConfigDiff;
  /** The smoothing weight the series' `smoothed` values were computed with. */
  smoothing: number;
  /** The sweep all these runs belong to (Compare Sweep), or null/absent (src/sweeps/model/sweepView.ts). */
  sweep?: SweepView | null;
  /** The prompt ledgers of the runs shown, as charts (src/diagnostics/model/promptHealth.ts reads them); absent from a state of an older host. */
  prompts?: PromptCharts;
}

/** A ledger's steps: in the file, drawn (at most 400, evenly spaced) and lines skipped. */
export interface LedgerSteps {
  runId: string;
  steps: number;
  drawn: number;
  badLines: number;
}

/**
 * The Prompts section: per run with a ledger, the share of its prompts seen so far in each status
 * (family `prompt-status`, one series per run and status) and the share of each step's groups all
 * correct / all wrong / mixed (`group-shares`), on the step axis.
 */
export interface PromptCharts {
  families: ChartFamily[];
  /** The runs with a ledger, in the order of `DashboardState.runs`. */
  ledgers: LedgerSteps[];
  /** The runs shown that have none (runs from before the ledger, imports without records). */
  withoutLedger: string[];
}

/** Parallel coordinates of a sweep: one row per trial, one value per axis (its parameters, then the metric). */
export interface PcpData {
  axes: string[];
  /** For an axis of text (or true/false) values, its categories in order (a row holds the index); null for a number axis. */
  categories: (string[] | null)[];
  rows: { trial: number; state: 'running' | 'complete' | 'pruned' | 'failed'; values: (number | null)[] }[];
}

/** A sweep in the dashboard: progress, parameters → metric per trial, Optuna's parameter importance. */
export interface SweepView {
  id: string;
  name: string;
  status: string;
  progress: string;
  best: string;
  metric: string;
  goal: 'maximize' | 'minimize';
  bestTrial: number | null;
  pcp: PcpData;
  importance: { param: string; value: number }[];
  /** Why there is no importance yet (too few finished trials), or null. */
  importanceNote: string | null;
  pruned: { trial: number; step: number; reason: string }[];
  failed: { trial: number; error: string }[];
}

export type DashboardHostMessage = { type: 'state'; state: DashboardState };

export type DashboardWebviewMessage =
  | { type: 'ready' }
  /** A step without rollouts (such as -1) selects the run's latest step with rollouts. */
  | { type: 'selectCriticStep'; runId: string; step: number }
  | { type: 'inspectRollouts'; runId: string; step: number }
  /** The smoothing weight (0 to 0.99) the host computes the training curves' EMA with; sent after `ready` too. */
  | { type: 'setSmoothing'; weight: number }
  /** Save the full-resolution points of these series as CSV (the host asks where). */
  | { type: 'exportCsv'; series: SeriesRef[] }
  /** Save a chart as PNG: `dataUrl` is the canvas's `data:image/png;base64,...`. */
  | { type: 'exportPng'; name: string; dataUrl: string };

/** One run's metric. */
export interface SeriesRef {
  runId: string;
  metric: string;
}

/** The x axis of the metric charts: training step, seconds since the run's first point, or the clock. */
export const X_AXES = ['step', 'relative', 'wall'] as const;
export type XAxis = (typeof X_AXES)[number];

/** What the dashboard keeps with vscode.setState: enough for the serializer to reopen it. */
export interface DashboardPersistedState {
  runIds: string[];
  criticRunId: string | null;
  criticStep: number | null;
  /** Page scroll, restored when the webview is re-created. */
  scrollY?: number;
  /** Smoothing weight of the training-metric charts, 0 to 0.99. */
  smoothing?: number;
  xAxis?: XAxis;
  /** Chart ids drawn with a logarithmic y axis. */
  logCharts?: string[];
  /** The metric filter box's text. */
  metricFilter?: string;
  /** Runs toggled off the charts in the runs table. */
  hiddenRuns?: string[];
  /** Runs that differ only by seed drawn as their mean ± std, and their own lines too. */
  groupSeeds?: boolean;
  seedLines?: boolean;
}

export const isDashboardWebviewMessage = messageGuard<DashboardWebviewMessage>({
  selectCriticStep: (v) => isString(v.runId) && isInt(v.step),
  inspectRollouts: (v) => isString(v.runId) && isInt(v.step),
  setSmoothing: (v) => typeof v.weight === 'number' && Number.isFinite(v.weight),
  exportCsv: (v) => Array.isArray(v.series) && v.series.every((r) => isRecord(r) && isString(r.runId) && isString(r.metric)),
  exportPng: (v) => isString(v.name) && isString(v.dataUrl),
});

export function isDashboardHostMessage(value: unknown): value is DashboardHostMessage {
  return isRecord(value) && value.type === 'state' && isRecord(value.state);
}
