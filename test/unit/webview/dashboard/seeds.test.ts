import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigDiff } from '../../../../webview/dashboard/contract';
import type { RunSummary } from '../../../../webview/shared/contract';
import { meanBand, meanStd, seedGroups } from '../../../../webview/dashboard/seeds';

const run = (id: string, name: string): RunSummary => ({ id, name, algorithm: 'pacs', status: 'finished', step: 10, totalSteps: 10, commit: null });

describe('seed groups', () => {
  it('groups runs whose differing config keys differ only by seed, two or more to a group', () => {
    const runs = [run('a1', 'arith'), run('b', 'other'), run('a2', 'arith'), run('a3', 'arith')];
    const diff: ConfigDiff = {
      runIds: ['a1', 'b', 'a2', 'a3'],
      keyCount: 9,
      rows: [
        { key: 'name', values: ['arith', 'other', 'arith', 'arith'] },
        { key: 'optim.lr', values: ['0.001', '0.001', '0.001', '0.0005'] },
        { key: 'seed', values: ['1', '1', '2', '3'] },
      ],
    };
    assert.deepEqual(seedGroups(runs, diff), [{ id: 'seeds:a1', name: 'arith (2 seeds)', runIds: ['a1', 'a2'] }], 'a3 has another lr; b another name');
    assert.deepEqual(seedGroups([run('x', 'x')], { runIds: ['x'], keyCount: 1, rows: [] }), []);
  });

  it('averages at each step the seeds logged, with the sample standard deviation', () => {
    const band = meanBand([
      { xs: [1, 2, 3], ys: [1, 2, null] },
      { xs: [1, 2, 3], ys: [3, 4, 5] },
      { xs: [2], ys: [6] },
    ]);
    assert.deepEqual(band.xs, [1, 2, 3]);
    assert.deepEqual(band.mean, [2, 4, 5]);
    assert.deepEqual(band.count, [2, 3, 1]);
    assert.ok(Math.abs(band.std[0] - Math.SQRT2) < 1e-12);
    assert.equal(band.std[1], 2);
    assert.equal(band.std[2], 0, 'one seed: no spread');
    assert.deepEqual(meanStd([0.5]), { mean: 0.5, std: 0 });
  });
});
