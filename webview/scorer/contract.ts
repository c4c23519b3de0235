// The messages between the host (src/scoring/scorerPanel.ts) and the scorer webview. No DOM and
// no vscode types here: both sides import it.

import { isInt, isRecord, isString, messageGuard } from '../shared/contract';

export const SCORER_VIEW_TYPE = 'pacs.scorer';

export interface SampleRefView {
  step: number;
  group: number;
  index: number;
}

export interface ScoreView {
  step: number;
  reference: string;
  beta: number;
  reward_method: string;
  logratio: number;
  reward_hat: number;
  tokens: string[];
  token_logratio: number[];
  unknown_chars: string[];
  eos: boolean;
  /** With a logged sample: ψ and σ(ψ) against its group, and its label when unedited. */
  psi?: number;
  p_correct?: number;
  label?: number | null;
  edited?: boolean;
  adv_estimator?: string;
}

export interface ScorerState {
  runId: string;
  runName: string;
  /** Steps with checkpoints, ascending. */
  checkpoints: number[];
  step: number;
  prompt: string;
  response: string;
  eos: boolean;
  sample: SampleRefView | null;
  busy: 'scoring' | 'exporting' | null;
  error: string | null;
  result: ScoreView | null;
}

/** What the panel keeps with vscode.setState, to be reopened after a reload. */
export type ScorerPersistedState = Pick<ScorerState, 'runId' | 'step' | 'prompt' | 'response' | 'eos' | 'sample'>;

export type ScorerHostMessage = { type: 'state'; state: ScorerState };

export type ScorerWebviewMessage =
  | { type: 'ready' }
  | { type: 'rescore'; step: number; prompt: string; response: string; eos: boolean };

export const isScorerWebviewMessage = messageGuard<ScorerWebviewMessage>({
  rescore: (v) => isInt(v.step) && isString(v.prompt) && isString(v.response) && typeof v.eos === 'boolean',
});

export function isScorerHostMessage(value: unknown): value is ScorerHostMessage {
  return isRecord(value) && value.type === 'state' && isRecord(value.state);
}

export function isScorerPersistedState(value: unknown): value is ScorerPersistedState {
  return isRecord(value) && isString(value.runId) && isInt(value.step) && isString(value.prompt) && isString(value.response) && typeof value.eos === 'boolean';
}
