import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { PromptHealthReader, thinShares } from '../../../../../src/diagnostics/model/promptHealth';
import type { StepShares } from '../../../../../src/diagnostics/model/promptLedger';
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
  assert.equal(await reader.read(undefined), null);
});

test('a ledger that is a link out of the run folder is not read', async () => {
  const run = runIn('linked');
  const outside = join(root, 'outside.jsonl');
  writeFileSync(outside, line(1, [4, 0]));
  symlinkSync(outside, join(run.dir, 'ledger.jsonl'));
  assert.equal(await new PromptHealthReader().read(run), null);
});
