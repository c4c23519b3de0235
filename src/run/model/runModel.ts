// What a run's files mean, in one place: events.jsonl records parsed into the typed union of
// runFormat.ts, and the rules every reader shares (which events are training steps, the commit
// label, the step a view shows, a sample's label, the loss metric). Pure and without Node APIs:
// the store, the follower, the CLI, the tree and the webviews all import it.
import { isRunStatus, rolloutFileName } from './runFormat';
import type { KnownRunEvent, RunGitInfo, RunInfo, RunStatus, UnknownEvent } from './runFormat';

/** True for plain JSON objects (not arrays, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `known`: a typed event; `unknown`: a type this reader does not know, kept as it is; `bad`: why the record is no event. */
export type ParsedEvent =
  | { kind: 'known'; event: KnownRunEvent }
  | { kind: 'unknown'; event: UnknownEvent }
  | { kind: 'bad'; error: string };

const STEP_EVENTS = new Set(['metrics', 'eval', 'rollouts', 'checkpoint', 'alert']);

const isStep = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/**
 * Metrics an evaluation logs: `eval/*` and its time, `perf/eval_s`. Drawn as logged (never
 * smoothed), and how a format-1 run's evaluation is told from a training step.
 */
export function isEvaluationMetric(name: string): boolean {
  return name.startsWith('eval/') || name === 'perf/eval_s';
}

/**
 * A training step: a `metrics` event of steps 1 to total_steps. Evaluations are `eval` events, and
 * the one `metrics` event at step 0 holds facts about the data before training.
 */
export function isTrainingStep(event: KnownRunEvent): boolean {
  return event.type === 'metrics' && event.step >= 1;
}

/**
 * One events.jsonl record as a typed event, or why it is not one. Untrusted input: a record of a
 * known type with a field of the wrong type is an error (the reader counts it as a bad line),
 * never a crash; metric values that are not finite numbers (null for an undefined metric) are
 * dropped; a type this reader does not know is kept as it is. Format 1 wrote evaluations as
 * `metrics` events holding evaluation metrics only: those are read as `eval` events.
 */
export function parseEvent(record: unknown): ParsedEvent {
  if (!isRecord(record) || typeof record.type !== 'string') return { kind: 'bad', error: 'not an event object with a "type"' };
  const type = record.type;
  const t = typeof record.t === 'number' && Number.isFinite(record.t) ? record.t : null;
  const step = record.step;
  if (STEP_EVENTS.has(type) && !isStep(step)) return { kind: 'bad', error: `a "${type}" event needs a whole, non-negative "step"` };
  const bad = (field: string, what: string): ParsedEvent => ({ kind: 'bad', error: `a "${type}" event needs ${what} "${field}"` });
  switch (type) {
    case 'metrics':
    case 'eval': {
      if (!isRecord(record.values)) return bad('values', 'an object of');
      const values: Record<string, number> = {};
      for (const [name, value] of Object.entries(record.values)) if (typeof value === 'number' && Number.isFinite(value)) values[name] = value;
      const names = Object.keys(values);
      const evaluation = type === 'eval' || (names.length > 0 && names.every(isEvaluationMetric));
      return { kind: 'known', event: { t, type: evaluation ? 'eval' : 'metrics', step: step as number, values } };
    }
    case 'rollouts':
      return { kind: 'known', event: { t, type, step: step as number, file: str(record.file) ?? rolloutFileName(step as number), count: typeof record.count === 'number' ? record.count : 0 } };
    case 'checkpoint':
      return typeof record.path === 'string' ? { kind: 'known', event: { t, type, step: step as number, path: record.path } } : bad('path', 'a string');
    case 'state':
      return isRunStatus(record.status) ? { kind: 'known', event: { t, type, status: record.status, reason: str(record.reason) } } : bad('status', 'a run status as');
    case 'run_finished':
      return isRunStatus(record.status) ? { kind: 'known', event: { t, type, status: record.status } } : bad('status', 'a run status as');
    case 'control_ack':
      return isStep(record.seq) ? { kind: 'known', event: { t, type, seq: record.seq, command: str(record.command) ?? '', result: str(record.result) ?? '' } } : bad('seq', 'a whole number as');
    case 'log':
      return {
        kind: 'known',
        event: { t, type, ...(isStep(record.step) ? { step: record.step } : {}), level: str(record.level) ?? 'info', message: str(record.message) ?? String(record.message) },
      };
    case 'alert': {
      const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
      if (typeof record.rule !== 'string') return bad('rule', 'a string');
      return {
        kind: 'known',
        event: { t, type, step: step as number, rule: record.rule, value: num(record.value), threshold: num(record.threshold), action: str(record.action) ?? 'warn', message: str(record.message) ?? '' },
      };
    }
    case 'error':
      return typeof record.message === 'string' ? { kind: 'known', event: { t, type, message: record.message, traceback: str(record.traceback) } } : bad('message', 'a string');
    case 'run_started':
      return { kind: 'known', event: { t, type, config: isRecord(record.config) ? record.config : {}, total_steps: typeof record.total_steps === 'number' ? record.total_steps : 0 } };
    default:
      return { kind: 'unknown', event: { ...record, t, type } };
  }
}

/** A 7-character sha of the code a run trained, `*` marking uncommitted work (a snapshot, or a dirty tree under `--git ignore`); null outside git. */
export function commitLabel(git: RunGitInfo | null | undefined): string | null {
  const sha = git ? (git.commit ?? git.snapshot) : null;
  if (!git || !sha) return null;
  return `${sha.slice(0, 7)}${git.snapshot || git.dirty ? '*' : ''}`;
}

/** The step a view shows: the pinned one while it has rollouts, else the newest (null when none). */
export function shownStep(steps: readonly number[], pinned: number | null): number | null {
  if (pinned !== null && steps.includes(pinned)) return pinned;
  return steps.at(-1) ?? null;
}

/** What picking `step` pins: the newest step (or one without rollouts) pins nothing, so the view follows new steps. */
export function pinFor(steps: readonly number[], step: number): number | null {
  return steps.includes(step) && step !== steps.at(-1) ? step : null;
}

/** R is a 0/1 label; a verifier giving partial credit counts as correct from 0.5 up. */
export function isCorrect(reward: number): boolean {
  return reward >= 0.5;
}

/** The metric that holds a run's loss: run.json's `loss_metric` (the trainer names it), else `<algorithm>/loss`. */
export function lossMetric(info: Pick<RunInfo, 'algorithm'> & { loss_metric?: unknown }): string {
  return typeof info.loss_metric === 'string' && info.loss_metric ? info.loss_metric : `${String(info.algorithm)}/loss`;
}

/**
 * The codicon of each run status, shared by the tree, the quick picks and the dashboard so a
 * status looks the same everywhere; `spin` animates it where the view can, `color` is a theme color id.
 */
export const STATUS_CODICONS: Readonly<Record<RunStatus, { codicon: string; spin?: boolean; color?: string }>> = {
  queued: { codicon: 'clock' },
  starting: { codicon: 'loading', spin: true },
  running: { codicon: 'sync', spin: true, color: 'charts.blue' },
  paused: { codicon: 'debug-pause', color: 'charts.yellow' },
  suspended: { codicon: 'debug-disconnect' },
  stopped: { codicon: 'debug-stop' },
  finished: { codicon: 'pass', color: 'testing.iconPassed' },
  failed: { codicon: 'error', color: 'testing.iconFailed' },
  crashed: { codicon: 'warning', color: 'problemsWarningIcon.foreground' },
};
