// The whole DashboardState of a set of runs, from the run store. No vscode: the browser tests
// build their recorded host messages with this same function.

import type { CriticView, DashboardState } from '../../../webview/dashboard/contract';
import { buildFamilies, configDiff, criticView, MAX_POINTS_PER_SERIES, runScore, runSummary } from './charts';
import { DEFAULT_SMOOTHING } from './smoothing';
import { lossMetric } from '../../run/model/runModel';
import type { RunStore } from '../../runs/model/runStore';

export type DashboardStore = Pick<RunStore, 'get' | 'metricSeries' | 'rolloutSteps' | 'loadRollouts'>;

export interface CriticResult {
  runId: string;
  step: number;
  view: CriticView | null;
  error: string | null;
}

export async function loadCritic(store: DashboardStore, runId: string, step: number): Promise<CriticResult> {
  try {
    const { samples, badLines } = await store.loadRollouts(runId, step);
    return { runId, step, view: criticView(runId, step, samples, badLines), error: null };
  } catch (err) {
    return { runId, step, view: null, error: `Cannot read the rollouts of step ${step}: ${(err as Error).message}` };
  }
}

/** `configs` holds each found run's config (null when unreadable), by run id. */
export function dashboardState(
  store: DashboardStore,
  runIds: readonly string[],
  criticRunId: string | null,
  configs: ReadonlyMap<string, unknown | null>,
  critic: CriticResult | null,
  smoothing = DEFAULT_SMOOTHING,
): DashboardState {
  const found = runIds.map((id) => store.get(id)).filter((run) => run !== undefined);
  const foundIds = found.map((run) => run.id);
  const criticRun = criticRunId && foundIds.includes(criticRunId) ? criticRunId : (foundIds[0] ?? null);
  const usable = critic && critic.runId === criticRun ? critic : null;
  return {
    runs: found.map((run) => runSummary(run.info)),
    alerts: found.flatMap((run) => (run.alerts ?? []).map((a) => ({ runId: run.id, step: a.step, rule: a.rule, action: a.action }))),
    scores: found.map((run) => runScore(run.id, store.metricSeries(run.id))),
    missing: runIds.filter((id) => !foundIds.includes(id)),
    families: buildFamilies(
      found.map((run) => ({ runId: run.id, series: store.metricSeries(run.id), lossMetric: lossMetric(run.info) })),
      MAX_POINTS_PER_SERIES,
      smoothing,
    ),
    criticRunId: criticRun,
    rolloutSteps: criticRun ? [...store.rolloutSteps(criticRun)] : [],
    critic: usable?.view ?? null,
    criticError: usable?.error ?? null,
    configDiff: configDiff(
      foundIds,
      foundIds.map((id) => configs.get(id) ?? null),
    ),
    smoothing,
  };
}
