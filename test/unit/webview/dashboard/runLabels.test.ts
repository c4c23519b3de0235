import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunSummary } from '../../../../webview/shared/contract';
import { runLabels } from '../../../../webview/dashboard/runLabels';

const run = (id: string, name: string) => ({ id, name }) as RunSummary;

describe('run labels', () => {
  it('keeps names that are unique', () => {
    assert.deepEqual([...runLabels([run('20261201-192422-arith-0b84', 'arith'), run('20261201-192510-grpo-6136', 'grpo')]).values()], ['arith', 'grpo']);
  });

  it('tells runs of one config apart by the end of their id', () => {
    const labels = runLabels([run('20261201-192422-cmp-0b84', 'cmp'), run('20261201-192510-cmp-6136', 'cmp'), run('20261201-192510-other-0085', 'other')]);
    assert.deepEqual([...labels.values()], ['cmp · 0b84', 'cmp · 6136', 'other']);
  });

  it('falls back to the whole id where the ends repeat too', () => {
    const labels = runLabels([run('a-cmp-0b84', 'cmp'), run('b-cmp-0b84', 'cmp')]);
    assert.deepEqual([...labels.values()], ['a-cmp-0b84', 'b-cmp-0b84']);
  });
});
