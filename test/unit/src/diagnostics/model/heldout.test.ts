import assert from 'node:assert/strict';
import { test } from 'node:test';

import { heldoutChanges, heldoutGroups, heldoutSources, parseHeldout, resultOf } from '../../../../../src/diagnostics/model/heldout';

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

test('grouped by eval set and data source: each group\'s accuracy at both ends and its fixed and broken', () => {
  const row = (id: string, source: string | null, greedy: boolean, set: string | null = null) =>
    JSON.stringify({ set, id, data_source: source, greedy_correct: greedy, correct: 0, samples: 2 });
  const evals = [
    file(row('a1', 'AIME', false), row('a2', 'AIME', false), row('m1', 'MATH-500', true), row('m2', 'MATH-500', true), row('m3', 'MATH-500', false)),
    file(row('a1', 'AIME', true), row('a2', 'AIME', false), row('m1', 'MATH-500', false), row('m2', 'MATH-500', true), row('m3', 'MATH-500', false)),
    file(row('m1', 'MATH-500', true), row('a1', 'AIME', true), row('a2', 'AIME', true), row('m2', 'MATH-500', true), row('m3', 'MATH-500', false),
      row('x1', null, true), row('h1', 'AIME', false, 'hard')),
  ].map((text, i) => ({ step: i * 10, results: parseHeldout(text).examples.map(resultOf) }));
  assert.deepEqual(heldoutSources(evals), ['MATH-500', 'AIME', null]);
  assert.deepEqual(heldoutGroups(evals, 'start'), [
    { set: null, source: 'MATH-500', problems: 3, from: { step: 0, accuracy: 2 / 3 }, to: { step: 20, accuracy: 2 / 3 }, fixed: 0, broken: 0 },
    { set: null, source: 'AIME', problems: 2, from: { step: 0, accuracy: 0 }, to: { step: 20, accuracy: 1 }, fixed: 2, broken: 0 },
    { set: null, source: null, problems: 1, from: { step: 0, accuracy: null }, to: { step: 20, accuracy: 1 }, fixed: 0, broken: 0 },
    { set: 'hard', source: 'AIME', problems: 1, from: { step: 0, accuracy: null }, to: { step: 20, accuracy: 0 }, fixed: 0, broken: 0 },
  ]);
  const [math, aime] = heldoutGroups(evals, 'previous');
  assert.deepEqual([math.from, math.fixed, math.broken, aime.from, aime.fixed], [{ step: 10, accuracy: 1 / 3 }, 1, 0, { step: 10, accuracy: 0.5 }, 1]);
  assert.deepEqual(heldoutGroups(evals.slice(0, 1), 'start'), []);
  assert.deepEqual(heldoutSources([]), []);
});
