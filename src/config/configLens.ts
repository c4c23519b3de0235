// CodeLens on line 0 of every *.pacs.yaml: "▶ Train", "N runs · best reward X (commit)" and
// "Compare runs", from the runs whose config_path is this file.
import * as vscode from 'vscode';
import type { RunState, RunStore } from '../runs/model/runStore';
import type { RunRoots } from '../runs/runRoots';
import { configRunsSummary } from '../runs/model/runText';
import { recentReward } from '../dashboard/model/charts';
import { Disposer } from '../vscode/disposer';
import { CONFIG_SELECTOR } from './configLanguage';

const REFRESH_DEBOUNCE_MS = 500;

export class ConfigLens extends Disposer implements vscode.CodeLensProvider {
  private readonly changed = this.track(new vscode.EventEmitter<void>());
  readonly onDidChangeCodeLenses = this.changed.event;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: RunStore,
    private readonly roots: RunRoots,
  ) {
    super();
    this.track(vscode.languages.registerCodeLensProvider(CONFIG_SELECTOR, this));
    this.track(store.onDidChange(() => this.scheduleRefresh()));
    this.track({ dispose: () => clearTimeout(this.timer) });
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    const lenses = [
      new vscode.CodeLens(top, { title: '▶ Train', tooltip: 'Launch a training run of this config', command: 'pacs.startRun', arguments: [document.uri] }),
    ];
    const runs = this.runsOf(document.uri);
    const summary = configRunsSummary(runs.map((run) => ({ id: run.id, info: run.info, reward: recentReward(this.store.metricSeries(run.id)) })));
    if (!summary) return lenses;
    lenses.push(
      new vscode.CodeLens(top, {
        title: summary.title,
        tooltip: `Open the dashboard of ${summary.runId}`,
        command: 'pacs.openDashboard',
        arguments: [summary.runId],
      }),
    );
    if (runs.length > 1) {
      lenses.push(
        new vscode.CodeLens(top, {
          title: 'Compare runs',
          tooltip: `Compare the ${runs.length} runs of this config`,
          command: 'pacs.compareRuns',
          arguments: [runs.map((run) => run.id)],
        }),
      );
    }
    return lenses;
  }

  private runsOf(uri: vscode.Uri): RunState[] {
    return this.store.runs().filter((run) => this.roots.configPathOf(run) === uri.fsPath);
  }

  private scheduleRefresh(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.changed.fire();
    }, REFRESH_DEBOUNCE_MS);
  }
}
