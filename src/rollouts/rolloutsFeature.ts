// The Rollouts side view (follows the run the user is looking at) and pacs.inspectRollouts
// editor tabs, restored after a window reload by their serializer.

import * as vscode from 'vscode';
import { VIEW_TYPES, type RolloutsPersistedState } from '../../webview/contract';
import type { RunStore } from '../core/runStore';
import { LIVE_STATUSES } from '../core/runFormat';
import { pickRun } from '../runs/pickRun';
import { webviewHtml, webviewOptions } from '../webviewHtml';
import { RolloutsSession } from './rolloutsSession';

interface InspectorPanel {
  panel: vscode.WebviewPanel;
  session: RolloutsSession;
}

export class RolloutsFeature implements vscode.Disposable, vscode.WebviewViewProvider {
  private viewSession: RolloutsSession | undefined;
  /** The run the side view was told to follow; undefined follows the newest live run. */
  private followed: string | undefined;
  private readonly panels = new Set<InspectorPanel>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly store: RunStore,
  ) {
    this.disposables.push(
      vscode.window.registerWebviewViewProvider(VIEW_TYPES.rolloutsView, this),
      vscode.commands.registerCommand('pacs.inspectRollouts', (arg?: unknown) => this.inspect(arg)),
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPES.rolloutInspector, {
        deserializeWebviewPanel: async (panel, state: unknown) => this.restore(panel, state),
      }),
      store.onDidChange(({ runIds }) => this.runsChanged(runIds)),
    );
  }

  /** Makes the side view show `runId` (the runs tree's selection, an active dashboard); a run it already shows keeps its step. */
  followRun(runId: string): void {
    this.followed = runId;
    if (this.viewSession?.currentRunId !== runId) this.viewSession?.showRun(runId);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    view.webview.options = webviewOptions(this.context.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.context.extensionUri, 'rollouts', 'Rollouts', { mode: 'view' });
    const session = new RolloutsSession(view.webview, this.store, 'view', this.viewRunId() ?? null, null);
    this.viewSession = session;
    const visibility = view.onDidChangeVisibility(() => {
      if (!view.visible) session.webviewReset();
    });
    view.onDidDispose(() => {
      visibility.dispose();
      session.dispose();
      if (this.viewSession === session) this.viewSession = undefined;
    });
  }

  private viewRunId(): string | undefined {
    if (this.followed && this.store.get(this.followed)) return this.followed;
    const runs = this.store.runs();
    return (runs.find((run) => LIVE_STATUSES.includes(run.status)) ?? runs[0])?.id;
  }

  private runsChanged(runIds: readonly string[]): void {
    const wanted = this.viewRunId();
    if (this.viewSession && wanted && wanted !== this.viewSession.currentRunId) this.viewSession.showRun(wanted);
    else this.viewSession?.runsChanged(runIds);
    for (const { session } of this.panels) session.runsChanged(runIds);
  }

  /** pacs.inspectRollouts: a run id, `{ runId, step? }`, or nothing (quick pick). */
  async inspect(arg: unknown): Promise<void> {
    const run = await pickRun(this.store, arg, { placeHolder: 'Select a run to inspect its rollouts' });
    if (!run) return;
    const step = stepOf(arg);
    const existing = [...this.panels].find((p) => p.session.currentRunId === run.id);
    if (existing) {
      existing.session.showRun(run.id, step);
      existing.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPES.rolloutInspector, `Rollouts: ${run.info.name}`, vscode.ViewColumn.Active, {
      ...webviewOptions(this.context.extensionUri),
      retainContextWhenHidden: false,
    });
    this.openPanel(panel, run.id, step);
  }

  private restore(panel: vscode.WebviewPanel, state: unknown): void {
    const saved = state as Partial<RolloutsPersistedState> | undefined;
    const runId = typeof saved?.runId === 'string' ? saved.runId : null;
    if (!runId) {
      panel.dispose();
      return;
    }
    panel.webview.options = webviewOptions(this.context.extensionUri);
    // A tab that showed the newest step follows it again (the run may have gone on); else it pins its step.
    const step = saved?.following !== true && typeof saved?.step === 'number' ? saved.step : null;
    this.openPanel(panel, runId, step);
  }

  private openPanel(panel: vscode.WebviewPanel, runId: string, step: number | null): void {
    const name = this.store.get(runId)?.info.name ?? runId;
    panel.title = `Rollouts: ${name}`;
    panel.webview.html = webviewHtml(panel.webview, this.context.extensionUri, 'rollouts', panel.title, { mode: 'panel' });
    const session = new RolloutsSession(panel.webview, this.store, 'panel', runId, step);
    const entry = { panel, session };
    this.panels.add(entry);
    const visibility = panel.onDidChangeViewState(() => {
      if (!panel.visible) session.webviewReset();
    });
    panel.onDidDispose(() => {
      visibility.dispose();
      session.dispose();
      this.panels.delete(entry);
    });
  }

  dispose(): void {
    for (const { panel } of [...this.panels]) panel.dispose();
    this.viewSession?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

function stepOf(arg: unknown): number | null {
  if (typeof arg !== 'object' || arg === null || !('step' in arg)) return null;
  const step = (arg as { step: unknown }).step;
  return typeof step === 'number' && Number.isInteger(step) ? step : null;
}
