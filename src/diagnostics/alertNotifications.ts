// Tells the user when a run's health rule fires (`alert` events, docs/diagnostics.md): every alert
// goes to the log; a new one pops up naming the rule and the step, with Open Rollouts at that step,
// Resume for a run its alert paused and Stop for a live run.
import * as vscode from 'vscode';
import type { AlertEvent } from '../run/model/runFormat';
import type { RunStore } from '../runs/model/runStore';
import { inertLinks } from '../runs/model/runText';
import { Disposer } from '../vscode/disposer';
import { alertLine } from './model/alerts';

export const OPEN_ROLLOUTS = 'Open Rollouts';
export const RESUME = 'Resume';
export const STOP = 'Stop';

export class AlertNotifications extends Disposer {
  /** The alerts seen per run (by `rule@step`); runs already there when the window opened are announced only while live (their last alert). */
  private readonly seen = new Map<string, Set<string>>();

  constructor(
    private readonly store: RunStore,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    for (const run of store.runs()) this.seen.set(run.id, new Set(run.alerts.map(key)));
    this.track(store.onDidChange(({ runIds }) => this.check(runIds)));
  }

  private check(runIds: readonly string[]): void {
    for (const id of runIds) {
      const run = this.store.get(id);
      if (!run) {
        this.seen.delete(id);
        continue;
      }
      const first = !this.seen.has(id);
      const seen = this.seen.get(id) ?? new Set<string>();
      this.seen.set(id, seen);
      const fresh = run.alerts.filter((a) => !seen.has(key(a)));
      for (const a of fresh) seen.add(key(a));
      // A run first seen now (a new runs folder, the store's first scan) brings its old alerts: logged, not popped up.
      for (const a of fresh) this.log.warn(`Run ${id} alert at ${alertLine(a)}`);
      const last = fresh.at(-1);
      if (last && !(first && run.info.status !== 'running' && run.info.status !== 'paused')) void this.announce(id, last);
    }
  }

  private async announce(runId: string, alert: AlertEvent): Promise<void> {
    const run = this.store.get(runId);
    const live = run !== undefined && ['running', 'paused', 'starting'].includes(run.status);
    const paused = alert.action === 'pause' ? ' The run pauses at the end of this step.' : alert.action === 'stop' ? ' The run checkpoints and stops.' : '';
    const text = `PACS Lab: run ${runId}: alert ${alert.rule} at step ${alert.step}: ${inertLinks(alert.message)}.${paused}`;
    // Resume for a run its alert paused; Stop for a live run
    const buttons = [OPEN_ROLLOUTS, ...(live && alert.action === 'pause' ? [RESUME] : []), ...(live ? [STOP] : [])];
    const choice = await (alert.action === 'warn' ? vscode.window.showWarningMessage(text, ...buttons) : vscode.window.showErrorMessage(text, ...buttons));
    if (choice === OPEN_ROLLOUTS) await vscode.commands.executeCommand('pacs.inspectRollouts', { runId, step: alert.step });
    if (choice === RESUME) await vscode.commands.executeCommand('pacs.resumeRun', runId);
    if (choice === STOP) await vscode.commands.executeCommand('pacs.stopRun', runId);
  }
}

const key = (a: AlertEvent): string => `${a.rule}@${a.step}`;
