// Several runs roots (pacs.runsDirs): a run id present in two roots is kept twice, each with its root.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RunStore } from '../../../../../src/runs/model/runStore';
import { makeRun } from '../../../helpers/runFixtures';

const base = mkdtempSync(join(tmpdir(), 'pacs-roots-'));
after(() => rmSync(base, { recursive: true, force: true }));

test('a run id in two roots is shown in both, keyed apart, each naming its root', async () => {
  const home = join(base, 'home');
  const scratch = join(base, 'scratch');
  const id = '20261127-030000-arith-aaaa';
  makeRun(home, id, { status: 'finished', step: 10 });
  makeRun(scratch, id, { status: 'stopped', step: 4 });
  makeRun(scratch, '20261127-040000-arith-bbbb', { status: 'finished' });
  const store = new RunStore({ roots: [home, scratch], detectCrashes: false });
  await store.refresh();
  assert.equal(store.runs().length, 3);
  const first = store.get(id);
  const second = store.get(`${id}@2`);
  assert.deepEqual([first?.root, first?.status, first?.idInOtherRoot], [home, 'finished', true]);
  assert.deepEqual([second?.root, second?.status, second?.idInOtherRoot, second?.dir], [scratch, 'stopped', true, join(scratch, id)]);
  assert.equal(store.get('20261127-040000-arith-bbbb')?.idInOtherRoot, false);

  rmSync(join(home, id), { recursive: true });
  await store.refresh();
  // The twin is gone: the scratch run is the only one with its id (under its plain key) and no longer names its root.
  assert.equal(store.get(id)?.root, scratch);
  assert.equal(store.get(id)?.idInOtherRoot, false);
  assert.equal(store.get(`${id}@2`), undefined);
  store.dispose();
});
