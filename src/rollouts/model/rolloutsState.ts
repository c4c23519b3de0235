// What the rollout inspector host sends, from the run store. No vscode: the browser tests
// record their host messages with these same functions.

import { SAMPLE_CHUNK, type ReverifySummary, type RolloutsHostMessage, type RolloutsState } from '../../../webview/rollouts/contract';
import { type RolloutSample } from '../../../webview/shared/contract';
import { runSummary } from '../../dashboard/model/charts';
import type { RunStore } from '../../runs/model/runStore';

export type RolloutsStore = Pick<RunStore, 'get' | 'rolloutSteps'>;
export type TokensStore = Pick<RunStore, 'loadTokenDetails'>;

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

/** The `tokens` message answering a webview's `loadTokens` for a sample of the loaded step. */
export async function tokensMessage(store: TokensStore, loaded: LoadedStep, loadId: number, group: number,
  index: number): Promise<RolloutsHostMessage> {
  try {
    const details = await store.loadTokenDetails(loaded.runId, loaded.step, group, index);
    return { type: 'tokens', loadId, group, index, details, error: null };
  } catch (err) {
    return { type: 'tokens', loadId, group, index, details: null, error: `Cannot read the tokens of group ${group} sample ${index}: ${(err as Error).message}` };
  }
}
