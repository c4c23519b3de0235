// The Runs view's node of one sweep: its runs beneath it, its progress (done / running / pruned /
// failed of N) and best trial beside it; its context value carries the status for the inline
// pause, resume, stop and Compare Sweep buttons.
import * as vscode from 'vscode';
import type { SweepInfo } from './model/sweepFormat';
import { bestText, formatParams, progressText } from './model/sweepModel';

const ICONS: Record<string, string> = {
  running: 'sync~spin', paused: 'debug-pause', stopping: 'loading~spin', stopped: 'debug-stop', finished: 'pass',
  failed: 'error', crashed: 'warning', queued: 'clock',
};

export class SweepItem extends vscode.TreeItem {
  constructor(
    readonly sweep: SweepInfo,
    readonly runIds: string[],
  ) {
    super(`Sweep ${sweep.name}`, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `sweep:${sweep.dir}`;
    this.contextValue = `sweep.${sweep.status}`;
    this.iconPath = new vscode.ThemeIcon(ICONS[sweep.status] ?? 'beaker');
    this.description = `${sweep.status} · ${progressText(sweep)}`;
    const best = bestText(sweep);
    const tip = new vscode.MarkdownString(undefined, false);
    tip.appendText(`Sweep ${sweep.id} (${sweep.method}, ${sweep.backend})\n`);
    tip.appendText(`${progressText(sweep)} trials · ${sweep.seeds.length} seed(s) each · ${sweep.parallel} at once\n`);
    tip.appendText(`${sweep.metric.goal} ${sweep.metric.name} (at the ${sweep.metric.at} evaluation)\n`);
    tip.appendText(best ? `${best}\n` : 'no finished trial yet\n');
    if (sweep.best) tip.appendText(`best runs: ${sweep.best.runs.join(', ')}\n`);
    tip.appendText(sweep.dir);
    this.tooltip = tip;
    this.accessibilityInformation = { label: `Sweep ${sweep.name}, ${sweep.status}, ${progressText(sweep)}${best ? `, ${best}` : ''}` };
  }
}

/** The run's line under its sweep: trial, seed, parameters, and why it was pruned. */
export function trialDescription(tag: { trial: number; seed: number; params: Record<string, unknown>; trialState: string | null; pruned: { step: number; reason: string } | null }): string {
  const state = tag.pruned ? `pruned at step ${tag.pruned.step}` : tag.trialState === 'failed' ? 'trial failed' : '';
  return [`trial ${tag.trial} · seed ${tag.seed}`, formatParams(tag.params as Record<string, never>), state].filter(Boolean).join(' · ');
}
