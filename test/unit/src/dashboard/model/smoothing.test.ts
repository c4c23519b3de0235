import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clampSmoothing, DEFAULT_SMOOTHING, smooth } from '../../../../../src/dashboard/model/smoothing';

describe('smooth', () => {
  it('is the identity at weight 0', () => {
    assert.deepEqual(smooth([3, null, -1, 2], 0), [3, null, -1, 2]);
  });

  it("is TensorBoard's debiased exponential moving average", () => {
    // w = 0.5: a1 = 0.5, s1 = 0.5 / 0.5 = 1; a2 = 0.25, s2 = 0.25 / 0.75; a3 = 0.125 + 0.5 · 4 = 2.125, s3 = 2.125 / 0.875.
    const out = smooth([1, 0, 4], 0.5) as number[];
    assert.deepEqual(out.map((v) => Number(v.toFixed(12))), [1, Number((1 / 3).toFixed(12)), Number((2.125 / 0.875).toFixed(12))]);
  });

  it('keeps a constant series constant from its first point (no pull towards 0)', () => {
    for (const y of smooth(Array(50).fill(0.7), 0.9)) assert.ok(Math.abs((y as number) - 0.7) < 1e-12);
  });

  it('leaves gaps as gaps and averages across them', () => {
    const out = smooth([2, null, NaN, 2], 0.8);
    assert.equal(out[1], null);
    assert.ok(Number.isNaN(out[2]));
    assert.ok(Math.abs((out[3] as number) - 2) < 1e-12);
  });

  it('damps noise: the smoothed series varies less than the raw one', () => {
    const raw = Array.from({ length: 400 }, (_, i) => (i % 2 ? 1 : 0));
    const out = smooth(raw, 0.9) as number[];
    const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);
    assert.ok(spread(out.slice(100)) < 0.2 * spread(raw.slice(100)), `spread ${spread(out.slice(100))}`);
  });
});

describe('clampSmoothing', () => {
  it('keeps weights in [0, 0.99] and replaces what is not a number with the default', () => {
    assert.equal(clampSmoothing(0.3), 0.3);
    assert.equal(clampSmoothing(-1), 0);
    assert.equal(clampSmoothing(1), 0.99);
    assert.equal(clampSmoothing('0.5'), DEFAULT_SMOOTHING);
    assert.equal(clampSmoothing(undefined), DEFAULT_SMOOTHING);
    assert.equal(clampSmoothing(NaN), DEFAULT_SMOOTHING);
  });
});
