import assert from 'node:assert/strict';
import { test } from 'node:test';

import { heldoutChanges, parseHeldout, resultOf } from '../../../../../src/diagnostics/model/heldout';

const line = (id: string, greedy: boolean, correct: number, set: string | null = null) =>
  JSON.stringify({ set, id, data_source: set ? 'src' : null, greedy_correct: greedy, correct, samples: 2, greedy: `g-${id}`, responses: ['a', 'b'] });

const file = (...lines: string[]) => lines.join('\n') + '\n';

test('parses a held-out file, counting bad lines and leaving a torn last line', () => {
  const { examples, bad } = parseHeldout(`${file(line('e1', true, 2), 'oops', '{"id": 3}')}{"id":"cut`);
  assert.equal(bad, 2);
  assert.deepEqual(examples, [{ set: null, id: 'e1', source: null, greedyCorrect: true, correct: 2, samples: 2, greedy: 'g-e1', responses: ['a', 'b'] }]);
});

test('fixed and broken since step 0 and since the previous evaluation', () => {
  const evals = [
    file(line('e1', false, 0), line('e2', true, 2), line('e3', false, 1), line('m1', false, 0, 'math')),
    file(line('e1', true, 1), line('e2', true, 2), line('e3', true, 2), line('m1', true, 1, 'math')),
    file(line('e1', true, 2), line('e2', false, 0), line('e3', false, 1), line('m1', true, 2, 'math')),
  ].map((text, i) => ({ step: i * 10, results: parseHeldout(text).examples.map(resultOf) }));
  const fromStart = heldoutChanges(evals, 'start').map((c) => [c.set, c.id, c.change, c.from.step, c.to.step]);
  assert.deepEqual(fromStart, [[null, 'e1', 'fixed', 0, 20], [null, 'e2', 'broken', 0, 20], ['math', 'm1', 'fixed', 0, 20]]);
  const fromPrevious = heldoutChanges(evals, 'previous').map((c) => [c.id, c.change, c.from.step]);
  assert.deepEqual(fromPrevious, [['e2', 'broken', 10], ['e3', 'broken', 10]]);
  assert.deepEqual(heldoutChanges(evals.slice(0, 1), 'start'), []);
});
