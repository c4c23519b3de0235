// The Runs view with sweeps: a sweep's runs sit under its node (not under their config), which
// shows the sweep's progress and best trial; its status sets the inline buttons' context value.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RunStore } from '../../../../src/runs/model/runStore';
import type { RunRoots } from '../../../../src/runs/runRoots';
import type { SweepInfo } from '../../../../src/sweeps/model/sweepFormat';
import { parseSweepInfo } from '../../../../src/sweeps/model/sweepFormat';
import { RUN_A, RUN_B, writeRun } from '../../../webview/fixtures';
import { EventEmitter, installFakeVscode } from '../../helpers/fakeVscode';
import { until } from '../../helpers/until';

installFakeVscode();
/* eslint-disable @typescript-eslint/no-require-imports */
const { ConfigGroupItem, RunItem, RunsTree } = require('../../../../src/runs/runsTree') as typeof import('../../../../src/runs/runsTree');
const { SweepItem } = require('../../../../src/sweeps/sweepItem') as typeof import('../../../../src/sweeps/sweepItem');
/* eslint-enable @typescript-eslint/no-require-imports */

describe('the Runs view with a sweep', () => {
  let root: string;
  let store: RunStore;
  let tree: InstanceType<typeof RunsTree>;
  const changed = new EventEmitter<void>();
  let sweeps: SweepInfo[] = [];
  const sweep = parseSweepInfo({
    id: 'sw-1', name: 'arith', status: 'running', method: 'grid', metric: { name: 'eval/accuracy', goal: 'maximize' }, parameters: ['optim.lr'],
    seeds: [0], n_trials: 4, n_runs: 4, parallel: 2, backend: 'local',
    counts: { running: 1, complete: 2, pruned: 1, failed: 0, total: 4 }, best: { trial: 1, value: 0.75, params: { 'optim.lr': 0.003 }, runs: [RUN_A.id] },
  }, '/x/.pacs/sweeps/sw-1')!;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pacs-sweep-tree-'));
    writeRun(root, RUN_A, 20);
    writeRun(root, RUN_B, 20);
    const infoPath = join(root, RUN_A.id, 'run.json');
    const info = JSON.parse(readFileSync(infoPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(infoPath, JSON.stringify({ ...info, sweep: { id: 'sw-1', trial: 1, seed: 0, params: { 'optim.lr': 0.003 }, trial_state: 'pruned', pruned: { step: 10, reason: 'below the median' } } }));
    store = new RunStore({ roots: [root], detectCrashes: false });
    await store.refresh();
    tree = new RunsTree(store, { configPathOf: () => null } as unknown as RunRoots);
    tree.useSweeps({ sweeps: () => sweeps, onDidChange: changed.event });
  });
  after(() => {
    tree.dispose();
    store.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it('groups by config while the sweep is not known, then under the sweep node', async () => {
    tree.refreshNow();
    assert.ok(tree.getChildren().every((g) => g instanceof ConfigGroupItem));
    sweeps = [sweep];
    changed.fire();
    const node = await until('the sweep node', () => tree.getChildren().find((g) => g instanceof SweepItem));
    assert.ok(node instanceof SweepItem);
    assert.deepEqual(node.runIds, [RUN_A.id]);
    assert.equal(node.contextValue, 'sweep.running');
    assert.match(String(node.description), /running · 2 done · 1 running · 1 pruned · 0 failed of 4/);
    assert.match(String(node.accessibilityInformation?.label), /best: trial 1, eval\/accuracy 0\.75 \(optim\.lr=0\.003\)/);
    const [item] = tree.getChildren(node);
    assert.ok(item instanceof RunItem);
    assert.match(String(item.description), /^trial 1 · seed 0 · optim\.lr=0\.003 · pruned at step 10 · /);
    assert.equal(tree.getParent(item), node);
    const others = tree.getChildren().filter((g) => g instanceof ConfigGroupItem).flatMap((g) => g.runIds);
    assert.deepEqual(others, [RUN_B.id]);
  });
});
