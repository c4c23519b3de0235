// pacs.openDashboard and pacs.compareRuns: dashboard tabs over one or several runs, restored
// after a window reload by their serializer.

import * as vscode from 'vscode';
import { VIEW_TYPES, type DashboardPersistedState } from '../../webview/contract';
import type { RunStore } from '../core/runStore';
import { pickRuns } from '../runs/pickRun';
import { webviewOptions } from '../webviewHtml';
import { DashboardPanel } from './dashboardPanel';
import { RunConfigCache } from './runConfig';

export class DashboardFeature implements vscode.Disposable {
  private readonly panels = new Set<DashboardPanel>();
  private readonly configs = new RunConfigCache();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly onDidFocusRunEmitter = new vscode.EventEmitter<string>();
  /** Fires with a run id when a dashboard showing that run becomes the active editor. */
  readonly onDidFocusRun = this.onDidFocusRunEmitter.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly store: RunStore,
  ) {
    this.disposables.push(
      this.onDidFocusRunEmitter,
      vscode.commands.registerCommand('pacs.openDashboard', (arg?: unknown, selection?: unknown) => this.open(arg, selection, false)),
      vscode.commands.registerCommand('pacs.compareRuns', (arg?: unknown, selection?: unknown) => this.open(arg, selection, true)),
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPES.dashboard, {
        deserializeWebviewPanel: async (panel, state: unknown) => this.restore(panel, state),
      }),
      store.onDidChange(({ runIds }) => {
        for (const panel of this.panels) panel.runsChanged(runIds);
      }),
    );
  }

  /** Opens (or reveals) the dashboard of the runs named by `arg`, asking when it names none. */
  async open(arg: unknown, selection: unknown, compare: boolean): Promise<void> {
    const runs = await pickRuns(this.store, arg, {
      canPickMany: compare,
      selection,
      placeHolder: compare ? 'Select the runs to compare' : 'Select a run to chart',
    });
    if (runs.length === 0) return;
    const ids = runs.map((run) => run.id);
    const existing = [...this.panels].find((p) => p.runIds.length === ids.length && p.runIds.every((id) => ids.includes(id)));
    if (existing) {
      existing.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPES.dashboard, 'Dashboard', vscode.ViewColumn.Active, {
      ...webviewOptions(this.context.extensionUri),
      retainContextWhenHidden: false,
    });
    this.track(new DashboardPanel(panel, ids, this.store, this.configs, this.context.extensionUri));
  }

  private restore(panel: vscode.WebviewPanel, state: unknown): void {
    const saved = persistedState(state);
    if (!saved) {
      panel.dispose();
      return;
    }
    panel.webview.options = webviewOptions(this.context.extensionUri);
    this.track(new DashboardPanel(panel, saved.runIds, this.store, this.configs, this.context.extensionUri, saved));
  }

  private track(panel: DashboardPanel): void {
    this.panels.add(panel);
    const focus = panel.onDidFocusRun((runId) => this.onDidFocusRunEmitter.fire(runId));
    panel.onDidDispose(() => {
      focus.dispose();
      this.panels.delete(panel);
    });
  }

  dispose(): void {
    for (const panel of [...this.panels]) panel.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

function persistedState(state: unknown): DashboardPersistedState | undefined {
  if (typeof state !== 'object' || state === null) return undefined;
  const s = state as Partial<DashboardPersistedState>;
  if (!Array.isArray(s.runIds) || !s.runIds.every((id) => typeof id === 'string') || s.runIds.length === 0) return undefined;
  return {
    runIds: s.runIds,
    criticRunId: typeof s.criticRunId === 'string' ? s.criticRunId : null,
    criticStep: typeof s.criticStep === 'number' ? s.criticStep : null,
  };
}
