// The implicit critic's arithmetic, as trainer/pacslab/scoring.py does it: log-softmax in
// float64 (JS numbers) over float32 logits, the group score ψ of the PACS loss, and σ.

export const ADV_ESTIMATORS = ['rloo', 'grpo', 'naive'] as const;

export class ScoreError extends Error {
  override name = 'ScoreError';
}

/**
 * log-softmax(logits[start + k − 1])[targets[k]] for each response token k. `logits` is one
 * sequence's [T, V] row-major block; position t predicts token t + 1.
 */
export function tokenLogprobs(logits: Float32Array, vocab: number, targets: readonly number[], start: number): number[] {
  if (start < 1) throw new ScoreError('the prompt encodes to no tokens: the first response token needs a prompt token to be predicted from');
  return targets.map((target, k) => {
    const offset = (start - 1 + k) * vocab;
    let peak = -Infinity;
    for (let v = 0; v < vocab; v++) peak = Math.max(peak, logits[offset + v]);
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[offset + v] - peak);
    return logits[offset + target] - (peak + Math.log(sum));
  });
}

/** ψ_i of member i of a group from every member's r̂, as the PACS loss computes it. */
export function groupPsi(rewards: readonly number[], i: number, estimator: string, normByStd: boolean): number {
  const n = rewards.length;
  if (estimator === 'naive') return rewards[i];
  if (n < 2) throw new ScoreError(`the group has ${n} sample(s); ψ with adv_estimator ${estimator} needs at least 2`);
  const total = rewards.reduce((a, b) => a + b, 0);
  if (estimator === 'rloo') return rewards[i] - (total - rewards[i]) / (n - 1);
  if (estimator === 'grpo') {
    const mean = total / n;
    if (!normByStd) return rewards[i] - mean;
    const std = Math.sqrt(rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / (n - 1));
    return (rewards[i] - mean) / (std + 1e-6);
  }
  throw new ScoreError(`adv_estimator ${JSON.stringify(estimator)} is not known; use one of ${ADV_ESTIMATORS.join(', ')}`);
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}
