// Following one run's events for a terminal: a progress line per step and, at the end, a
// before/after summary. Pure: it consumes events and returns text.
import type { RunStatus } from '../../run/model/runFormat';
import { isTrainingStep, parseEvent } from '../../run/model/runModel';
import { alertLine } from '../../diagnostics/model/alerts';

export interface RunSummary {
  status: RunStatus | null;
  totalSteps: number;
  lastStep: number;
  /** eval/* values of the first evaluation (before the first step of a fresh run). */
  evalBefore: Record<string, number>;
  /** eval/* values of the last evaluation. */
  evalAfter: Record<string, number>;
  evalBeforeStep: number | null;
  evalAfterStep: number | null;
  latest: Record<string, number>;
  /** Seconds from run_started (or the first event) to run_finished (or the last event). */
  trainSeconds: number | null;
  /** Seconds from the launch to the end, startup included, when the caller measured it. */
  wallSeconds: number | null;
  /** Training steps completed per second of wall time while this follower watched. */
  stepsPerSecond: number | null;
  error: string | null;
}

/** Accumulates a run's events; `progressLine()` and `summaryTable()` render them. */
export class RunFollower {
  private totalSteps: number;
  private lastStep = 0;
  private firstStepSeen: { step: number; t: number } | null = null;
  private lastStepSeen: { step: number; t: number } | null = null;
  private evalBefore: Record<string, number> = {};
  private evalAfter: Record<string, number> = {};
  private evalBeforeStep: number | null = null;
  private evalAfterStep: number | null = null;
  private latest: Record<string, number> = {};
  private startedT: number | null = null;
  private firstT: number | null = null;
  private lastT: number | null = null;
  private finishedStatus: RunStatus | null = null;
  private error: string | null = null;

  /** @param lossMetric the metric the progress line shows as the loss (runModel.lossMetric of the run). */
  constructor(
    totalSteps = 0,
    private readonly lossMetric = 'pacs/loss',
  ) {
    this.totalSteps = totalSteps;
  }

  get finished(): RunStatus | null {
    return this.finishedStatus;
  }

  /** Applies one event; returns the lines worth printing for it (state changes, warnings, errors). */
  apply(record: unknown): { stepped: boolean; notes: string[] } {
    const notes: string[] = [];
    const parsed = parseEvent(record);
    if (parsed.kind === 'bad') return { stepped: false, notes };
    const t = parsed.event.t;
    if (t !== null) {
      this.firstT ??= t;
      this.lastT = t;
    }
    if (parsed.kind === 'unknown') return { stepped: false, notes };
    const { event } = parsed;
    switch (event.type) {
      case 'run_started':
        if (event.total_steps > 0) this.totalSteps = event.total_steps;
        this.startedT ??= t;
        return { stepped: false, notes };
      case 'eval': {
        const { step, values } = event;
        Object.assign(this.latest, values);
        const evals = Object.fromEntries(Object.entries(values).filter(([k]) => k.startsWith('eval/')));
        if (this.evalBeforeStep === null) {
          this.evalBefore = evals;
          this.evalBeforeStep = step;
        }
        this.evalAfter = evals;
        this.evalAfterStep = step;
        const shownEvals = Object.entries(evals).sort(([a], [b]) => evalOrder(a, b));
        notes.push(`eval at step ${step}: ${shownEvals.map(([k, v]) => `${k.slice('eval/'.length)} ${pct(v)}`).join('  ')}`);
        return { stepped: false, notes };
      }
      case 'metrics': {
        const { step, values } = event;
        Object.assign(this.latest, values);
        if (!isTrainingStep(event)) return { stepped: false, notes };
        this.lastStep = step;
        if (t !== null) {
          this.firstStepSeen ??= { step: step - 1, t: t - (values['perf/step_s'] ?? 0) };
          this.lastStepSeen = { step, t };
        }
        return { stepped: true, notes };
      }
      case 'state':
        notes.push(`[${event.status}]${event.reason !== undefined ? ` ${event.reason}` : ''}`);
        return { stepped: false, notes };
      case 'log':
        if (event.level === 'warning' || event.level === 'error') notes.push(`${event.level}: ${event.message}`);
        return { stepped: false, notes };
      case 'alert':
        notes.push(`alert at ${alertLine(event)}`);
        return { stepped: false, notes };
      case 'checkpoint':
        notes.push(`checkpoint saved at step ${event.step}: ${event.path}`);
        return { stepped: false, notes };
      case 'error':
        this.error = event.message;
        return { stepped: false, notes };
      case 'run_finished':
        this.finishedStatus = event.status;
        return { stepped: false, notes };
      default:
        return { stepped: false, notes };
    }
  }

  /**
   * Starts a new session of a run whose earlier events were already applied (a resumed run):
   * forgets the earlier end and speed, keeps the first evaluation for the before/after table.
   */
  startSession(): void {
    this.finishedStatus = null;
    this.firstStepSeen = null;
    this.lastStepSeen = null;
    this.startedT = null;
    this.firstT = null;
  }

  setTotalSteps(total: number): void {
    if (total > 0) this.totalSteps = total;
  }

  /** `step 12/100  reward 0.438  bce 0.6512  critic auc 0.812  1.35 steps/s` (`loss` where no critic/bce is logged) */
  progressLine(): string {
    const v = this.latest;
    const parts = [`step ${this.lastStep}/${this.totalSteps || '?'}`];
    parts.push(`reward ${fmt(v['reward/mean'], 3)}`);
    // The critic's BCE after the update where the trainer logs it: the loss logged during a single
    // update is taken at θ_old, where it says nothing (PACS: always ln 2).
    parts.push(v['critic/bce'] !== undefined ? `bce ${fmt(v['critic/bce'], 4)}` : `loss ${fmt(v[this.lossMetric], 4)}`);
    parts.push(`critic auc ${fmt(v['critic/auc'], 3)}`);
    const rate = this.stepsPerSecond();
    parts.push(rate === null ? '- steps/s' : `${rate.toFixed(2)} steps/s`);
    return parts.join('  ');
  }

  private stepsPerSecond(): number | null {
    const a = this.firstStepSeen;
    const b = this.lastStepSeen;
    if (!a || !b || b.t <= a.t) return null;
    return (b.step - a.step) / (b.t - a.t);
  }

  summary(status: RunStatus | null, error: string | null = null, wallSeconds: number | null = null): RunSummary {
    const start = this.startedT ?? this.firstT;
    return {
      status: this.finishedStatus ?? status,
      totalSteps: this.totalSteps,
      lastStep: this.lastStep,
      evalBefore: this.evalBefore,
      evalAfter: this.evalAfter,
      evalBeforeStep: this.evalBeforeStep,
      evalAfterStep: this.evalAfterStep,
      latest: { ...this.latest },
      trainSeconds: start !== null && this.lastT !== null ? this.lastT - start : null,
      wallSeconds,
      stepsPerSecond: this.stepsPerSecond(),
      error: this.error ?? error,
    };
  }
}

function fmt(value: number | undefined, digits: number): string {
  return value === undefined ? '-' : value.toFixed(digits);
}

function pct(value: number | undefined): string {
  return value === undefined ? '-' : `${(value * 100).toFixed(1)}%`;
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** The closing table: held-out accuracy and pass@k before and after, final critic AUC, time, speed. */
export function summaryTable(s: RunSummary): string {
  const rows: string[][] = [['', `before (step ${s.evalBeforeStep ?? '-'})`, `after (step ${s.evalAfterStep ?? '-'})`, 'change']];
  const keys = [...new Set([...Object.keys(s.evalBefore), ...Object.keys(s.evalAfter)])].sort(evalOrder);
  for (const key of keys) {
    const before = s.evalBefore[key];
    const after = s.evalAfterStep !== s.evalBeforeStep ? s.evalAfter[key] : undefined;
    const change = before !== undefined && after !== undefined ? `${after >= before ? '+' : ''}${((after - before) * 100).toFixed(1)} pts` : '';
    rows.push([key, pct(before), pct(after), change]);
  }
  rows.push(['critic/auc (final)', '', fmt(s.latest['critic/auc'], 3), '']);
  rows.push(['reward/mean (final)', '', fmt(s.latest['reward/mean'], 3), '']);
  rows.push(['steps', '', `${s.lastStep}/${s.totalSteps || '?'}`, '']);
  rows.push(['training time', '', s.trainSeconds === null ? '-' : formatDuration(s.trainSeconds), '']);
  if (s.wallSeconds !== null) rows.push(['wall time (with startup)', '', formatDuration(s.wallSeconds), '']);
  rows.push(['steps/s', '', s.stepsPerSecond === null ? '-' : s.stepsPerSecond.toFixed(2), '']);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   ').trimEnd()).join('\n');
}

function evalOrder(a: string, b: string): number {
  const rank = (k: string) => (k === 'eval/accuracy' ? 0 : 1);
  return rank(a) - rank(b) || a.localeCompare(b, undefined, { numeric: true });
}
