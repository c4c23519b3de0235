// The event fold of one run: events.jsonl records, in order, folded into the RunState snapshot
// the views show (latest metrics, series, checkpoints, warnings, steps/s). Pure: no files, no
// clock; runStore.ts reads the events and liveness.ts judges whether the trainer is still there.
import type { BadLine } from '../../run/model/events';
import type { AlertEvent, KnownRunEvent, RunError, RunInfo, RunStatus } from '../../run/model/runFormat';
import { foldAlert } from '../../diagnostics/model/alerts';
import { isTrainingStep, parseEvent } from '../../run/model/runModel';

export interface MetricSeries {
  steps: number[];
  values: number[];
  /** Each point's event time (`t`, Unix seconds); null where the event had none. */
  times: (number | null)[];
}

export interface CheckpointRef {
  step: number;
  /** As written in the `checkpoint` event (relative to the run directory). */
  path: string;
}

export interface EventStats {
  /** Complete lines read from events.jsonl. */
  lines: number;
  /** Bytes of events.jsonl consumed. */
  bytes: number;
  /** Lines that were not valid JSON or not an event object. */
  badLines: number;
  /** The first few bad lines, for a message to the user. */
  firstBadLines: BadLine[];
  /** `t` of the newest event (unix seconds), or null. */
  lastEventT: number | null;
}

/** A snapshot of one run. Treat it as read-only: a new object replaces it on every change, and only then. */
export interface RunState {
  /**
   * The store's key of the run: the run directory's name, which is the run id; for a run whose
   * id an earlier runs root also holds, `<run id>@<root number>` (1-based), so both are shown.
   */
  id: string;
  dir: string;
  /** The runs root the run was found under. */
  root: string;
  /** True when another runs root holds a run with the same id (the views then name the root). */
  idInOtherRoot: boolean;
  info: RunInfo;
  /** run.json's `name` (the config's name). */
  configName: string;
  status: RunStatus;
  /** The newest value of every metric seen. */
  latest: Record<string, number>;
  /** The step of the newest `metrics` or `eval` event, or null before the first. */
  lastMetricStep: number | null;
  checkpoints: CheckpointRef[];
  /** The highest `control_ack` seq seen (0 when none). */
  lastAckSeq: number;
  events: EventStats;
  /** `t` of the first `run_started` event (unix seconds). */
  startedAt: number | null;
  /** `t` of the last `run_finished` event (unix seconds). */
  finishedAt: number | null;
  /** Training steps per second over the last few `metrics` events (evaluations excluded), or null. */
  stepsPerSecond: number | null;
  /** The last `error` event, or run.json's error. */
  lastError: RunError | null;
  /** True when the run is `crashed` (found dead by this store or earlier). */
  crashed: boolean;
  /**
   * Why a live run on another host is judged lost (its heartbeat stopped), else null. Not written
   * to run.json: the heartbeat may come back (a file-system hiccup), or Slurm confirm a crash.
   */
  lost: string | null;
  /** The run's health alerts (`alert` events), oldest first, the newest MAX_WARNINGS (src/diagnostics/model/alerts.ts). */
  alerts: AlertEvent[];
  /** The run's warnings (`log` events of level warning or error), oldest first, the newest MAX_WARNINGS. */
  warnings: RunWarning[];
  /** How many warnings the run has logged in all (the list keeps the newest only). */
  warningCount: number;
}

export interface RunWarning {
  step: number | null;
  level: string;
  message: string;
}

/** Warnings a run's state keeps (a verifier that fails every step warns every step). */
export const MAX_WARNINGS = 20;

const RATE_WINDOW = 10;
const KEPT_BAD_LINES = 5;

/** What the fold keeps between reads besides the RunState: the series and the rollout steps seen. */
export interface FoldEntry {
  series: Map<string, MetricSeries>;
  rolloutSteps: Set<number>;
  rolloutStepsSorted: number[] | null;
  /** (step, t) of recent training steps (`metrics` events), for steps/s. */
  recent: Array<[number, number]>;
}

export function emptyState(id: string, dir: string, root: string, info: RunInfo): RunState {
  return {
    id,
    dir,
    root,
    idInOtherRoot: false,
    info,
    configName: info.name,
    status: info.status,
    latest: {},
    lastMetricStep: null,
    checkpoints: [],
    lastAckSeq: 0,
    events: { lines: 0, bytes: 0, badLines: 0, firstBadLines: [], lastEventT: null },
    startedAt: null,
    finishedAt: null,
    stepsPerSecond: null,
    lastError: info.error,
    crashed: info.status === 'crashed',
    lost: null,
    warnings: [],
    alerts: [],
    warningCount: 0,
  };
}

export function applyEvents(entry: FoldEntry, previous: RunState, records: unknown[], badLines: BadLine[]): RunState {
  const state: RunState = {
    ...previous,
    latest: { ...previous.latest },
    checkpoints: [...previous.checkpoints],
    warnings: [...previous.warnings],
    alerts: [...previous.alerts],
    events: { ...previous.events, firstBadLines: [...previous.events.firstBadLines] },
  };
  const bad = [...badLines];
  for (const record of records) {
    const parsed = parseEvent(record);
    if (parsed.kind === 'bad') {
      bad.push({ line: 0, snippet: JSON.stringify(record).slice(0, 120), error: parsed.error });
      continue;
    }
    if (parsed.event.t !== null) state.events.lastEventT = parsed.event.t;
    if (parsed.kind === 'known') applyEvent(entry, state, parsed.event);
  }
  state.events.badLines += bad.length;
  for (const line of bad) {
    if (state.events.firstBadLines.length < KEPT_BAD_LINES) state.events.firstBadLines.push(line);
  }
  state.stepsPerSecond = rate(entry.recent);
  return state;
}

function applyEvent(entry: FoldEntry, state: RunState, event: KnownRunEvent): void {
  const { t } = event;
  switch (event.type) {
    case 'metrics':
    case 'eval': {
      const { step } = event;
      for (const [name, value] of Object.entries(event.values)) {
        appendPoint(entry.series, name, step, value, t);
        state.latest[name] = value;
      }
      state.lastMetricStep = state.lastMetricStep === null ? step : Math.max(state.lastMetricStep, step);
      if (isTrainingStep(event) && t !== null) {
        // A resumed run logs again from its checkpoint: restart the rate window there.
        const last = entry.recent[entry.recent.length - 1];
        if (last && step <= last[0]) entry.recent.length = 0;
        entry.recent.push([step, t]);
        if (entry.recent.length > RATE_WINDOW) entry.recent.shift();
      }
      return;
    }
    case 'rollouts':
      if (!entry.rolloutSteps.has(event.step)) {
        entry.rolloutSteps.add(event.step);
        entry.rolloutStepsSorted = null;
      }
      return;
    case 'checkpoint':
      state.checkpoints = state.checkpoints.filter((c) => c.step !== event.step);
      state.checkpoints.push({ step: event.step, path: event.path });
      state.checkpoints.sort((a, b) => a.step - b.step);
      return;
    case 'control_ack':
      state.lastAckSeq = Math.max(state.lastAckSeq, event.seq);
      return;
    case 'run_started':
      if (state.startedAt === null && t !== null) state.startedAt = t;
      state.finishedAt = null;
      return;
    case 'run_finished':
      state.finishedAt = t;
      return;
    case 'error':
      state.lastError = { message: event.message, traceback: event.traceback };
      return;
    case 'log':
      if (event.level !== 'warning' && event.level !== 'error') return;
      state.warnings.push({ step: event.step ?? null, level: event.level, message: event.message });
      if (state.warnings.length > MAX_WARNINGS) state.warnings.shift();
      state.warningCount += 1;
      return;
    case 'alert':
      state.alerts = foldAlert(state.alerts, event, MAX_WARNINGS);
      return;
    default:
      return;
  }
}

/**
 * Appends a point, first dropping points at or after `step` so a series stays ordered when a
 * resumed run logs steps again from its checkpoint.
 */
function appendPoint(series: Map<string, MetricSeries>, name: string, step: number, value: number, t: number | null): void {
  let s = series.get(name);
  if (!s) {
    s = { steps: [], values: [], times: [] };
    series.set(name, s);
  }
  const n = s.steps.length;
  if (n && s.steps[n - 1] >= step) {
    let keep = n;
    while (keep > 0 && s.steps[keep - 1] >= step) keep--;
    s.steps.length = keep;
    s.values.length = keep;
    s.times.length = keep;
  }
  s.steps.push(step);
  s.values.push(value);
  s.times.push(t);
}

function rate(recent: Array<[number, number]>): number | null {
  if (recent.length < 2) return null;
  const [s0, t0] = recent[0];
  const [s1, t1] = recent[recent.length - 1];
  return t1 > t0 ? (s1 - s0) / (t1 - t0) : null;
}
