// Seed groups: runs whose configs differ only by `seed`, drawn as their mean with a ± std band
// and summarised as mean ± std. No DOM here (unit-tested in Node).

import type { ConfigDiff, SeriesData } from './contract';
import type { RunSummary } from '../shared/contract';

export interface SeedGroup {
  id: string;
  /** The runs' name, with the seed count: `arith (3 seeds)`. */
  name: string;
  runIds: string[];
}

/**
 * Runs of the comparison whose differing config keys hold the same values except `seed`, in
 * groups of two or more (in the order of `runs`). Runs without a config form no group.
 */
export function seedGroups(runs: readonly RunSummary[], diff: ConfigDiff): SeedGroup[] {
  const rows = diff.rows.filter((row) => row.key !== 'seed');
  const byKey = new Map<string, string[]>();
  for (const run of runs) {
    const column = diff.runIds.indexOf(run.id);
    if (column < 0) continue;
    const key = JSON.stringify(rows.map((row) => row.values[column]));
    byKey.set(key, [...(byKey.get(key) ?? []), run.id]);
  }
  return [...byKey.values()]
    .filter((ids) => ids.length > 1)
    .map((ids) => {
      const first = runs.find((r) => r.id === ids[0]);
      return { id: `seeds:${ids[0]}`, name: `${first?.name ?? ids[0]} (${ids.length} seeds)`, runIds: ids };
    });
}

export interface MeanBand {
  xs: number[];
  mean: number[];
  /** Sample standard deviation (n − 1) over the seeds that logged the step; 0 with one seed. */
  std: number[];
  /** Seeds with a value at each x. */
  count: number[];
}

/** Mean and standard deviation across series at each x any of them has (each series' own values, or its smoothed ones). */
export function meanBand(series: readonly { xs: readonly number[]; ys: readonly (number | null)[] }[]): MeanBand {
  const at = new Map<number, number[]>();
  for (const s of series) {
    s.xs.forEach((x, i) => {
      const y = s.ys[i];
      if (y === null || y === undefined || !Number.isFinite(y)) return;
      at.set(x, [...(at.get(x) ?? []), y]);
    });
  }
  const xs = [...at.keys()].sort((a, b) => a - b);
  const stats = xs.map((x) => meanStd(at.get(x) ?? []));
  return { xs, mean: stats.map((s) => s.mean), std: stats.map((s) => s.std), count: xs.map((x) => at.get(x)?.length ?? 0) };
}

export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std };
}

/** The series of a group's runs for one metric: what `meanBand` averages. */
export function groupSeries(group: SeedGroup, series: readonly SeriesData[], metric: string): SeriesData[] {
  return series.filter((s) => s.metric === metric && group.runIds.includes(s.runId));
}
