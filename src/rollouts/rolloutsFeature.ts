// The Rollouts side view (follows the run the user is looking at) and pacs.inspectRollouts
// editor tabs, restored after a window reload by their serializer.

import * as vscode from 'vscode';
import { type RolloutsPersistedState } from '../../webview/rollouts/contract';
import { VIEW_TYPES } from '../../webview/shared/contract';
import type { RunStore } from '../runs/model/runStore';
import { LIVE_STATUSES } from '../run/model/runFormat';
import { pickRun } from '../runs/pickRun';
import { Disposer } from '../vscode/disposer';
import { createWebviewPanel, registerPanelRestorer, SessionSet } from '../webviews/webviewSession';
import { webviewHtml, webviewOptions } from '../webviews/webviewSession';
import { RolloutsSession } from './rolloutsSession';

export class RolloutsFeature extends Disposer implements vscode.WebviewViewProvider {
  private viewSession: RolloutsSession | undefined;
  /** The run the side view was told to follow; undefined follows the newest live run. */
  private followed: string | undefined;
  private readonly panels = new SessionSet<RolloutsSession>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly store: RunStore,
  ) {
    super();
    this.track(vscode.window.registerWebviewViewProvider(VIEW_TYPES.rolloutsView, this));
    this.track(vscode.commands.registerCommand('pacs.inspectRollouts', (arg?: unknown) => this.inspect(arg)));
    this.track(
      registerPanelRestorer(VIEW_TYPES.rolloutInspector, context.extensionUri, restoredTab, (panel, { runId, step }) => this.openPanel(panel, runId, step)),
    );
    this.track(store.onDidChange(({ runIds }) => this.runsChanged(runIds)));
    this.track(this.panels);
    this.track({ dispose: () => this.viewSession?.dispose() });
  }

  /** Makes the side view show `runId` (the runs tree's selection, an active dashboard); a run it already shows keeps its step. */
  followRun(runId: string): void {
    this.followed = runId;
    if (this.viewSession?.currentRunId !== runId) this.viewSession?.showRun(runId);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    view.webview.options = webviewOptions(this.context.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.context.extensionUri, 'rollouts', 'Rollouts', { mode: 'view' });
    const session = new RolloutsSession(view, this.store, 'view', this.viewRunId() ?? null, null);
    this.viewSession = session;
    session.onDidDispose(() => {
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
    for (const session of this.panels) session.runsChanged(runIds);
  }

  /** pacs.inspectRollouts: a run id, `{ runId, step? }`, or nothing (quick pick). */
  async inspect(arg: unknown): Promise<void> {
    const run = await pickRun(this.store, arg, { placeHolder: 'Select a run to inspect its rollouts' });
    if (!run) return;
    const step = stepOf(arg);
    const existing = this.panels.find((session) => session.currentRunId === run.id);
    if (existing) {
      existing.showRun(run.id, step);
      existing.reveal();
      return;
    }
    this.openPanel(createWebviewPanel(VIEW_TYPES.rolloutInspector, `Rollouts: ${run.info.name}`, this.context.extensionUri), run.id, step);
  }

  private openPanel(panel: vscode.WebviewPanel, runId: string, step: number | null): void {
    const name = this.store.get(runId)?.info.name ?? runId;
    panel.title = `Rollouts: ${name}`;
    panel.webview.html = webviewHtml(panel.webview, this.context.extensionUri, 'rollouts', panel.title, { mode: 'panel' });
    this.panels.add(new RolloutsSession(panel, this.store, 'panel', runId, step));
  }
}

/** A restored tab's run, and its step unless it showed the newest (then it follows the newest again: the run may have gone on). */
function restoredTab(state: unknown): { runId: string; step: number | null } | undefined {
  const saved = state as Partial<RolloutsPersistedState> | undefined;
  if (typeof saved?.runId !== 'string' || !saved.runId) return undefined;
  return { runId: saved.runId, step: saved.following !== true && typeof saved.step === 'number' ? saved.step : null };
}

function stepOf(arg: unknown): number | null {
  if (typeof arg !== 'object' || arg === null || !('step' in arg)) return null;
  const step = (arg as { step: unknown }).step;
  return typeof step === 'number' && Number.isInteger(step) ? step : null;
}
