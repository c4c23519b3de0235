import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChartFamily, SeriesData } from '../../../../webview/dashboard/contract';
import { formatX, isXAxis, runStartTimes, xValues } from '../../../../webview/dashboard/axes';

const series = (runId: string, xs: number[], ts: (number | null)[]): SeriesData => ({ runId, metric: 'reward/mean', xs, ys: xs.map(() => 0), ts, smoothed: null, rawCount: xs.length, constant: null });

describe('x axes', () => {
  const a = series('a', [1, 2, 3], [1000, 1010, null]);
  const b = series('b', [5], [2000]);
  const families: ChartFamily[] = [
    { id: 'reward', title: 'Reward', series: [a, b] },
    { id: 'eval', title: 'Eval', series: [series('a', [0], [990])] },
  ];

  it('puts each run\'s time 0 at its first point in any chart, and draws no point without a time', () => {
    const starts = runStartTimes(families);
    assert.deepEqual([...starts], [['a', 990], ['b', 2000]]);
    assert.deepEqual(xValues(a, 'step', starts.get('a')), [1, 2, 3]);
    assert.deepEqual(xValues(a, 'relative', starts.get('a')), [10, 20, null]);
    assert.deepEqual(xValues(a, 'wall', starts.get('a')), [1_000_000, 1_010_000, null]);
    assert.deepEqual(xValues(b, 'relative', starts.get('b')), [0]);
  });

  it('labels ticks as steps, durations or local clock times', () => {
    assert.equal(formatX(120, 'step'), '120');
    assert.equal(formatX(42, 'relative'), '42s');
    assert.equal(formatX(125, 'relative'), '2m 05s');
    assert.equal(formatX(3 * 3600 + 5 * 60, 'relative'), '3h 05m');
    const when = new Date(2026, 10, 27, 9, 7);
    assert.equal(formatX(when.getTime(), 'wall'), '11-27 09:07');
    assert.ok(isXAxis('wall') && !isXAxis('time') && !isXAxis(undefined));
  });
});
