// What the views say about a sweep: its progress, its best trial, its status with a dead
// controller, and the rows of its parallel-coordinates chart. No vscode (unit-tested in Node).
import type { PcpData } from '../../../webview/dashboard/contract';
import type { ParamValue, SweepInfo, TrialInfo } from './sweepFormat';

/** `5 done · 2 running · 1 pruned · 0 failed of 8` (trials). */
export function progressText(s: SweepInfo): string {
  const c = s.counts ?? { running: 0, complete: 0, pruned: 0, failed: 0, total: s.nTrials };
  return `${c.complete} done · ${c.running} running · ${c.pruned} pruned · ${c.failed} failed of ${c.total || s.nTrials}`;
}

export function formatParams(params: Record<string, ParamValue>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? formatValue(v) : String(v)}`)
    .join(', ');
}

export function formatValue(v: number): string {
  if (v === 0) return '0';
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? String(Number(v.toPrecision(4))) : v.toExponential(2);
}

/** `best: trial 2, eval/accuracy 0.41 (optim.lr=0.003, pacs.beta=0.5)`, or '' before any trial finished. */
export function bestText(s: SweepInfo): string {
  if (!s.best) return '';
  return `best: trial ${s.best.trial}, ${s.metric.name} ${formatValue(s.best.value)} (${formatParams(s.best.params)})`;
}

/** A live local sweep whose controller is gone reads `crashed` (never written). */
export function shownSweepStatus(s: SweepInfo, controllerAlive: boolean): SweepInfo['status'] {
  const live = s.status === 'running' || s.status === 'paused' || s.status === 'stopping';
  return live && s.backend === 'local' && !controllerAlive ? 'crashed' : s.status;
}

/** Parameters → metric, one row per trial with a value (finished, or pruned at its last report). */
export function pcpData(parameters: readonly string[], metric: string, trials: readonly TrialInfo[]): PcpData {
  const categories = parameters.map((p) => {
    const values = trials.map((t) => t.params[p]);
    return values.every((v) => typeof v === 'number' || v === undefined) ? null : [...new Set(values.map((v) => String(v)))];
  });
  const rows = trials
    .filter((t) => t.value !== null)
    .map((t) => ({
      trial: t.number,
      state: t.state,
      values: [
        ...parameters.map((p, i) => {
          const v = t.params[p];
          const cats = categories[i];
          return cats ? cats.indexOf(String(v)) : typeof v === 'number' ? v : null;
        }),
        t.value,
      ],
    }));
  return { axes: [...parameters, metric], categories: [...categories, null], rows };
}
