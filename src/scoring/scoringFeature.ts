// pacs.scoreResponse: pick a run, a checkpoint, a prompt and a response (or take them from the
// rollout inspector's "Edit and re-score"), export the run to ONNX when needed, and show the
// implicit critic's verdict in the pacs.scorer panel. Scoring itself is src/scoring/model.
import * as vscode from 'vscode';
import { isScorerPersistedState, SCORER_VIEW_TYPE } from '../../webview/scorer/contract';
import type { ScorerPersistedState } from '../../webview/scorer/contract';
import type { RunState, RunStore } from '../runs/model/runStore';
import { runExportOnnx } from './model/exportOnnx';
import { ScoreError } from './model/implicitReward';
import { readGroup } from './model/group';
import type { SampleRef } from './model/group';
import { checkpointSteps, exportState } from './model/manifest';
import { ScorerCache } from './model/scorer';
import { pickRun } from '../runs/pickRun';
import { requireTrust } from '../trust/trust';
import { Disposer } from '../vscode/disposer';
import { registerPanelRestorer } from '../webviews/webviewSession';
import { ScorerPanel } from './scorerPanel';
import type { ScorerTarget } from './scorerPanel';
import { parseScoreRequest, sampleOf } from './model/scoreRequest';

/** What the feature needs of src/python/trainerPython.ts. */
export interface PythonResolver {
  require(resource?: vscode.Uri): Promise<string | undefined>;
}

const EXPORT = 'Export';
const TRUST_ACTION = 'export or score runs';

export class ScoringFeature extends Disposer {
  private readonly cache = new ScorerCache();
  private panel: ScorerPanel | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly store: RunStore,
    private readonly python?: PythonResolver,
  ) {
    super();
    this.track({ dispose: () => this.cache.dispose() });
    this.track(vscode.commands.registerCommand('pacs.scoreResponse', (arg?: unknown) => this.scoreResponse(arg)));
    this.track(registerPanelRestorer(SCORER_VIEW_TYPE, context.extensionUri, (state) => this.restorable(state), (panel, saved) => this.restore(panel, saved)));
    this.track({ dispose: () => this.panel?.dispose() });
  }

  private async scoreResponse(arg: unknown): Promise<void> {
    // Scoring may export the run with the trainer's Python, and loads the run's models: both act on
    // the workspace's run folders, which Restricted Mode treats as untrusted.
    if (!(await requireTrust(TRUST_ACTION))) return;
    const request = parseScoreRequest(arg);
    const run = await pickRun(this.store, request.runId, { placeHolder: 'Select a run whose implicit critic scores the response' });
    if (!run) return;
    const steps = await checkpointSteps(run.dir);
    if (steps.length === 0) {
      void vscode.window.showWarningMessage(`PACS Lab: run ${run.id} has no checkpoint yet (${run.dir}/checkpoints). Score after its first checkpoint, or use "PACS: Save Checkpoint Now".`);
      return;
    }
    const sample = sampleOf(request);
    const step = sample ? steps[steps.length - 1] : await this.pickStep(steps, request.step);
    if (step === undefined) return;
    const prompt = request.prompt ?? (await vscode.window.showInputBox({ title: 'Score a Response (1/2)', prompt: 'The prompt as the model saw it (the task template applied)', ignoreFocusOut: true }));
    if (prompt === undefined) return;
    const response = request.response ?? (await vscode.window.showInputBox({ title: 'Score a Response (2/2)', prompt: 'The response to score (an EOS token is appended)', ignoreFocusOut: true }));
    if (response === undefined) return;
    const eos = sample ? await loggedEos(run.dir, sample, response) : true;
    const target: ScorerTarget = { runId: run.id, runName: run.configName, runDir: run.dir, checkpoints: steps, step, prompt, response, eos, sample };
    this.showPanel(target, true);
  }

  private async pickStep(steps: number[], wanted: number | undefined): Promise<number | undefined> {
    if (wanted !== undefined && steps.includes(wanted)) return wanted;
    if (steps.length === 1) return steps[0];
    const items = [...steps].reverse().map((step, i) => ({ label: `step ${step}`, description: i === 0 ? 'newest' : undefined, step }));
    const picked = await vscode.window.showQuickPick(items, { placeHolder: 'Select the checkpoint whose policy scores the response' });
    return picked?.step;
  }

  private showPanel(target: ScorerTarget, offerExport: boolean, panel?: vscode.WebviewPanel): void {
    if (this.panel && !panel) {
      this.panel.retarget(target, offerExport);
      return;
    }
    const scorer = new ScorerPanel(this.context.extensionUri, target, { cache: this.cache, ensureExport: (t, ask) => this.ensureExport(t, ask) }, panel);
    this.panel = scorer;
    scorer.onDidDispose(() => {
      if (this.panel === scorer) this.panel = undefined;
    });
    scorer.start(offerExport);
  }

  /** A saved scorer tab of a run still in the store. */
  private restorable(state: unknown): { state: ScorerPersistedState; run: RunState } | undefined {
    const run = isScorerPersistedState(state) ? this.store.get(state.runId) : undefined;
    return run && isScorerPersistedState(state) ? { state, run } : undefined;
  }

  private async restore(panel: vscode.WebviewPanel, { state, run }: { state: ScorerPersistedState; run: RunState }): Promise<void> {
    const steps = await checkpointSteps(run.dir);
    this.showPanel({ ...state, runName: run.configName, runDir: run.dir, checkpoints: steps, sample: state.sample ?? null }, false, panel);
  }

  /** True when RUN_DIR/onnx can score the target's step, exporting it first when the user agrees. */
  private async ensureExport(target: ScorerTarget, ask: boolean): Promise<boolean> {
    // A panel restored in Restricted Mode, or one left open when trust was withdrawn.
    if (!vscode.workspace.isTrusted) {
      if (ask) void requireTrust(TRUST_ACTION);
      throw new ScoreError(`PACS Lab does not ${TRUST_ACTION} in Restricted Mode. Trust the workspace to score.`);
    }
    const state = await exportState(target.runDir, target.step);
    if (state.ready) return true;
    if (!ask) return false;
    const choice = await vscode.window.showInformationMessage(
      `PACS Lab: run ${target.runId} needs an ONNX export of step ${target.step} to score (${state.reason}). Export it now with the trainer's Python?`,
      EXPORT,
    );
    if (choice !== EXPORT) return false;
    const python = await this.resolvePython();
    if (!python) return false;
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `PACS Lab: exporting ${target.runId} step ${target.step} to ONNX`, cancellable: true },
        (progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return runExportOnnx(python, target.runDir, { step: target.step, signal: abort.signal, onLine: (line) => progress.report({ message: line }) });
        },
      );
      return true;
    } catch (err) {
      void vscode.window.showErrorMessage(`PACS Lab: the ONNX export failed. ${(err as Error).message}`);
      return false;
    }
  }

  private async resolvePython(): Promise<string | undefined> {
    if (this.python) return this.python.require();
    return vscode.workspace.getConfiguration('pacs').get<string>('pythonPath')?.trim() || process.env.PACS_PYTHON || 'python3';
  }
}

/** A logged response ends with EOS unless it was truncated; an edited one ends with EOS. */
async function loggedEos(runDir: string, sample: SampleRef, response: string): Promise<boolean> {
  const members = await readGroup(runDir, sample).catch(() => []);
  const logged = members.find((m) => m.index === sample.index);
  return logged && logged.response === response ? !logged.truncated : true;
}
