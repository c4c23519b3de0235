// The dashboard's prompt-health charts of one run (docs/diagnostics.md): from its ledger.jsonl, the
// share of the prompts seen so far in each status and the share of each step's groups all correct,
// all wrong and mixed, thinned to at most MAX_SHARE_POINTS steps. A live run appends a ledger line
// per step, so the ledger is parsed again only when its size changed. Node only, no VS Code.
import { lstat } from 'node:fs/promises';
import { runFilePath } from '../../run/model/runFiles';
import type { RunState } from '../../runs/model/runFold';
import { readOptional } from './diagnosticsState';
import { parseLedger, sharesOverSteps } from './promptLedger';
import type { PromptHealth, StepShares } from './promptLedger';

export const MAX_SHARE_POINTS = 400;

/** At most `max` of `shares`, evenly spaced over the list, its first and last kept. */
export function thinShares(shares: readonly StepShares[], max = MAX_SHARE_POINTS): StepShares[] {
  if (shares.length <= max) return [...shares];
  const stride = (shares.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => shares[Math.round(i * stride)]);
}

type LedgerRun = Pick<RunState, 'id' | 'dir' | 'info'>;

/** One reader per dashboard: a run's prompt health, parsed again only when its ledger grew. */
export class PromptHealthReader {
  private readonly cache = new Map<string, { size: number; health: PromptHealth | null }>();

  /** Null for a run without a ledger (older and imported runs). */
  async read(run: LedgerRun | undefined): Promise<PromptHealth | null> {
    if (!run) return null;
    const size = await ledgerSize(run.dir);
    const cached = this.cache.get(run.id);
    if (cached?.size === size) return cached.health;
    const shares = size ? sharesOverSteps(parseLedger(await readOptional(run.dir, 'ledger.jsonl')).rows) : [];
    const health = shares.length ? { runId: run.id, runName: run.info.name, steps: shares.length, shares: thinShares(shares) } : null;
    this.cache.set(run.id, { size, health });
    return health;
  }
}

/** The ledger's size in bytes; 0 when it is missing or not a plain file (readOptional would refuse it). */
async function ledgerSize(dir: string): Promise<number> {
  try {
    const s = await lstat(await runFilePath(dir, 'ledger.jsonl'));
    return s.isFile() ? s.size : 0;
  } catch {
    return 0;
  }
}
