import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { PromptHealthReader, promptCharts, thinShares } from '../../../../../src/diagnostics/model/promptHealth';
import type { PromptHealth, StepShares } from '../../../../../src/diagnostics/model/promptLedger';
import type { RunInfo } from '../../../../../src/run/model/runFormat';

const root = mkdtempSync(join(tmpdir(), 'pacs-health-'));
after(() => rmSync(root, { recursive: true, force: true }));

const share = (step: number): StepShares => ({
  step, status: { 'always solved': 0, 'never solved': 1, learned: 0, forgotten: 0, unstable: 0 }, allCorrect: 0, allWrong: 1, mixed: 0,
});
const line = (step: number, c: number[]) => `${JSON.stringify({ step, ...(step === 1 ? { new: [['a', null], ['b', null]] } : {}), p: [0, 1], c, n: 4 })}\n`;
const runIn = (name: string) => {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return { id: name, dir, info: { name } as RunInfo };
};

test('thinShares keeps short lists whole and thins long ones evenly, first and last kept', () => {
  const few = [1, 2, 3].map(share);
  assert.deepEqual(thinShares(few, 5), few);
  const thinned = thinShares(Array.from({ length: 1001 }, (_, i) => share(i + 1)), 5);
  assert.deepEqual(thinned.map((s) => s.step), [1, 251, 501, 751, 1001]);
});

test('the reader gives the ledger\'s shares, parses again only when the ledger grew, and null without a ledger', async () => {
  const run = runIn('live');
  const reader = new PromptHealthReader();
  assert.equal(await reader.read(run), null, 'no ledger yet');
  writeFileSync(join(run.dir, 'ledger.jsonl'), line(1, [4, 0]));
  const first = await reader.read(run);
  assert.deepEqual([first?.runId, first?.runName, first?.steps], ['live', 'live', 1]);
  assert.deepEqual(first?.shares.map((s) => [s.step, s.allCorrect, s.allWrong, s.mixed]), [[1, 0.5, 0.5, 0]]);
  assert.equal(await reader.read(run), first, 'the same ledger is not parsed again');
  appendFileSync(join(run.dir, 'ledger.jsonl'), line(2, [1, 0]));
  const second = await reader.read(run);
  assert.deepEqual(second?.shares.map((s) => [s.step, s.allCorrect, s.allWrong, s.mixed]), [[1, 0.5, 0.5, 0], [2, 0, 0.5, 0.5]]);
  assert.equal(second?.shares[1].status.forgotten, 0.5, 'a, solved at step 1, is forgotten at step 2');
});

test('a ledger that is a link out of the run folder is not read', async () => {
  const run = runIn('linked');
  const outside = join(root, 'outside.jsonl');
  writeFileSync(outside, line(1, [4, 0]));
  symlinkSync(outside, join(run.dir, 'ledger.jsonl'));
  assert.equal(await new PromptHealthReader().read(run), null);
});

const seriesOf = (charts: { families: { id: string; series: { runId: string; metric: string; xs: number[]; ys: (number | null)[] }[] }[] }, family: string) =>
  charts.families.find((f) => f.id === family)?.series.map((s) => [s.runId, s.metric, s.xs, s.ys]);

test('promptCharts: one series per run with a ledger and share, in the runs\' order; the runs without one are named', () => {
  const health = (runId: string, shares: StepShares[], steps = shares.length): PromptHealth => ({ runId, runName: runId, steps, shares, badLines: 0 });
  const a = health('a', [share(1), { ...share(2), allWrong: 0.25, mixed: 0.75, status: { ...share(2).status, 'never solved': 0.5, learned: 0.5 } }]);
  const b = health('b', [share(5)], 900);
  const charts = promptCharts(['b', 'none', 'a'], new Map([['a', a], ['b', b], ['none', null]]));
  assert.deepEqual(charts.families.map((f) => f.id), ['prompt-status', 'group-shares']);
  assert.deepEqual(seriesOf(charts, 'group-shares'), [
    ['b', 'all correct', [5], [0]], ['b', 'all wrong', [5], [1]], ['b', 'mixed', [5], [0]],
    ['a', 'all correct', [1, 2], [0, 0]], ['a', 'all wrong', [1, 2], [1, 0.25]], ['a', 'mixed', [1, 2], [0, 0.75]],
  ]);
  const status = charts.families[0].series;
  assert.deepEqual(status.map((s) => `${s.runId}:${s.metric}`), ['b', 'a'].flatMap((r) => ['always solved', 'never solved', 'learned', 'forgotten', 'unstable'].map((m) => `${r}:${m}`)));
  assert.deepEqual(status.find((s) => s.runId === 'a' && s.metric === 'learned')?.ys, [0, 0.5]);
  assert.deepEqual(status.map((s) => s.rawCount), [...Array(5).fill(900), ...Array(5).fill(2)], 'raw points: the ledger\'s steps before thinning');
  assert.ok(status.every((s) => s.smoothed === null && s.constant === null && s.ts.every((t) => t === null)), 'drawn as read: no EMA, no time');
  assert.deepEqual(charts.ledgers, [{ runId: 'b', steps: 900, drawn: 1, badLines: 0 }, { runId: 'a', steps: 2, drawn: 2, badLines: 0 }]);
  assert.deepEqual(charts.withoutLedger, ['none']);
  assert.deepEqual(promptCharts(['x'], new Map()).families.map((f) => f.series.length), [0, 0], 'no ledger at all: empty charts');
});

test('the reader charts several runs: a run without a ledger has no series, a malformed line is skipped and counted, a ledger that grows is read again', async () => {
  const [a, b, c] = ['cmp-a', 'cmp-b', 'cmp-c'].map(runIn);
  writeFileSync(join(a.dir, 'ledger.jsonl'), line(1, [4, 0]));
  writeFileSync(join(b.dir, 'ledger.jsonl'), `${line(1, [0, 0])}{"step": 2, "p": [0], "c": 3}\nnot json\n${JSON.stringify({ step: 3, p: [0, 1], c: [2, 4], n: 4 })}\n`);
  const reader = new PromptHealthReader();
  const first = await reader.charts([a, b, c]);
  assert.deepEqual(first.withoutLedger, ['cmp-c']);
  assert.deepEqual(first.ledgers, [{ runId: 'cmp-a', steps: 1, drawn: 1, badLines: 0 }, { runId: 'cmp-b', steps: 2, drawn: 2, badLines: 2 }]);
  assert.deepEqual(seriesOf(first, 'group-shares')?.filter(([runId]) => runId === 'cmp-b'), [
    ['cmp-b', 'all correct', [1, 3], [0, 0.5]], ['cmp-b', 'all wrong', [1, 3], [1, 0]], ['cmp-b', 'mixed', [1, 3], [0, 0.5]],
  ], 'the lines around the malformed ones are read');
  assert.deepEqual(first.families[0].series.find((s) => s.runId === 'cmp-b' && s.metric === 'learned')?.ys, [0, 1], 'both prompts unsolved at step 1, solved at step 3');
  appendFileSync(join(a.dir, 'ledger.jsonl'), line(2, [1, 4]));
  writeFileSync(join(c.dir, 'ledger.jsonl'), line(1, [4, 4]));
  const second = await reader.charts([a, b, c]);
  assert.deepEqual(second.withoutLedger, []);
  assert.deepEqual(second.ledgers.map((l) => [l.runId, l.steps]), [['cmp-a', 2], ['cmp-b', 2], ['cmp-c', 1]]);
  assert.deepEqual(seriesOf(second, 'group-shares')?.find(([runId, metric]) => runId === 'cmp-a' && metric === 'mixed'), ['cmp-a', 'mixed', [1, 2], [0, 0.5]]);
  const only = await reader.charts([c]);
  assert.deepEqual(only.ledgers.map((l) => l.runId), ['cmp-c'], 'only the runs asked for');
});
