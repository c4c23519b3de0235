import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { commitLabel, isCorrect, isEvaluationMetric, lossMetric, parseEvent, pinFor, shownStep } from '../../../../../src/run/model/runModel';

describe('parseEvent', () => {
  test('types the known events and drops metric values that are not finite numbers', () => {
    assert.deepEqual(parseEvent({ t: 5, type: 'metrics', step: 3, values: { 'reward/mean': 0.5, 'critic/auc': null, x: 'y' } }), {
      kind: 'known',
      event: { t: 5, type: 'metrics', step: 3, values: { 'reward/mean': 0.5 } },
    });
    assert.deepEqual(parseEvent({ t: 6, type: 'eval', step: 3, values: { 'eval/accuracy': 0.25, 'perf/eval_s': 2 } }), {
      kind: 'known',
      event: { t: 6, type: 'eval', step: 3, values: { 'eval/accuracy': 0.25, 'perf/eval_s': 2 } },
    });
    assert.deepEqual(parseEvent({ t: 7, type: 'checkpoint', step: 3, path: 'checkpoints/step-000003' }).kind, 'known');
    assert.deepEqual(parseEvent({ type: 'rollouts', step: 12, count: 4 }), {
      kind: 'known',
      event: { t: null, type: 'rollouts', step: 12, file: 'rollouts/step-000012.jsonl', count: 4 },
    });
  });

  test('reads a format-1 evaluation (a metrics event of evaluation metrics only) as an eval event', () => {
    const old = parseEvent({ t: 9, type: 'metrics', step: 0, values: { 'eval/accuracy': 0.1, 'eval/pass@4': 0.3, 'perf/eval_s': 1.5 } });
    assert.equal(old.kind === 'known' && old.event.type, 'eval');
    const training = parseEvent({ t: 9, type: 'metrics', step: 1, values: { 'reward/mean': 0.1, 'perf/step_s': 1 } });
    assert.equal(training.kind === 'known' && training.event.type, 'metrics');
    const empty = parseEvent({ t: 9, type: 'metrics', step: 1, values: { 'critic/auc': null } });
    assert.equal(empty.kind === 'known' && empty.event.type, 'metrics', 'no values: still a training step');
  });

  test('flags records whose fields have the wrong type, and keeps unknown types', () => {
    const bad = (record: unknown) => {
      const parsed = parseEvent(record);
      return parsed.kind === 'bad' ? parsed.error : null;
    };
    assert.match(bad([1, 2]) ?? '', /not an event object/);
    assert.match(bad({ t: 1 }) ?? '', /not an event object/);
    assert.match(bad({ type: 'metrics', step: '3', values: {} }) ?? '', /"metrics" event needs a whole, non-negative "step"/);
    assert.match(bad({ type: 'eval', step: -1, values: {} }) ?? '', /"step"/);
    assert.match(bad({ type: 'metrics', step: 1, values: [1] }) ?? '', /"values"/);
    assert.match(bad({ type: 'checkpoint', step: 1, path: 7 }) ?? '', /"path"/);
    assert.match(bad({ type: 'state', status: 'exploded' }) ?? '', /"status"/);
    assert.match(bad({ type: 'control_ack', seq: 'x' }) ?? '', /"seq"/);
    assert.match(bad({ type: 'error', message: { a: 1 } }) ?? '', /"message"/);
    const later = parseEvent({ t: 3, type: 'profile', step: 1, spans: [1] });
    assert.deepEqual(later, { kind: 'unknown', event: { t: 3, type: 'profile', step: 1, spans: [1] } });
  });
});

test('isEvaluationMetric: eval/* and the evaluation time', () => {
  assert.deepEqual(['eval/accuracy', 'eval/pass@8', 'perf/eval_s', 'perf/step_s', 'reward/mean'].map(isEvaluationMetric), [true, true, true, false, false]);
});

test('commitLabel: 7 characters, * for uncommitted work, null outside git', () => {
  const git = { commit: '3f2a9b8c7d', branch: 'main', dirty: false, snapshot: null, ref: null };
  assert.equal(commitLabel(git), '3f2a9b8');
  assert.equal(commitLabel({ ...git, dirty: true, snapshot: 'aa11bb22cc' }), '3f2a9b8*');
  assert.equal(commitLabel({ ...git, dirty: true }), '3f2a9b8*', 'a dirty tree not snapshotted (--git ignore)');
  assert.equal(commitLabel({ ...git, commit: null, dirty: true, snapshot: 'aa11bb22cc' }), 'aa11bb2*');
  assert.equal(commitLabel({ ...git, commit: null }), null);
  assert.equal(commitLabel(null), null);
});

test('shownStep and pinFor: the pinned step while it has rollouts, else the newest; picking the newest follows', () => {
  assert.equal(shownStep([10, 20, 30], 20), 20);
  assert.equal(shownStep([10, 20, 30], 25), 30);
  assert.equal(shownStep([10, 20], null), 20);
  assert.equal(shownStep([], null), null);
  assert.equal(pinFor([10, 20, 30], 20), 20);
  assert.equal(pinFor([10, 20, 30], 30), null);
  assert.equal(pinFor([10, 20, 30], 25), null);
});

test('isCorrect: partial credit counts from 0.5 up', () => {
  assert.deepEqual([0, 0.49, 0.5, 1].map(isCorrect), [false, false, true, true]);
});

test('lossMetric: run.json names it, else <algorithm>/loss', () => {
  assert.equal(lossMetric({ algorithm: 'grpo', loss_metric: 'drgrpo/loss' }), 'drgrpo/loss');
  assert.equal(lossMetric({ algorithm: 'rloo' }), 'rloo/loss');
  assert.equal(lossMetric({ algorithm: 'pacs', loss_metric: 42 }), 'pacs/loss');
});
