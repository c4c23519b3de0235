// One dashboard editor tab: the runs it shows, the step the critic view is at, and the whole
// DashboardState it pushes to its webview after `ready` and whenever the store changes.

import * as vscode from 'vscode';
import { isDashboardWebviewMessage, type DashboardHostMessage, type DashboardState, type DashboardWebviewMessage } from '../../webview/dashboard/contract';
import { assertNever } from '../../webview/shared/contract';
import type { RunStore } from '../runs/model/runStore';
import { WebviewSession } from '../webviews/webviewSession';
import { webviewHtml } from '../webviews/webviewSession';
import { pinFor, shownStep } from '../run/model/runModel';
import { dashboardState, loadCritic, type CriticResult } from './model/dashboardState';
import type { RunConfigCache } from './model/runConfig';
import { seriesCsv } from './model/charts';
import { pngBytes, safeFileName } from './model/exportFiles';
import { clampSmoothing } from './model/smoothing';
import { sweepView } from '../sweeps/model/sweepView';
import { PromptHealthReader } from '../diagnostics/model/promptHealth';

/** The host sends at most this often; the webview also redraws at most 4 times a second. */
const PUSH_INTERVAL_MS = 250;

export class DashboardPanel extends WebviewSession<DashboardWebviewMessage, DashboardHostMessage> {
  private pushTimer: ReturnType<typeof setTimeout> | undefined;
  private lastPush = 0;
  private criticRunId: string | null;
  /** The step the user picked; null follows the newest step with rollouts. */
  private pinnedStep: number | null;
  private critic: CriticResult | null = null;
  private ids: string[];
  /** The weight of the training curves' EMA; the webview sends its own after `ready`. */
  private smoothing: number;
  private readonly promptHealth = new PromptHealthReader();
  private readonly onDidFocusRunEmitter = new vscode.EventEmitter<string>();
  /** Fires with the panel's critic run when the panel becomes the active editor. */
  readonly onDidFocusRun = this.onDidFocusRunEmitter.event;

  constructor(
    readonly panel: vscode.WebviewPanel,
    runIds: readonly string[],
    private readonly store: RunStore,
    private readonly configs: RunConfigCache,
    extensionUri: vscode.Uri,
    restored?: { criticRunId: string | null; criticStep: number | null; smoothing?: number },
  ) {
    super(panel, isDashboardWebviewMessage, 'dashboard');
    this.ids = [...runIds];
    this.criticRunId = restored?.criticRunId && runIds.includes(restored.criticRunId) ? restored.criticRunId : (runIds[0] ?? null);
    this.pinnedStep = restored?.criticStep ?? null;
    this.smoothing = clampSmoothing(restored?.smoothing);
    panel.title = this.title();
    panel.webview.html = webviewHtml(panel.webview, extensionUri, 'dashboard', panel.title);
    this.track(this.onDidFocusRunEmitter);
    this.track(
      panel.onDidChangeViewState(({ webviewPanel }) => {
        if (webviewPanel.active && this.criticRunId) this.onDidFocusRunEmitter.fire(this.criticRunId);
      }),
    );
    this.track({ dispose: () => clearTimeout(this.pushTimer) });
  }

  get runIds(): readonly string[] {
    return this.ids;
  }

  /** Shows these runs instead (runs added to or removed from the comparison in the Runs tree). */
  setRuns(runIds: readonly string[]): void {
    if (runIds.length === 0) return;
    this.ids = [...runIds];
    if (!this.criticRunId || !this.ids.includes(this.criticRunId)) {
      this.criticRunId = this.ids[0];
      this.pinnedStep = null;
    }
    this.panel.title = this.title();
    this.schedulePush(true);
  }

  /** Called on every store change; pushes when one of this panel's runs changed. */
  runsChanged(runIds: readonly string[]): void {
    if (runIds.some((id) => this.runIds.includes(id))) this.schedulePush();
  }

  /** A default export file name: the run's name, or `compare-N-runs`. */
  private fileStem(): string {
    return this.runIds.length === 1 ? safeFileName(this.store.get(this.runIds[0])?.info.name ?? this.runIds[0]) : `compare-${this.runIds.length}-runs`;
  }

  private title(): string {
    if (this.runIds.length === 1) return `Dashboard: ${this.store.get(this.runIds[0])?.info.name ?? this.runIds[0]}`;
    return `Compare ${this.runIds.length} runs`;
  }

  protected onReady(): void {
    this.schedulePush(true);
  }

  protected handle(message: Exclude<DashboardWebviewMessage, { type: 'ready' }>): void {
    switch (message.type) {
      case 'selectCriticStep': {
        if (!this.runIds.includes(message.runId)) return;
        this.criticRunId = message.runId;
        this.pinnedStep = pinFor(this.store.rolloutSteps(message.runId), message.step);
        this.schedulePush(true);
        return;
      }
      case 'inspectRollouts':
        void vscode.commands.executeCommand('pacs.inspectRollouts', { runId: message.runId, step: message.step });
        return;
      case 'setSmoothing': {
        const weight = clampSmoothing(message.weight);
        if (weight === this.smoothing) return;
        this.smoothing = weight;
        this.schedulePush(true);
        return;
      }
      case 'exportCsv': {
        const exported = message.series
          .filter((ref) => this.runIds.includes(ref.runId))
          .flatMap((ref) => {
            const series = this.store.metricSeries(ref.runId).get(ref.metric);
            return series ? [{ ...ref, series }] : [];
          });
        void saveExport(`${this.fileStem()}.csv`, { CSV: ['csv'] }, new TextEncoder().encode(seriesCsv(exported)));
        return;
      }
      case 'exportPng': {
        const png = pngBytes(message.dataUrl);
        if (!png) {
          void vscode.window.showErrorMessage('PACS Lab: the chart image from the dashboard is not a PNG; nothing was saved.');
          return;
        }
        void saveExport(`${this.fileStem()}-${safeFileName(message.name)}.png`, { PNG: ['png'] }, png);
        return;
      }
      default:
        assertNever(message, 'dashboard host');
    }
  }

  private schedulePush(now = false): void {
    if (!this.ready || this.pushTimer !== undefined) return;
    const wait = now ? 0 : Math.max(0, this.lastPush + PUSH_INTERVAL_MS - Date.now());
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      this.lastPush = Date.now();
      void this.push();
    }, wait);
  }

  private async push(): Promise<void> {
    try {
      const state = await this.buildState();
      if (!this.ready) return;
      this.panel.title = this.title();
      await this.post({ type: 'state', state });
    } catch (err) {
      console.error('PACS Lab: the dashboard could not be updated', err);
    }
  }

  private async buildState(): Promise<DashboardState> {
    const found = this.runIds.map((id) => this.store.get(id)).filter((run) => run !== undefined);
    const configs = new Map(await Promise.all(found.map(async (run) => [run.id, await this.configs.read(run.dir)] as const)));
    const criticRunId = this.criticRunId && this.store.get(this.criticRunId) ? this.criticRunId : (found[0]?.id ?? null);
    const critic = criticRunId ? await this.criticAt(criticRunId) : null;
    const state = dashboardState(this.store, this.runIds, criticRunId, configs, critic, this.smoothing);
    // Compare Sweep (src/sweeps/); every run's prompt ledger (src/diagnostics/)
    return { ...state, sweep: await sweepView(found), prompts: await this.promptHealth.charts(found) };
  }

  private async criticAt(runId: string): Promise<CriticResult | null> {
    const steps = this.store.rolloutSteps(runId);
    // A panel restored at what was then the newest step follows new steps again.
    if (this.pinnedStep === steps.at(-1)) this.pinnedStep = null;
    const step = shownStep(steps, this.pinnedStep);
    if (step === null) return null;
    if (this.critic?.runId !== runId || this.critic.step !== step) this.critic = await loadCritic(this.store, runId, step);
    return this.critic;
  }
}

/** Asks where to save (in the first workspace folder by default) and writes `bytes` there. */
async function saveExport(fileName: string, filters: Record<string, string[]>, bytes: Uint8Array): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const uri = await vscode.window.showSaveDialog({ defaultUri: folder ? vscode.Uri.joinPath(folder, fileName) : undefined, filters, saveLabel: 'Export' });
  if (!uri) return;
  try {
    await vscode.workspace.fs.writeFile(uri, bytes);
  } catch (err) {
    void vscode.window.showErrorMessage(`PACS Lab: could not write ${uri.fsPath}: ${(err as Error).message}`);
  }
}
