// The pacs.scorer panel: whole state to the webview after its `ready`; "Re-score" messages back.
import * as vscode from 'vscode';
import { isScorerWebviewMessage, SCORER_VIEW_TYPE } from '../../webview/scorer/contract';
import type { ScoreView, ScorerHostMessage, ScorerState, ScorerWebviewMessage } from '../../webview/scorer/contract';
import { ScoreError } from './model/implicitReward';
import type { GroupScoreResult, ScoreResult, ScorerCache } from './model/scorer';
import { PanelSession, type PanelPage } from '../webviews/webviewSession';

export interface ScorerTarget {
  runId: string;
  runName: string;
  runDir: string;
  checkpoints: number[];
  step: number;
  prompt: string;
  response: string;
  eos: boolean;
  sample: { step: number; group: number; index: number } | null;
}

export interface ScorerDeps {
  cache: ScorerCache;
  /** Whether the target's step can be scored; `ask` lets it offer an export. */
  ensureExport(target: ScorerTarget, ask: boolean): Promise<boolean>;
}

const PAGE: PanelPage<ScorerWebviewMessage> = {
  viewType: SCORER_VIEW_TYPE, bundle: 'scorer', title: 'Score a Response', guard: isScorerWebviewMessage, source: 'scorer',
};

export class ScorerPanel extends PanelSession<ScorerWebviewMessage, ScorerHostMessage> {
  private generation = 0;
  private busy: ScorerState['busy'] = null;
  private error: string | null = null;
  private result: ScoreView | null = null;

  constructor(
    extensionUri: vscode.Uri,
    private target: ScorerTarget,
    private readonly deps: ScorerDeps,
    panel?: vscode.WebviewPanel,
  ) {
    super(extensionUri, PAGE, panel);
    this.updateTitle();
  }

  start(offerExport: boolean): void {
    void this.score(offerExport);
  }

  retarget(target: ScorerTarget, offerExport: boolean): void {
    this.target = target;
    this.result = null;
    this.updateTitle();
    this.reveal();
    void this.score(offerExport);
  }

  private updateTitle(): void {
    this.panel.title = `Score · ${this.target.runName} · step ${this.target.step}`;
  }

  protected onReady(): void {
    this.postState();
  }

  /** `rescore`, the page's one message besides `ready`. */
  protected handle(message: Exclude<ScorerWebviewMessage, { type: 'ready' }>): void {
    this.target = { ...this.target, step: message.step, prompt: message.prompt, response: message.response, eos: message.eos };
    this.updateTitle();
    void this.score(true);
  }

  private async score(offerExport: boolean): Promise<void> {
    const generation = ++this.generation;
    const target = this.target;
    this.busy = 'exporting';
    this.error = null;
    this.postState();
    try {
      if (!(await this.deps.ensureExport(target, offerExport))) {
        this.finish(generation, null, `Step ${target.step} of this run has no current ONNX export. Press Re-score to export it (python -m pacslab export-onnx --run ${target.runDir} --step ${target.step}).`);
        return;
      }
      if (generation !== this.generation) return;
      this.busy = 'scoring';
      this.postState();
      const scorer = await this.deps.cache.get(target.runDir, target.step);
      const result = target.sample
        ? await scorer.scoreInGroup(target.sample, { prompt: target.prompt, response: target.response, eos: target.eos })
        : await scorer.score(target.prompt, target.response, target.eos);
      this.finish(generation, toView(result), null);
    } catch (err) {
      this.finish(generation, null, err instanceof ScoreError ? err.message : `Scoring failed: ${(err as Error).message}`);
    }
  }

  private finish(generation: number, result: ScoreView | null, error: string | null): void {
    if (generation !== this.generation) return;
    this.busy = null;
    this.result = result;
    this.error = error;
    this.postState();
  }

  private postState(): void {
    const t = this.target;
    const state: ScorerState = {
      runId: t.runId,
      runName: t.runName,
      checkpoints: t.checkpoints,
      step: t.step,
      prompt: t.prompt,
      response: t.response,
      eos: t.eos,
      sample: t.sample,
      busy: this.busy,
      error: this.error,
      result: this.result,
    };
    void this.post({ type: 'state', state });
  }
}

function toView(result: ScoreResult | GroupScoreResult): ScoreView {
  const view: ScoreView = {
    step: result.step,
    reference: result.reference,
    beta: result.beta,
    reward_method: result.reward_method,
    logratio: result.logratio,
    reward_hat: result.reward_hat,
    tokens: result.tokens,
    token_logratio: result.token_logratio,
    unknown_chars: result.unknown_chars,
    eos: result.eos,
  };
  if ('psi' in result) {
    Object.assign(view, { psi: result.psi, p_correct: result.p_correct, label: result.label, edited: result.edited, adv_estimator: result.adv_estimator });
  }
  return view;
}
