// One rollout inspector webview (the side view or an editor tab): which run and step it shows,
// loading that one step file and sending its samples in chunks after the webview's `ready`.

import * as vscode from 'vscode';
import { isRolloutsWebviewMessage, type RolloutsHostMessage, type RolloutsState, type RolloutsWebviewMessage } from '../../webview/rollouts/contract';
import { assertNever } from '../../webview/shared/contract';
import type { RunStore } from '../runs/model/runStore';
import { WebviewSession } from '../webviews/webviewSession';
import { pinFor, shownStep } from '../run/model/runModel';
import { readLatestReverify } from '../runs/model/reverify';
import { withReverify } from './model/reverifyView';
import { responsesMessages, rolloutsState, sampleMessages, tokensMessage, type LoadedStep } from './model/rolloutsState';

export class RolloutsSession extends WebviewSession<RolloutsWebviewMessage, RolloutsHostMessage> {
  private loadId = 0;
  private loaded: LoadedStep | null = null;
  private error: string | null = null;

  constructor(
    surface: vscode.WebviewPanel | vscode.WebviewView,
    private readonly store: RunStore,
    private readonly mode: 'view' | 'panel',
    private runId: string | null,
    /** The step the user picked; null follows the newest step with rollouts. */
    private pinnedStep: number | null,
  ) {
    super(surface, isRolloutsWebviewMessage, 'rollout inspector');
  }

  get currentRunId(): string | null {
    return this.runId;
  }

  /** Shows another run (from its newest step, or `step`). */
  showRun(runId: string, step: number | null = null): void {
    if (runId === this.runId && step === this.pinnedStep) return;
    this.runId = runId;
    this.pinnedStep = step;
    void this.sync();
  }

  /** Loads the shown step again (a re-verification was written beside it). */
  reload(): void {
    this.loaded = null;
    void this.sync();
  }

  /** Called on every store change. */
  runsChanged(runIds: readonly string[]): void {
    if (this.runId && runIds.includes(this.runId)) void this.sync();
  }

  protected onReady(): void {
    void this.sync(true);
  }

  protected handle(message: Exclude<RolloutsWebviewMessage, { type: 'ready' }>): void {
    switch (message.type) {
      case 'selectStep': {
        this.pinnedStep = pinFor(this.runId ? this.store.rolloutSteps(this.runId) : [], message.step);
        void this.sync();
        return;
      }
      case 'rescore':
        void vscode.commands.executeCommand('pacs.scoreResponse', message.request);
        return;
      case 'addVerifierCase':
        void vscode.commands.executeCommand('pacs.addVerifierCase', message.sample);
        return;
      case 'openInPanel':
        void vscode.commands.executeCommand('pacs.inspectRollouts', { runId: this.runId, step: message.step });
        return;
      case 'loadTokens':
        void this.sendTokens(message.loadId, message.group, message.index);
        return;
      case 'loadResponses':
        void this.sendResponses(message.loadId);
        return;
      default:
        assertNever(message, 'rollouts host');
    }
  }

  private currentStep(): number | null {
    return this.runId ? shownStep(this.store.rolloutSteps(this.runId), this.pinnedStep) : null;
  }

  /**
   * Sends whole state; loads and sends the samples when the step changed (or `resend`, after
   * the webview said `ready`, since a fresh webview holds none).
   */
  private async sync(resend = false): Promise<void> {
    if (!this.ready) return;
    const runId = this.runId;
    const step = this.currentStep();
    const changed = !this.loaded || this.loaded.runId !== runId || this.loaded.step !== step;
    if (changed || resend) {
      this.loadId++;
      const loadId = this.loadId;
      if (changed) {
        this.loaded = null;
        this.error = null;
        if (runId && step !== null) {
          try {
            const { samples, badLines } = await this.store.loadRollouts(runId, step);
            const dir = this.store.get(runId)?.dir;
            const folded = withReverify(samples, dir ? await readLatestReverify(dir).catch(() => null) : null, step);
            if (loadId !== this.loadId) return;
            this.loaded = { runId, step, samples: folded.samples, badLines, reverify: folded.summary };
          } catch (err) {
            if (loadId !== this.loadId) return;
            this.error = `Cannot read the rollouts of step ${step}: ${(err as Error).message}`;
          }
        }
      }
      await this.post({ type: 'state', state: this.state(step) });
      await this.sendSamples(loadId);
      return;
    }
    await this.post({ type: 'state', state: this.state(step) });
  }

  private async sendSamples(loadId: number): Promise<void> {
    for (const message of sampleMessages(loadId, this.loaded?.samples ?? [])) {
      if (loadId !== this.loadId || !this.ready) return;
      await this.post(message);
    }
  }

  /** A shown sample's token details and whole response, read from the step file now (a Parquet step keeps them out of the samples). */
  private async sendTokens(loadId: number, group: number, index: number): Promise<void> {
    const loaded = this.loaded;
    if (loadId !== this.loadId || !loaded) return;
    await this.post(await tokensMessage(this.store, loaded, loadId, group, index));
  }

  /** Every whole response of the loaded step (the text filter searches them; the samples carry previews). */
  private async sendResponses(loadId: number): Promise<void> {
    const loaded = this.loaded;
    if (loadId !== this.loadId || !loaded) return;
    for await (const message of responsesMessages(this.store, loaded, loadId)) {
      if (loadId !== this.loadId || !this.ready) return;
      await this.post(message);
    }
  }

  private state(step: number | null): RolloutsState {
    return rolloutsState(this.store, this.runId, step, this.loadId, this.loaded, this.error, this.mode);
  }
}
