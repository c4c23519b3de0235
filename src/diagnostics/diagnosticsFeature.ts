// pacs.openDiagnostics: a run's Prompts and Held-out tabs (src/diagnostics/diagnosticsPanel.ts),
// one panel per run.
import * as vscode from 'vscode';
import type { RunStore } from '../runs/model/runStore';
import { pickRun } from '../runs/pickRun';
import { Disposer } from '../vscode/disposer';
import { SessionSet } from '../webviews/webviewSession';
import { DiagnosticsPanel } from './diagnosticsPanel';

export class DiagnosticsFeature extends Disposer {
  private readonly panels = new SessionSet<DiagnosticsPanel>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly store: RunStore,
  ) {
    super();
    this.track(vscode.commands.registerCommand('pacs.openDiagnostics', (arg?: unknown) => this.open(arg)));
    this.track(this.panels);
  }

  /** A run id, `{ runId }` (a tree item) or nothing (a quick pick). */
  async open(arg: unknown): Promise<void> {
    const run = await pickRun(this.store, arg, { placeHolder: 'Select a run to diagnose: its prompts and held-out problems' });
    if (!run) return;
    const existing = this.panels.find((panel) => panel.runId === run.id);
    if (existing) existing.reveal();
    else this.panels.add(new DiagnosticsPanel(this.context.extensionUri, run.id, this.store));
  }
}
