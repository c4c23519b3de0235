// What the rollout inspector host sends, from the run store. No vscode: the browser tests
// record their host messages with these same functions.

import { RESPONSE_CHUNK_CHARS, SAMPLE_CHUNK, type ReverifySummary, type RolloutsHostMessage, type RolloutsState } from '../../../webview/rollouts/contract';
import { type RolloutSample } from '../../../webview/shared/contract';
import { runSummary } from '../../dashboard/model/charts';
import type { RunStore } from '../../runs/model/runStore';

export type RolloutsStore = Pick<RunStore, 'get' | 'rolloutSteps'>;
export type TokensStore = Pick<RunStore, 'loadSample'>;
export type ResponsesStore = Pick<RunStore, 'loadRollouts'>;

export interface LoadedStep {
  runId: string;
  step: number;
  samples: RolloutSample[];
  badLines: number;
  /** The run's newest re-verification, folded into `samples` (src/rollouts/model/reverifyView.ts). */
  reverify?: ReverifySummary | null;
}

export function rolloutsState(
  store: RolloutsStore,
  runId: string | null,
  step: number | null,
  loadId: number,
  loaded: LoadedStep | null,
  error: string | null,
  mode: RolloutsState['mode'],
): RolloutsState {
  const run = runId ? store.get(runId) : undefined;
  const missing = runId && !run ? `Run ${runId} is no longer in the runs folder.` : null;
  return {
    run: run ? runSummary(run.info) : null,
    steps: run ? [...store.rolloutSteps(run.id)] : [],
    step: run ? step : null,
    loadId,
    total: loaded?.samples.length ?? 0,
    badLines: loaded?.badLines ?? 0,
    error: missing ?? error,
    mode,
    reverify: loaded?.reverify ?? null,
  };
}

/** The samples of one load as `samples` messages of SAMPLE_CHUNK each. */
export function* sampleMessages(loadId: number, samples: readonly RolloutSample[]): Generator<RolloutsHostMessage> {
  for (let offset = 0; offset < samples.length; offset += SAMPLE_CHUNK) {
    yield { type: 'samples', loadId, offset, samples: samples.slice(offset, offset + SAMPLE_CHUNK) };
  }
}

/** The `tokens` message answering a webview's `loadTokens` for a sample of the loaded step: its tokens and whole response. */
export async function tokensMessage(store: TokensStore, loaded: LoadedStep, loadId: number, group: number,
  index: number): Promise<RolloutsHostMessage> {
  try {
    const sample = await store.loadSample(loaded.runId, loaded.step, group, index);
    const details = Array.isArray(sample?.tokens)
      ? { tokens: sample.tokens, ...(Array.isArray(sample.token_logratio) ? { token_logratio: sample.token_logratio } : {}) } : null;
    return { type: 'tokens', loadId, group, index, details, ...(typeof sample?.response === 'string' ? { response: sample.response } : {}), error: null };
  } catch (err) {
    return { type: 'tokens', loadId, group, index, details: null, error: `Cannot read the tokens of group ${group} sample ${index}: ${(err as Error).message}` };
  }
}

/** The `responses` messages answering a webview's `loadResponses`: every whole response of the loaded step, in chunks. */
export async function* responsesMessages(store: ResponsesStore, loaded: LoadedStep, loadId: number): AsyncGenerator<RolloutsHostMessage> {
  let responses: string[];
  try {
    responses = await (await store.loadRollouts(loaded.runId, loaded.step)).responses();
    if (responses.length !== loaded.samples.length) throw new Error('the step file changed since it was opened; open the step again');
  } catch (err) {
    yield { type: 'responses', loadId, offset: 0, responses: [], error: `Cannot read the whole responses of step ${loaded.step}: ${(err as Error).message}` };
    return;
  }
  let offset = 0;
  do {
    let end = offset;
    for (let chars = 0; end < responses.length && chars < RESPONSE_CHUNK_CHARS; end++) chars += responses[end].length;
    yield { type: 'responses', loadId, offset, responses: responses.slice(offset, end), error: null };
    offset = end;
  } while (offset < responses.length);
}
