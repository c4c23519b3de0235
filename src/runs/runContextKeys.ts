// Context keys for when-clauses: pacs.hasRuns, pacs.hasLiveRuns.
import * as vscode from 'vscode';
import { LIVE_STATUSES } from '../run/model/runFormat';
import type { RunStore } from './model/runStore';
import { Disposer } from '../vscode/disposer';

export class RunContextKeys extends Disposer {
  private last = '';

  constructor(private readonly store: RunStore) {
    super();
    this.track(store.onDidChange(() => this.update()));
    this.update();
  }

  private update(): void {
    const runs = this.store.runs();
    const hasRuns = runs.length > 0;
    const hasLiveRuns = runs.some((run) => LIVE_STATUSES.includes(run.status));
    const key = `${hasRuns}:${hasLiveRuns}`;
    if (key === this.last) return;
    this.last = key;
    void vscode.commands.executeCommand('setContext', 'pacs.hasRuns', hasRuns);
    void vscode.commands.executeCommand('setContext', 'pacs.hasLiveRuns', hasLiveRuns);
  }
}
