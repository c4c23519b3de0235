// Plain-text summaries of a run for the tree, the quick picks and the status bar. No vscode here.
import type { RunInfo, RunStatus } from '../../run/model/runFormat';
import { commitLabel } from '../../run/model/runModel';
import type { RunState } from './runStore';

/**
 * Trainer-written text for a notification. Notifications render `[label](target)` as a link, and
 * a `command:` target runs a command when clicked: break that syntax, keep the words.
 */
export function inertLinks(text: string): string {
  return text.replace(/\]\s*\(/g, '] (');
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e5 || abs < 1e-3)) return value.toExponential(2);
  return String(Number(value.toPrecision(3)));
}

/** `step 42/100 · reward 0.53 · a1b2c3d*` */
export function runSummary(info: RunInfo, reward: number | undefined): string {
  const parts = [info.total_steps > 0 ? `step ${info.step}/${info.total_steps}` : `step ${info.step}`];
  if (reward !== undefined) parts.push(`reward ${formatNumber(reward)}`);
  const commit = commitLabel(info.git);
  if (commit) parts.push(commit);
  return parts.join(' · ');
}

/** `arith 42/100 · r 0.53 · 1.2 st/s` */
export function activeRunText(info: RunInfo, reward: number | undefined, stepsPerSecond: number | null): string {
  const parts = [info.total_steps > 0 ? `${info.name} ${info.step}/${info.total_steps}` : `${info.name} ${info.step}`];
  if (reward !== undefined) parts.push(`r ${formatNumber(reward)}`);
  if (stepsPerSecond !== null) parts.push(`${formatNumber(stepsPerSecond)} st/s`);
  return parts.join(' · ');
}

/**
 * The Runs tree's short label: `11-27 03:42:56 · 86a7` from `20261127-034256-arith-86a7` (the
 * group already names the config). The id's time is UTC; the label shows it in `timeZone` (the
 * user's local time by default). Other ids are kept whole.
 */
export function shortRunLabel(id: string, timeZone?: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-.+-([0-9a-f]{4})$/.exec(id);
  if (!m) return id;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const when = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (when.getUTCMonth() !== month - 1 || when.getUTCDate() !== day || when.getUTCHours() !== hour || when.getUTCMinutes() !== minute || when.getUTCSeconds() !== second) return id;
  return `${localTime(when, timeZone)} · ${m[7]}`;
}

/** `MM-DD HH:MM:SS` of `when` in `timeZone` (local time by default), 24-hour. */
export function localTime(when: Date, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }).formatToParts(when);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('month')}-${part('day')} ${part('hour')}:${part('minute')}:${part('second')}`;
}

/**
 * What the CodeLens says of a config's runs, e.g. `3 runs · best reward 0.81 (a1b2c3d*)`, and the
 * best run. `reward` is each run's `recentReward` (charts.ts), the rule the dashboard ranks by.
 */
export function configRunsSummary(runs: readonly (Pick<RunState, 'id' | 'info'> & { reward: number | null })[]): { title: string; runId: string } | undefined {
  if (runs.length === 0) return undefined;
  const count = runs.length === 1 ? '1 run' : `${runs.length} runs`;
  let best: (typeof runs)[number] | undefined;
  for (const run of runs) {
    if (run.reward !== null && (best?.reward == null || run.reward > best.reward)) best = run;
  }
  if (!best || best.reward === null) return { title: `${count} · no reward yet`, runId: runs[0].id };
  const commit = commitLabel(best.info.git);
  return { title: `${count} · best reward ${formatNumber(best.reward)}${commit ? ` (${commit})` : ''}`, runId: best.id };
}


/** The `pacs.notifyRunEnd` setting: which run endings show a notification (all are logged). */
export type NotifyRunEnd = 'all' | 'failures' | 'off';

/** Unknown values notify, as the default does. */
export function notifies(setting: unknown, status: RunStatus): boolean {
  if (setting === 'off') return false;
  if (setting === 'failures') return status !== 'finished';
  return true;
}
