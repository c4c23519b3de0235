// The dashboard's prompt-health charts of the runs it shows (docs/diagnostics.md): from each run's
// ledger.jsonl, the share of the prompts seen so far in each status and the share of each step's
// groups all correct, all wrong and mixed, thinned to at most MAX_SHARE_POINTS steps, as one series
// per run and share. A live run appends a ledger line per step, so a ledger is parsed again only
// when its size changed. Node only, no VS Code.
import { lstat } from 'node:fs/promises';
import type { ChartFamily, PromptCharts, SeriesData } from '../../../webview/dashboard/contract';
import { runFilePath } from '../../run/model/runFiles';
import { RUN_FILES } from '../../run/model/runFormat';
import type { RunState } from '../../runs/model/runFold';
import { readOptional } from './diagnosticsState';
import { parseLedger, sharesOverSteps, STATUSES } from './promptLedger';
import type { PromptHealth, StepShares } from './promptLedger';

export const MAX_SHARE_POINTS = 400;

/** The charts' ids (canvas `#chart-<id>`), titles and, per series, the share it draws. */
const SHARE_FAMILIES: Array<{ id: string; title: string; shares: Array<[string, (s: StepShares) => number]> }> = [
  { id: 'prompt-status', title: 'Prompt status (share of prompts seen)', shares: STATUSES.map((status) => [status, (s) => s.status[status]]) },
  {
    id: 'group-shares',
    title: 'Groups: all correct / all wrong / mixed',
    shares: [['all correct', (s) => s.allCorrect], ['all wrong', (s) => s.allWrong], ['mixed', (s) => s.mixed]],
  },
];

/** At most `max` of `shares`, evenly spaced over the list, its first and last kept. */
export function thinShares(shares: readonly StepShares[], max = MAX_SHARE_POINTS): StepShares[] {
  if (shares.length <= max) return [...shares];
  const stride = (shares.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => shares[Math.round(i * stride)]);
}

/**
 * The Prompts section of `runIds` (in that order) from each run's health, null for a run without a
 * ledger: per family, one series per run with a ledger and share, as the metric charts take them.
 */
export function promptCharts(runIds: readonly string[], health: ReadonlyMap<string, PromptHealth | null>): PromptCharts {
  const withLedger = runIds.map((id) => health.get(id)).filter((h): h is PromptHealth => Boolean(h));
  const families: ChartFamily[] = SHARE_FAMILIES.map(({ id, title, shares }) => ({
    id,
    title,
    series: withLedger.flatMap((h) => shares.map(([metric, share]) => shareSeries(h, metric, share))),
  }));
  return {
    families,
    ledgers: withLedger.map((h) => ({ runId: h.runId, steps: h.steps, drawn: h.shares.length, badLines: h.badLines })),
    withoutLedger: runIds.filter((id) => !health.get(id)),
  };
}

function shareSeries(h: PromptHealth, metric: string, share: (s: StepShares) => number): SeriesData {
  return {
    runId: h.runId,
    metric,
    xs: h.shares.map((s) => s.step),
    ys: h.shares.map(share),
    ts: h.shares.map(() => null),
    smoothed: null,
    rawCount: h.steps,
    constant: null,
  };
}

type LedgerRun = Pick<RunState, 'id' | 'dir' | 'info'>;

/** One reader per dashboard: each run's prompt health, parsed again only when its ledger grew. */
export class PromptHealthReader {
  private readonly cache = new Map<string, { size: number; health: PromptHealth | null }>();

  /** The Prompts section of these runs; the runs no longer shown are dropped from the cache. */
  async charts(runs: readonly LedgerRun[]): Promise<PromptCharts> {
    const ids = new Set(runs.map((run) => run.id));
    for (const id of this.cache.keys()) if (!ids.has(id)) this.cache.delete(id);
    const health = new Map(await Promise.all(runs.map(async (run) => [run.id, await this.read(run)] as const)));
    return promptCharts(runs.map((run) => run.id), health);
  }

  /** Null for a run without a ledger (older and imported runs) or with no readable line. */
  async read(run: LedgerRun): Promise<PromptHealth | null> {
    const size = await ledgerSize(run.dir);
    const cached = this.cache.get(run.id);
    if (cached?.size === size) return cached.health;
    const ledger = size ? parseLedger(await readOptional(run.dir, RUN_FILES.ledger)) : { rows: [], bad: [] };
    const shares = sharesOverSteps(ledger.rows);
    const health = shares.length
      ? { runId: run.id, runName: run.info.name, steps: shares.length, shares: thinShares(shares), badLines: ledger.bad.length }
      : null;
    this.cache.set(run.id, { size, health });
    return health;
  }
}

/** The ledger's size in bytes; 0 when it is missing or not a plain file (readOptional would refuse it). */
async function ledgerSize(dir: string): Promise<number> {
  try {
    const s = await lstat(await runFilePath(dir, RUN_FILES.ledger));
    return s.isFile() ? s.size : 0;
  } catch {
    return 0;
  }
}
