import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunInfo } from '../../../../../src/run/model/runFormat';
import { configRunsSummary, formatNumber, inertLinks, notifies, runSummary, shortRunLabel } from '../../../../../src/runs/model/runText';

function info(overrides: Partial<RunInfo>): RunInfo {
  return {
    format: 1, id: 'r', name: 'arith', algorithm: 'pacs', status: 'running', pid: null, pid_start_time: null,
    host: null, created_at: '', updated_at: '', step: 42, total_steps: 100, config_path: null, seed: 0,
    git: null, versions: {}, error: null, ...overrides,
  };
}


test('the summary reads step, reward and commit', () => {
  const git = { commit: 'a1b2c3d4e5', branch: 'main', dirty: true, snapshot: 'f00', ref: null };
  assert.equal(runSummary(info({ git }), 0.5312), 'step 42/100 · reward 0.531 · a1b2c3d*');
  assert.equal(runSummary(info({ total_steps: 0, step: 3 }), undefined), 'step 3');
});

test('numbers keep three significant digits', () => {
  assert.equal(formatNumber(0.53), '0.53');
  assert.equal(formatNumber(12.3456), '12.3');
  assert.equal(formatNumber(0), '0');
  assert.equal(formatNumber(1234567), '1.23e+6');
  assert.equal(formatNumber(0.00012), '1.20e-4');
});

test('the tree label keeps the date, time and random suffix of a run id', () => {
  assert.equal(shortRunLabel('20261127-034256-arith-86a7', 'UTC'), '11-27 03:42:56 · 86a7');
  assert.equal(shortRunLabel('20261127-034256-my-run-2-0f0f', 'UTC'), '11-27 03:42:56 · 0f0f');
  // The id's stamp is UTC; the label is in the user's time zone, across a day boundary too.
  assert.equal(shortRunLabel('20261127-214256-arith-86a7', 'Asia/Kolkata'), '11-28 03:12:56 · 86a7');
  assert.equal(shortRunLabel('20261127-034256-arith-86a7', 'America/New_York'), '11-26 22:42:56 · 86a7');
  assert.equal(shortRunLabel('20261399-034256-arith-86a7', 'UTC'), '20261399-034256-arith-86a7');
  assert.equal(shortRunLabel('run1'), 'run1');
});

test('the CodeLens summary names the best reward and its commit', () => {
  const git = (commit: string, dirty: boolean) => ({ commit, branch: 'main', dirty, snapshot: dirty ? 'f00' : null, ref: null });
  const runs: { id: string; info: RunInfo; reward: number | null }[] = [
    { id: 'a', info: info({ git: git('1111111aaa', false) }), reward: 0.25 },
    { id: 'b', info: info({ git: git('2222222bbb', true) }), reward: 0.81 },
    { id: 'c', info: info({}), reward: null },
  ];
  assert.deepEqual(configRunsSummary(runs), { title: '3 runs · best reward 0.81 (2222222*)', runId: 'b' });
  assert.deepEqual(configRunsSummary([runs[2]]), { title: '1 run · no reward yet', runId: 'c' });
  assert.deepEqual(configRunsSummary([runs[0]]), { title: '1 run · best reward 0.25 (1111111)', runId: 'a' });
  assert.equal(configRunsSummary([]), undefined);
});

test('notification text keeps the words of a markdown link but not the link', () => {
  assert.equal(inertLinks('KeyError: [x](command:workbench.action.terminal.new) at [a] (b)'), 'KeyError: [x] (command:workbench.action.terminal.new) at [a] (b)');
  assert.equal(inertLinks('[x] \t(https://e.com)'), '[x] (https://e.com)');
  assert.equal(inertLinks('plain: f(x) = [1, 2]'), 'plain: f(x) = [1, 2]');
});

test('pacs.notifyRunEnd mutes finished runs, or every run end', () => {
  assert.deepEqual(['finished', 'failed', 'crashed'].map((s) => notifies('all', s as 'finished')), [true, true, true]);
  assert.deepEqual(['finished', 'failed', 'crashed'].map((s) => notifies('failures', s as 'finished')), [false, true, true]);
  assert.deepEqual(['finished', 'failed', 'crashed'].map((s) => notifies('off', s as 'finished')), [false, false, false]);
  assert.equal(notifies(undefined, 'finished'), true);
});
