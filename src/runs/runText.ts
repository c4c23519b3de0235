// Plain-text summaries of a run for the tree, the quick picks and the status bar. No vscode here.
import type { RunInfo } from '../core/runFormat';
import { commitLabel } from '../core/runModel';
import type { RunState } from '../core/runStore';

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
 * group already names the config; times are UTC, as in the id). Other ids are kept whole.
 */
export function shortRunLabel(id: string): string {
  const m = /^\d{4}(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-.+-([0-9a-f]{4})$/.exec(id);
  return m ? `${m[1]}-${m[2]} ${m[3]}:${m[4]}:${m[5]} · ${m[6]}` : id;
}

/** What the CodeLens says of a config's runs, e.g. `3 runs · best reward 0.81 (a1b2c3d*)`, and the best run. */
export function configRunsSummary(runs: readonly Pick<RunState, 'id' | 'info' | 'latest'>[]): { title: string; runId: string } | undefined {
  if (runs.length === 0) return undefined;
  const count = runs.length === 1 ? '1 run' : `${runs.length} runs`;
  let best: (typeof runs)[number] | undefined;
  for (const run of runs) {
    const reward = run.latest['reward/mean'];
    if (reward !== undefined && (best === undefined || reward > best.latest['reward/mean'])) best = run;
  }
  if (!best) return { title: `${count} · no reward yet`, runId: runs[0].id };
  const commit = commitLabel(best.info.git);
  return { title: `${count} · best reward ${formatNumber(best.latest['reward/mean'])}${commit ? ` (${commit})` : ''}`, runId: best.id };
}
