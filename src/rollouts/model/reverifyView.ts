// A step's samples with the run's newest re-verification folded in (no vscode: the browser tests
// use it too): each flipped sample gets `reverified` (both verdicts), and the state a summary.
import type { ReverifySummary } from '../../../webview/rollouts/contract';
import type { RolloutSample } from '../../../webview/shared/contract';
import type { ReverifyResult } from '../../runs/model/reverify';

export function withReverify(
  samples: readonly RolloutSample[],
  result: ReverifyResult | null,
  step: number,
): { samples: RolloutSample[]; summary: ReverifySummary | null } {
  if (!result) return { samples: [...samples], summary: null };
  const counts = result.steps.get(step);
  const flips = new Map((counts?.flips ?? []).map((f) => [`${f.group}:${f.index}`, f]));
  const out = samples.map((s) => {
    const f = flips.get(`${s.group}:${s.index}`);
    // a copy: the store's cached samples stay as the run's file has them
    return f ? { ...s, reverified: { before: f.before, after: f.after, verifier: result.verifier } } : s;
  });
  const step_ = counts ? { checked: counts.checked, up: counts.up, down: counts.down } : null;
  return { samples: out, summary: { verifier: result.verifier, createdAt: result.createdAt, step: step_, total: result.total } };
}
