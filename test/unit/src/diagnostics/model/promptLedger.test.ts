import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseLedger, sharesOverSteps, summarizePrompts } from '../../../../../src/diagnostics/model/promptLedger';

/** A synthetic run of 4 steps, n = 4, whose prompts' statuses are known by construction. */
const LEDGER = [
  { step: 1, new: [['always', 'a'], ['never', null], ['learned', 'b'], ['forgotten', 'b'], ['unstable', 'a']], p: [0, 1, 2, 3, 4], c: [4, 0, 1, 3, 0], n: 4 },
  { step: 2, p: [0, 1, 2, 3, 4], c: [2, 1, 2, 4, 4], n: 4 },
  { step: 3, new: [['late', null]], p: [2, 3, 4, 5], c: [4, 0, 0, 3], n: [4, 4, 4, 8] },
  { step: 4, p: [0, 2, 3, 4], c: [3, 3, 1, 2], n: 4 },
].map((line) => JSON.stringify(line)).join('\n') + '\n';

test('parses the ledger, skipping bad lines and a torn last line', () => {
  const { rows, bad } = parseLedger(`${LEDGER}not json\n{"step":"x","p":[],"c":[]}\n{"step":5,"p":[0],"c`);
  assert.equal(rows.length, 18);
  assert.deepEqual(rows[0], { step: 1, id: 'always', source: 'a', correct: 4, n: 4 });
  assert.deepEqual(rows.find((r) => r.id === 'late'), { step: 3, id: 'late', source: null, correct: 3, n: 8 });
  assert.deepEqual(bad, ['line 5: not JSON', 'line 6: needs a whole step and lists p, c (and n) of one length']);
});

test('each prompt gets its known status, pass rates and first solved step', () => {
  const byId = Object.fromEntries(summarizePrompts(parseLedger(LEDGER).rows).map((p) => [p.id, p]));
  assert.deepEqual(Object.fromEntries(Object.entries(byId).map(([id, p]) => [id, p.status])), {
    always: 'always solved', never: 'never solved', learned: 'learned', forgotten: 'forgotten', unstable: 'unstable',
    late: 'never solved',
  });
  assert.deepEqual(byId.learned, {
    id: 'learned', source: 'b', seen: 4, first: 0.25, last: 0.75, trend: 0.5, firstSolvedStep: 2, status: 'learned',
    steps: [1, 2, 3, 4],
  });
  assert.equal(byId.never.firstSolvedStep, null);
  assert.equal(byId.forgotten.firstSolvedStep, 1);
});

test('status shares of the prompts seen so far and group shares, per step', () => {
  const shares = sharesOverSteps(parseLedger(LEDGER).rows);
  assert.deepEqual(shares.map((s) => s.step), [1, 2, 3, 4]);
  // step 1: always, forgotten solved; never, learned, unstable not
  assert.deepEqual(shares[0].status, { 'always solved': 0.4, 'never solved': 0.6, learned: 0, forgotten: 0, unstable: 0 });
  assert.deepEqual([shares[0].allCorrect, shares[0].allWrong, shares[0].mixed], [0.2, 0.4, 0.4]);
  // step 4: always (4,2,3 solved), never, learned, forgotten, unstable (0,4,0,2), late (3 of 8: never)
  assert.deepEqual(shares[3].status, {
    'always solved': 1 / 6, 'never solved': 2 / 6, learned: 1 / 6, forgotten: 1 / 6, unstable: 1 / 6,
  });
});
