// The rollout inspector's message contract: its state, the samples sent in chunks, the page's
// messages back (a step, a re-score, open in a panel, add a verifier case) and what the page keeps
// across sessions.

import { isInt, isRecord, isString, messageGuard, type RolloutSample, type RunSummary, type TokenDetails } from '../shared/contract';

export interface RolloutsState {
  run: RunSummary | null;
  /** Steps that have a rollouts file, ascending. */
  steps: number[];
  step: number | null;
  /** Increases with every load; `samples` messages of older loads are dropped. */
  loadId: number;
  /** Samples the host will send for this load, in `samples` chunks. */
  total: number;
  badLines: number;
  error: string | null;
  /** `view`: the side panel that follows the active run; `panel`: an editor tab. */
  mode: 'view' | 'panel';
  /** The run's newest re-verification (Re-verify Run…): labels changed at this step and overall. */
  reverify?: ReverifySummary | null;
}

export interface LabelChanges {
  checked: number;
  /** 0→1 */
  up: number;
  /** 1→0 */
  down: number;
}

export interface ReverifySummary {
  verifier: string;
  createdAt: string;
  /** null: the re-verification did not cover this step. */
  step: LabelChanges | null;
  total: LabelChanges;
}

export type RolloutsHostMessage =
  | { type: 'state'; state: RolloutsState }
  | { type: 'samples'; loadId: number; offset: number; samples: RolloutSample[] }
  /**
   * What a sample marked `token_details` or `response_cut` leaves in the step file, read when it is
   * shown: its token details and its whole response, or why not.
   */
  | { type: 'tokens'; loadId: number; group: number; index: number; details: TokenDetails | null; response?: string; error: string | null }
  /** Whole responses of the samples from `offset` on, in the order of the `samples` messages (answering `loadResponses`), or why not. */
  | { type: 'responses'; loadId: number; offset: number; responses: string[]; error: string | null };

export interface RescoreRequest {
  runId: string;
  step: number;
  group: number;
  index: number;
  prompt: string;
  response: string;
}

export type RolloutsWebviewMessage =
  | { type: 'ready' }
  | { type: 'selectStep'; step: number }
  | { type: 'rescore'; request: RescoreRequest }
  | { type: 'openInPanel'; step: number | null }
  | { type: 'addVerifierCase'; sample: SampleRef }
  /** Asks for the token details and whole response of a shown sample of load `loadId`. */
  | { type: 'loadTokens'; loadId: number; group: number; index: number }
  /** Asks for every whole response of load `loadId` (the text filter searches them). */
  | { type: 'loadResponses'; loadId: number };

/** One sample of a run's rollouts, by position (the host reads its text from the run's own file). */
export interface SampleRef {
  runId: string;
  step: number;
  group: number;
  index: number;
}

export interface RolloutsPersistedState {
  runId: string | null;
  step: number | null;
  sort: SortKey;
  descending: boolean;
  label: LabelFilter;
  text: string;
  criticWrong: boolean;
  /** Only samples whose label flipped in the newest re-verification. */
  flipped?: boolean;
  /** Only samples where task.audit_verifier and the reward's verifier disagree. */
  disagree?: boolean;
  selected: string | null;
  /** List scroll, restored when the webview is re-created. */
  scrollTop?: number;
  /** The newest step was shown: a panel restored after a reload follows the newest step again instead of pinning `step`. */
  following?: boolean;
}

export const SORT_KEYS = ['group', 'psi', 'reward', 'length', 'grad_weight'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export const LABEL_FILTERS = ['all', 'correct', 'wrong'] as const;
export type LabelFilter = (typeof LABEL_FILTERS)[number];

/** Samples per `samples` message: keeps each postMessage well under a few MB. */
export const SAMPLE_CHUNK = 2000;
/** A `responses` message ends after the response that brings it past this many characters. */
export const RESPONSE_CHUNK_CHARS = 4 << 20;

export const isRolloutsWebviewMessage = messageGuard<RolloutsWebviewMessage>({
  selectStep: (v) => isInt(v.step),
  openInPanel: (v) => v.step === null || isInt(v.step),
  addVerifierCase: ({ sample: s }) => isRecord(s) && isString(s.runId) && isInt(s.step) && isInt(s.group) && isInt(s.index),
  loadTokens: (v) => isInt(v.loadId) && isInt(v.group) && isInt(v.index),
  loadResponses: (v) => isInt(v.loadId),
  rescore: ({ request: r }) =>
    isRecord(r) && isString(r.runId) && isInt(r.step) && isInt(r.group) && isInt(r.index) && isString(r.prompt) && isString(r.response),
});

export function isRolloutsHostMessage(value: unknown): value is RolloutsHostMessage {
  if (!isRecord(value)) return false;
  switch (value.type) {
    case 'state':
      return isRecord(value.state);
    case 'samples':
      return isInt(value.loadId) && isInt(value.offset) && Array.isArray(value.samples);
    case 'tokens':
      return isInt(value.loadId) && isInt(value.group) && isInt(value.index) && (value.details === null || isRecord(value.details))
        && (value.response === undefined || isString(value.response));
    case 'responses':
      return isInt(value.loadId) && isInt(value.offset) && Array.isArray(value.responses) && value.responses.every(isString)
        && (value.error === null || isString(value.error));
    default:
      return false;
  }
}
