// A status-bar item following the active run: the newest one whose trainer is live.
import * as vscode from 'vscode';
import { LIVE_STATUSES } from '../run/model/runFormat';
import type { RunStore } from './model/runStore';
import { Disposer } from '../vscode/disposer';
import { runTooltip } from './runPresentation';
import { activeRunText } from './model/runText';

export class RunStatusBar extends Disposer {
  private readonly item = this.track(vscode.window.createStatusBarItem('pacs.activeRun', vscode.StatusBarAlignment.Left, 50));

  constructor(private readonly store: RunStore) {
    super();
    this.item.name = 'PACS Lab Active Run';
    this.track(store.onDidChange(() => this.update()));
    this.update();
  }

  private update(): void {
    const run = this.store.runs().find((candidate) => LIVE_STATUSES.includes(candidate.status));
    if (!run) {
      this.item.hide();
      return;
    }
    const icon = run.status === 'paused' ? '$(debug-pause)' : '$(sync~spin)';
    this.item.text = `${icon} ${activeRunText(run.info, run.latest['reward/mean'], run.stepsPerSecond)}`;
    this.item.tooltip = runTooltip(run);
    this.item.command = { title: 'Open Dashboard', command: 'pacs.openDashboard', arguments: [run.id] };
    this.item.show();
  }
}
