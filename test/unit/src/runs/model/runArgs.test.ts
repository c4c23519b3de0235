import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runIdOf, runIdsFromArgs } from '../../../../../src/runs/model/runArgs';

test('a run id string, a {runId} object and nothing', () => {
  assert.equal(runIdOf('20261127-030000-arith-1a2b'), '20261127-030000-arith-1a2b');
  assert.equal(runIdOf({ runId: 'r1', label: 'x' }), 'r1');
  assert.equal(runIdOf(''), undefined);
  assert.equal(runIdOf({ runId: 42 }), undefined);
  assert.equal(runIdOf(undefined), undefined);
  assert.deepEqual(runIdsFromArgs(undefined), []);
});

test('arrays and config groups give every id once, in order', () => {
  assert.deepEqual(runIdsFromArgs(['a', { runId: 'b' }, 'a', 7]), ['a', 'b']);
  assert.deepEqual(runIdsFromArgs({ runIds: ['c', 'd'] }), ['c', 'd']);
  assert.deepEqual(runIdsFromArgs([{ runIds: ['c'] }, { runId: 'e' }]), ['c', 'e']);
});

test('a multi-selection wins over the clicked item, a single selection does not', () => {
  assert.deepEqual(runIdsFromArgs({ runId: 'a' }, [{ runId: 'a' }, { runId: 'b' }]), ['a', 'b']);
  assert.deepEqual(runIdsFromArgs({ runId: 'a' }, [{ runId: 'a' }]), ['a']);
  assert.deepEqual(runIdsFromArgs({ runId: 'a' }, undefined), ['a']);
});
