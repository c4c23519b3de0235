// The messages between the host (src/scoring/scorerPanel.ts) and the scorer webview. No DOM and
// no vscode types here: both sides import it.

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

export function isScorerWebviewMessage(value: unknown): value is ScorerWebviewMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'ready':
      return true;
    case 'rescore':
      return Number.isInteger(m.step) && typeof m.prompt === 'string' && typeof m.response === 'string' && typeof m.eos === 'boolean';
    default:
      return false;
  }
}

export function isScorerPersistedState(value: unknown): value is ScorerPersistedState {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return typeof s.runId === 'string' && Number.isInteger(s.step) && typeof s.prompt === 'string' && typeof s.response === 'string' && typeof s.eos === 'boolean';
}
