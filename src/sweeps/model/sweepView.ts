// The dashboard's sweep section: when every run of a dashboard belongs to one sweep (Compare
// Sweep), its progress, parallel coordinates of parameters → metric (one line per trial) and
// Optuna's parameter importance, read from the sweep folder beside the runs root. No vscode.
import { join } from 'node:path';
import type { RunState } from '../../runs/model/runStore';
import type { SweepView } from '../../../webview/dashboard/contract';
import { readImportance, readSweep, readTrials } from './sweepFiles';
import { runSweepTag, sweepsRootOf } from './sweepFormat';
import { bestText, pcpData, progressText } from './sweepModel';

/** The sweep view of these runs, or null when they are not all runs of one sweep. */
export async function sweepView(runs: readonly Pick<RunState, 'root' | 'info'>[]): Promise<SweepView | null> {
  const ids = new Set(runs.map((run) => runSweepTag(run.info)?.id ?? null));
  const [id] = [...ids];
  if (runs.length === 0 || ids.size !== 1 || !id) return null;
  const dir = join(sweepsRootOf(runs[0].root), id);
  const sweep = await readSweep(dir);
  if (!sweep) return null;
  const [trials, importance] = await Promise.all([readTrials(dir), readImportance(dir)]);
  return {
    id: sweep.id,
    name: sweep.name,
    status: sweep.status,
    progress: progressText(sweep),
    best: bestText(sweep),
    metric: sweep.metric.name,
    goal: sweep.metric.goal,
    bestTrial: sweep.best?.trial ?? null,
    pcp: pcpData(sweep.parameters, sweep.metric.name, trials),
    importance: importance.importance ? Object.entries(importance.importance).map(([param, value]) => ({ param, value })).sort((a, b) => b.value - a.value) : [],
    importanceNote: importance.importance ? null : importance.reason,
    pruned: trials.flatMap((t) => (t.pruned ? [{ trial: t.number, step: t.pruned.step, reason: t.pruned.reason }] : [])),
    failed: trials.flatMap((t) => (t.state === 'failed' ? [{ trial: t.number, error: t.error ?? 'failed' }] : [])),
  };
}
