// CodeLens on line 0 of every *.pacs.yaml: "▶ Train", "N runs · best reward X (commit)" and
// "Compare runs", from the runs whose config_path is this file.
import * as vscode from 'vscode';
import type { RunState, RunStore } from '../core/runStore';
import type { RunRoots } from '../runs/runRoots';
import { formatNumber, shortCommit } from '../runs/runText';
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
    if (runs.length === 0) return lenses;
    const best = bestByReward(runs);
    const summary = best
      ? `${runs.length === 1 ? '1 run' : `${runs.length} runs`} · best reward ${formatNumber(best.latest['reward/mean'])}${commitSuffix(best)}`
      : `${runs.length === 1 ? '1 run' : `${runs.length} runs`} · no reward yet`;
    const shown = best ?? runs[0];
    lenses.push(
      new vscode.CodeLens(top, {
        title: summary,
        tooltip: `Open the dashboard of ${shown.id}`,
        command: 'pacs.openDashboard',
        arguments: [shown.id],
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

function bestByReward(runs: readonly RunState[]): RunState | undefined {
  let best: RunState | undefined;
  for (const run of runs) {
    const reward = run.latest['reward/mean'];
    if (reward !== undefined && (best === undefined || reward > best.latest['reward/mean'])) best = run;
  }
  return best;
}

function commitSuffix(run: RunState): string {
  const commit = shortCommit(run.info.git);
  return commit ? ` (${commit})` : '';
}
