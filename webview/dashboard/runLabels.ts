// What the dashboard calls each run it compares. No DOM here (unit-tested in Node).

import type { RunSummary } from '../shared/contract';

/**
 * Each run's name, told apart where runs share one: the runs of one config (seeds, a swept key)
 * all carry its name, so those get the end of their id too, as the Runs tree shows them
 * (`arith · 0b84`), or the whole id where even that repeats.
 */
export function runLabels(runs: readonly RunSummary[]): Map<string, string> {
  const count = (labels: readonly string[], label: string) => labels.filter((l) => l === label).length;
  const names = runs.map((r) => r.name);
  const suffixed = runs.map((r) => (count(names, r.name) > 1 ? `${r.name} · ${r.id.slice(-4)}` : r.name));
  return new Map(runs.map((r, i) => [r.id, count(suffixed, suffixed[i]) > 1 ? r.id : suffixed[i]]));
}
