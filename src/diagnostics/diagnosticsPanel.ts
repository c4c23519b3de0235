// The pacs.diagnostics panel of one run: the Prompts tab (the prompt ledger) and the Held-out tab
// (each evaluation's examples). Whole state after the page's `ready` and when the run changes;
// a prompt's recorded groups and a held-out problem's responses on request. Reads the run folder
// through runFiles (no links out of it); everything read is untrusted and sent as data.
import * as vscode from 'vscode';
import { DIAGNOSTICS_VIEW_TYPE, isDiagnosticsWebviewMessage } from '../../webview/diagnostics/contract';
import type { DiagnosticsHostMessage, DiagnosticsState, DiagnosticsWebviewMessage, HeldoutDetail, PromptDetail } from '../../webview/diagnostics/contract';
import type { RunStore } from '../runs/model/runStore';
import { PanelSession, type PanelPage } from '../webviews/webviewSession';
import { diagnosticsState, readOptional } from './model/diagnosticsState';
import { parseHeldout } from './model/heldout';
import type { HeldoutExample } from './model/heldout';
import { parseLedger } from './model/promptLedger';

/** The most recorded steps a prompt's drill-down reads (the newest). */
const MAX_DETAIL_STEPS = 12;
const REFRESH_MS = 3000;
const PAGE: PanelPage<DiagnosticsWebviewMessage> = {
  viewType: DIAGNOSTICS_VIEW_TYPE, bundle: 'diagnostics', title: 'Diagnostics', guard: isDiagnosticsWebviewMessage, source: 'diagnostics panel',
};

export class DiagnosticsPanel extends PanelSession<DiagnosticsWebviewMessage, DiagnosticsHostMessage> {
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private heldoutFiles: Array<{ step: number; file: string }> = [];

  constructor(
    extensionUri: vscode.Uri,
    readonly runId: string,
    private readonly store: RunStore,
    panel?: vscode.WebviewPanel,
  ) {
    super(extensionUri, PAGE, panel);
    this.panel.title = `Diagnostics · ${runId}`;
    this.track(store.onDidChange(({ runIds }) => runIds.includes(runId) && this.refresh()));
    this.track({ dispose: () => clearTimeout(this.refreshTimer) });
  }

  /** A live run changes every step: the whole state at most every REFRESH_MS. */
  private refresh(): void {
    this.refreshTimer ??= setTimeout(() => {
      this.refreshTimer = undefined;
      void this.postState();
    }, REFRESH_MS);
  }

  protected onReady(): void {
    void this.postState();
  }

  protected handle(message: Exclude<DiagnosticsWebviewMessage, { type: 'ready' }>): void {
    if (message.type === 'prompt') void this.promptDetail(message.id).then((detail) => detail && this.post({ type: 'promptDetail', detail }));
    else void this.heldoutDetail(message.set, message.id).then((detail) => this.post({ type: 'heldoutDetail', detail }));
  }

  private async postState(): Promise<void> {
    const state = await this.readState();
    if (state) await this.post({ type: 'state', state });
  }

  private async readState(): Promise<DiagnosticsState | null> {
    const read = await diagnosticsState(this.store, this.runId);
    if (read) this.heldoutFiles = read.heldoutFiles;
    return read?.state ?? null;
  }

  private async promptDetail(id: string): Promise<PromptDetail | null> {
    const run = this.store.get(this.runId);
    if (!run) return null;
    const steps = [...new Set(parseLedger(await readOptional(run.dir, 'ledger.jsonl')).rows.filter((r) => r.id === id).map((r) => r.step))];
    const recorded = new Set(this.store.rolloutSteps(this.runId));
    const wanted = steps.filter((s) => recorded.has(s)).slice(-MAX_DETAIL_STEPS);
    const groups: PromptDetail['groups'] = [];
    for (const step of wanted) {
      const records = await this.store.loadRollouts(this.runId, step);
      const light = records.samples.filter((s) => (s.prompt_id ?? s.prompt) === id || s.prompt === id);
      if (!light.length) continue;
      // a Parquet step's samples come without their tokens and whole responses: read the few shown here from the file
      const mine = await Promise.all(light.map(async (s) => (await records.sample(s.group, s.index)) ?? s));
      groups.push({
        step,
        samples: mine.map((s) => ({
          index: s.index, reward: s.reward, psi: typeof s.psi === 'number' ? s.psi : null, response: s.response,
          ...(Array.isArray(s.tokens) && Array.isArray(s.token_logratio) ? { tokens: s.tokens, token_logratio: s.token_logratio } : {}),
        })),
      });
    }
    return { id, groups, unrecorded: steps.filter((s) => !recorded.has(s)) };
  }

  private async heldoutDetail(set: string | null, id: string): Promise<HeldoutDetail> {
    const run = this.store.get(this.runId);
    const evaluations: HeldoutDetail['evaluations'] = [];
    for (const { step, file } of run ? this.heldoutFiles : []) {
      const example = parseHeldout(await readOptional(run!.dir, file)).examples.find((e: HeldoutExample) => e.id === id && e.set === set);
      if (example) evaluations.push({ step, example });
    }
    return { set, id, evaluations };
  }
}
