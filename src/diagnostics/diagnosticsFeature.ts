// pacs.openDiagnostics: a run's Prompts and Held-out tabs (src/diagnostics/diagnosticsPanel.ts),
// one panel per run, restored after a window reload by its serializer.
import * as vscode from 'vscode';
import { DIAGNOSTICS_VIEW_TYPE, isDiagnosticsPersistedState } from '../../webview/diagnostics/contract';
import type { RunStore } from '../runs/model/runStore';
import { pickRun } from '../runs/pickRun';
import { Disposer } from '../vscode/disposer';
import { registerPanelRestorer, SessionSet } from '../webviews/webviewSession';
import { DiagnosticsPanel } from './diagnosticsPanel';

export class DiagnosticsFeature extends Disposer {
  private readonly panels = new SessionSet<DiagnosticsPanel>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly store: RunStore,
  ) {
    super();
    this.track(vscode.commands.registerCommand('pacs.openDiagnostics', (arg?: unknown) => this.open(arg)));
    // The page saves { runId, tab }; the run may not be scanned yet: the panel fills in when the store sees it.
    this.track(registerPanelRestorer(DIAGNOSTICS_VIEW_TYPE, context.extensionUri,
      (state) => (isDiagnosticsPersistedState(state) && state.runId ? state.runId : undefined),
      (panel, runId) => {
        if (!this.panels.find((open) => open.runId === runId)) this.panels.add(new DiagnosticsPanel(context.extensionUri, runId, store, panel));
        else panel.dispose();
      }));
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
