// Tells the user when a run ends on its own (finished, failed or crashed) and when it warns (a
// verifier failing on most samples, prompts left out): each warning goes to the log, the first of a
// run in this window also to a pop-up.
import * as vscode from 'vscode';
import type { RunStatus } from '../run/model/runFormat';
import type { RunState, RunStore } from './model/runStore';
import { Disposer } from '../vscode/disposer';
import { inertLinks, notifies, runSummary, type NotifyRunEnd } from './model/runText';

const NOTIFIED: readonly RunStatus[] = ['finished', 'failed', 'crashed'];
const OPEN_DASHBOARD = 'Open Dashboard';
const SHOW_LOG = 'Show Log';

export class RunNotifications extends Disposer {
  /** The last status seen per run; runs already there when the window opened are not announced. */
  private readonly seen = new Map<string, RunStatus>();
  /** The warning count seen per run, and the runs whose warning was already shown in a pop-up. */
  private readonly warningsSeen = new Map<string, number>();
  private readonly warned = new Set<string>();
  private primed = false;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly store: RunStore,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.track(store.onDidChange(({ runIds }) => this.check(runIds)));
  }

  /** Records the statuses present at startup without announcing them. */
  prime(): void {
    for (const run of this.store.runs()) {
      this.seen.set(run.id, run.status);
      this.warningsSeen.set(run.id, run.warningCount);
    }
    this.primed = true;
  }

  private check(runIds: readonly string[]): void {
    if (!this.primed) this.prime();
    for (const id of runIds) {
      const run = this.store.get(id);
      if (!run) {
        this.seen.delete(id);
        continue;
      }
      const before = this.seen.get(id);
      this.seen.set(id, run.status);
      this.checkWarnings(run, before === undefined && run.info.created_at < this.startedAt);
      // A run first seen now is announced only when it was created in this session (a fast failure),
      // not when a new runs folder brings old runs.
      const isNew = before === undefined && run.info.created_at >= this.startedAt;
      if ((before !== undefined || isNew) && before !== run.status && NOTIFIED.includes(run.status)) void this.announce(run);
    }
  }

  /** Logs the run's new warnings; the first of a run in this window also pops up (unless muted). */
  private checkWarnings(run: RunState, old: boolean): void {
    const before = this.warningsSeen.get(run.id) ?? (old ? run.warningCount : 0);
    this.warningsSeen.set(run.id, run.warningCount);
    const fresh = run.warnings.slice(-Math.min(run.warningCount - before, run.warnings.length));
    if (run.warningCount <= before || !fresh.length) return;
    for (const w of fresh) this.log.warn(`Run ${run.id}${w.step !== null ? ` at step ${w.step}` : ''}: ${w.message}`);
    if (this.warned.has(run.id) || !notifies(vscode.workspace.getConfiguration('pacs').get<NotifyRunEnd>('notifyRunEnd'), 'failed')) return;
    this.warned.add(run.id);
    void vscode.window.showWarningMessage(`PACS Lab: run ${run.id} warns: ${inertLinks(fresh[fresh.length - 1].message)}`, SHOW_LOG).then(async (choice) => {
      if (choice === SHOW_LOG) await vscode.commands.executeCommand('pacs.showLog', run.id);
    });
  }

  private async announce(run: RunState): Promise<void> {
    const summary = runSummary(run.info, run.latest['reward/mean']);
    const show = notifies(vscode.workspace.getConfiguration('pacs').get<NotifyRunEnd>('notifyRunEnd'), run.status);
    let choice: string | undefined;
    if (run.status === 'finished') {
      this.log.info(`Run ${run.id} finished (${summary}).`);
      if (!show) return;
      choice = await vscode.window.showInformationMessage(`PACS Lab: run ${run.id} finished (${summary}).`, OPEN_DASHBOARD, SHOW_LOG);
    } else {
      const why = endReason(run);
      this.log.error(`Run ${run.id} ${why}`);
      if (!show) return;
      choice = await vscode.window.showErrorMessage(
        `PACS Lab: run ${run.id} ${why}. The trainer log has the details.`,
        SHOW_LOG,
        OPEN_DASHBOARD,
      );
    }
    if (choice === OPEN_DASHBOARD) await vscode.commands.executeCommand('pacs.openDashboard', run.id);
    if (choice === SHOW_LOG) await vscode.commands.executeCommand('pacs.showLog', run.id);
  }
}

/** `failed at step 12: <the error's first line>`, or `crashed at step 12: ...`. */
function endReason(run: RunState): string {
  const at = `at step ${run.info.step}`;
  // A crash is found from outside: the process is gone, or Slurm says how its job ended.
  if (run.status === 'crashed') {
    const slurm = /^(Slurm job \S+ ended [^.\n]*)/.exec(run.lastError?.message ?? '')?.[1];
    return `crashed ${at}: ${slurm ? inertLinks(slurm) : 'its trainer process is gone without recording an end state'}`;
  }
  const error = run.lastError?.message.split('\n')[0].replace(/[:.]\s*$/, '');
  return error ? `failed ${at}: ${inertLinks(error)}` : `failed ${at}`;
}
