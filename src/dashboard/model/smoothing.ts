// Curve smoothing for the dashboard's training metrics, as TensorBoard does it: an exponential
// moving average over the points in order, debiased so that the first points are not pulled
// towards 0. No DOM here (unit-tested in Node).

/** The weight a new dashboard starts with (TensorBoard's default). */
export const DEFAULT_SMOOTHING = 0.6;
export const MAX_SMOOTHING = 0.99;

/**
 * `ys` smoothed with weight `weight` in [0, 0.99]: s_t = (w·a_{t−1} + (1 − w)·y_t) / (1 − w^k),
 * where a is the running average and k the number of finite points so far. Gaps (null or
 * non-finite values) stay gaps and do not enter the average; weight 0 returns the values as they are.
 */
export function smooth(ys: readonly (number | null)[], weight: number): (number | null)[] {
  const w = clampSmoothing(weight);
  if (w === 0) return ys.slice();
  let average = 0;
  let count = 0;
  return ys.map((y) => {
    if (y === null || !Number.isFinite(y)) return y;
    average = average * w + (1 - w) * y;
    count += 1;
    return average / (1 - w ** count);
  });
}

/** A usable weight: a number in [0, MAX_SMOOTHING] (the default for anything else). */
export function clampSmoothing(weight: unknown): number {
  if (typeof weight !== 'number' || !Number.isFinite(weight)) return DEFAULT_SMOOTHING;
  return Math.min(MAX_SMOOTHING, Math.max(0, weight));
}
