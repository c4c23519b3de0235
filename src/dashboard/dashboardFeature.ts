// pacs.openDashboard and pacs.compareRuns: dashboard tabs over one or several runs, restored
// after a window reload by their serializer.

import * as vscode from 'vscode';
import { type DashboardPersistedState } from '../../webview/dashboard/contract';
import { VIEW_TYPES } from '../../webview/shared/contract';
import type { RunStore } from '../runs/model/runStore';
import { pickRuns } from '../runs/pickRun';
import { Disposer } from '../vscode/disposer';
import { createWebviewPanel, registerPanelRestorer, SessionSet } from '../webviews/webviewSession';
import { DashboardPanel } from './dashboardPanel';
import { RunConfigCache } from './model/runConfig';

export class DashboardFeature extends Disposer {
  private readonly panels = new SessionSet<DashboardPanel>();
  private readonly configs = new RunConfigCache();
  private readonly onDidFocusRunEmitter = new vscode.EventEmitter<string>();
  /** Fires with a run id when a dashboard showing that run becomes the active editor. */
  readonly onDidFocusRun = this.onDidFocusRunEmitter.event;
  /** The dashboard last active: the comparison the Runs tree's checkboxes add runs to and remove them from. */
  private current: DashboardPanel | undefined;
  private readonly onDidChangeComparisonEmitter = new vscode.EventEmitter<void>();
  /** Fires when the runs of the open comparison change (or another dashboard becomes it). */
  readonly onDidChangeComparison = this.onDidChangeComparisonEmitter.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly store: RunStore,
  ) {
    super();
    this.track(this.onDidFocusRunEmitter);
    this.track(this.onDidChangeComparisonEmitter);
    this.track(vscode.commands.registerCommand('pacs.openDashboard', (arg?: unknown, selection?: unknown) => this.open(arg, selection, false)));
    this.track(vscode.commands.registerCommand('pacs.compareRuns', (arg?: unknown, selection?: unknown) => this.open(arg, selection, true)));
    this.track(
      registerPanelRestorer(VIEW_TYPES.dashboard, context.extensionUri, persistedState, (panel, saved) => {
        this.add(new DashboardPanel(panel, saved.runIds, this.store, this.configs, this.context.extensionUri, saved));
      }),
    );
    this.track(
      store.onDidChange(({ runIds }) => {
        for (const panel of this.panels) panel.runsChanged(runIds);
      }),
    );
    this.track(this.panels);
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
    const existing = this.panels.find((p) => p.runIds.length === ids.length && p.runIds.every((id) => ids.includes(id)));
    if (existing) {
      existing.reveal();
      return;
    }
    const panel = createWebviewPanel(VIEW_TYPES.dashboard, 'Dashboard', this.context.extensionUri);
    this.add(new DashboardPanel(panel, ids, this.store, this.configs, this.context.extensionUri));
  }

  /** The runs of the open comparison: the dashboard last active. */
  comparedRuns(): readonly string[] {
    return this.current?.runIds ?? [];
  }

  /**
   * Adds runs to the open comparison or removes them (the Runs tree's checkboxes), opening one
   * when none is open; removing its last run closes it. The focus stays in the tree, so that
   * several runs can be ticked in a row, by keyboard too.
   */
  setCompared(runIds: readonly string[], compared: boolean): void {
    const panel = this.current;
    if (!panel) {
      if (!compared || runIds.length === 0) return;
      const created = createWebviewPanel(VIEW_TYPES.dashboard, 'Dashboard', this.context.extensionUri, true);
      this.add(new DashboardPanel(created, runIds, this.store, this.configs, this.context.extensionUri));
      return;
    }
    const next = compared ? [...new Set([...panel.runIds, ...runIds])] : panel.runIds.filter((id) => !runIds.includes(id));
    if (next.length === 0) {
      panel.dispose();
      return;
    }
    panel.setRuns(next);
    panel.reveal(true);
    this.onDidChangeComparisonEmitter.fire();
  }

  private add(panel: DashboardPanel): void {
    this.panels.add(panel);
    this.current = panel;
    this.onDidChangeComparisonEmitter.fire();
    panel.onDidFocusRun((runId) => {
      this.onDidFocusRunEmitter.fire(runId);
      if (this.current === panel) return;
      this.current = panel;
      this.onDidChangeComparisonEmitter.fire();
    });
    panel.onDidDispose(() => {
      if (this.current !== panel) return;
      this.current = [...this.panels].filter((p) => p !== panel).at(-1);
      this.onDidChangeComparisonEmitter.fire();
    });
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
    smoothing: typeof s.smoothing === 'number' ? s.smoothing : undefined,
  };
}
