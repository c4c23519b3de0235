// The messages between the host (src/diagnostics/diagnosticsPanel.ts) and the diagnostics webview:
// the Prompts tab (the prompt ledger) and the Held-out tab. No DOM and no vscode types here.

import type { HeldoutExample, HeldoutResult } from '../../src/diagnostics/model/heldout';
import type { PromptSummary, StepShares } from '../../src/diagnostics/model/promptLedger';
import { isInt, isRecord, isString, messageGuard } from '../shared/contract';

export type { HeldoutExample, HeldoutResult, PromptSummary, StepShares };

export const DIAGNOSTICS_VIEW_TYPE = 'pacs.diagnostics';

export interface DiagnosticsState {
  runId: string;
  runName: string;
  /** Every prompt of the ledger; empty for a run without one (an older or imported run). */
  prompts: PromptSummary[];
  shares: StepShares[];
  /** Ledger lines that could not be read (named by line). */
  ledgerProblems: string[];
  /** Every evaluation's light results, in step order. */
  evaluations: Array<{ step: number; results: HeldoutResult[] }>;
}

/** The recorded groups of one prompt (its steps with rollouts): samples side by side. */
export interface PromptDetail {
  id: string;
  groups: Array<{ step: number; samples: Array<{ index: number; reward: number; psi: number | null; response: string; tokens?: string[]; token_logratio?: number[] }> }>;
  /** Steps that sampled it without recorded rollouts. */
  unrecorded: number[];
}

/** One held-out problem's result and responses at each evaluation. */
export interface HeldoutDetail {
  set: string | null;
  id: string;
  evaluations: Array<{ step: number; example: HeldoutExample }>;
}

export type DiagnosticsHostMessage =
  | { type: 'state'; state: DiagnosticsState }
  | { type: 'promptDetail'; detail: PromptDetail }
  | { type: 'heldoutDetail'; detail: HeldoutDetail };

export type DiagnosticsWebviewMessage =
  | { type: 'ready' }
  | { type: 'prompt'; id: string }
  | { type: 'heldout'; set: string | null; id: string };

export const isDiagnosticsWebviewMessage = messageGuard<DiagnosticsWebviewMessage>({
  prompt: (v) => isString(v.id),
  heldout: (v) => isString(v.id) && (v.set === null || isString(v.set)),
});

export function isDiagnosticsHostMessage(value: unknown): value is DiagnosticsHostMessage {
  return isRecord(value) && (value.type === 'state' || value.type === 'promptDetail' || value.type === 'heldoutDetail') && isRecord(value.state ?? value.detail);
}

export function isDiagnosticsPersistedState(value: unknown): value is { runId: string } {
  return isRecord(value) && isString(value.runId);
}

export { isInt };
