import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RunFollower, formatDuration, summaryTable } from '../../../../../src/runs/model/follow';
import { FIXTURES } from '../../../helpers/repo';

describe('RunFollower', () => {
  test('progress lines and the before/after table from a run of events', () => {
    const f = new RunFollower(100);
    const notes: string[] = [];
    const feed = (e: object) => {
      const r = f.apply(e);
      notes.push(...r.notes);
      return r.stepped;
    };
    feed({ t: 100, type: 'run_started', total_steps: 4, config: {} });
    assert.equal(feed({ t: 100.5, type: 'metrics', step: 0, values: { 'data/train_prompts': 320, 'data/prompts_too_long': 0 } }), false, "step 0's data facts are not a step");
    assert.equal(feed({ t: 101, type: 'metrics', step: 0, values: { 'eval/accuracy': 0.25, 'eval/pass@1': 0.2, 'eval/pass@8': 0.6, 'perf/eval_s': 1 } }), false);
    assert.equal(feed({ t: 103, type: 'metrics', step: 1, values: { 'reward/mean': 0.5, 'pacs/loss': 0.1234, 'critic/auc': null, 'perf/step_s': 2 } }), true);
    assert.equal(f.progressLine(), 'step 1/4  reward 0.500  loss 0.1234  critic auc -  0.50 steps/s');
    feed({ t: 105, type: 'metrics', step: 2, values: { 'reward/mean': 0.75, 'pacs/loss': 0.1, 'critic/auc': 0.8, 'perf/step_s': 2 } });
    assert.equal(f.progressLine(), 'step 2/4  reward 0.750  loss 0.1000  critic auc 0.800  0.50 steps/s');
    feed({ t: 105, type: 'metrics', step: 2, values: { 'critic/bce': 0.6512 } });
    assert.equal(f.progressLine(), 'step 2/4  reward 0.750  bce 0.6512  critic auc 0.800  0.50 steps/s', "the critic's BCE after the update, where logged");
    feed({ t: 105.5, type: 'alert', step: 2, rule: 'no_signal', value: 1, threshold: 0.9, action: 'pause', message: 'groups agree' });
    feed({ t: 106, type: 'state', status: 'paused', reason: 'control command' });
    feed({ t: 110, type: 'eval', step: 2, values: { 'eval/accuracy': 0.5, 'eval/pass@1': 0.45, 'eval/pass@8': 0.7 } });
    feed({ t: 111, type: 'run_finished', status: 'finished' });
    assert.equal(f.finished, 'finished');
    assert.deepEqual(notes, ['eval at step 0: accuracy 25.0%  pass@1 20.0%  pass@8 60.0%', 'alert at step 2: no_signal (pause) 1 vs 0.900: groups agree', '[paused] control command', 'eval at step 2: accuracy 50.0%  pass@1 45.0%  pass@8 70.0%']);
    const s = f.summary('finished', null, 42);
    assert.equal(s.trainSeconds, 11);
    assert.equal(s.wallSeconds, 42);
    assert.equal(s.evalBeforeStep, 0);
    assert.equal(s.evalAfterStep, 2);
    const table = summaryTable(s);
    assert.match(table, /eval\/accuracy +25\.0% +50\.0% +\+25\.0 pts/);
    assert.match(table, /eval\/pass@8 +60\.0% +70\.0% +\+10\.0 pts/);
    assert.match(table, /critic\/auc \(final\) +0\.800/);
    assert.match(table, /training time +11s/);
    assert.match(table, /wall time \(with startup\) +42s/);
    assert.ok(table.indexOf('eval/accuracy') < table.indexOf('eval/pass@1'));
  });

  test('a resumed session forgets the earlier end but keeps the first evaluation', () => {
    const f = new RunFollower(10);
    f.apply({ t: 1, type: 'metrics', step: 0, values: { 'eval/accuracy': 0.1 } });
    f.apply({ t: 2, type: 'run_finished', status: 'suspended' });
    f.startSession();
    assert.equal(f.finished, null);
    f.apply({ t: 50, type: 'metrics', step: 10, values: { 'eval/accuracy': 0.3 } });
    const s = f.summary('finished');
    assert.deepEqual([s.evalBefore['eval/accuracy'], s.evalAfter['eval/accuracy']], [0.1, 0.3]);
  });

  test('a format-1 run: evaluations on metrics events are not steps; the loss is the named metric', () => {
    const lines = readFileSync(join(FIXTURES, 'format1-run', 'events.jsonl'), 'utf8').trim().split('\n');
    const f = new RunFollower(4, 'pacs/loss');
    const stepped = lines.map((line) => f.apply(JSON.parse(line)).stepped);
    assert.equal(stepped.filter(Boolean).length, 4);
    assert.equal(f.progressLine(), 'step 4/4  reward 0.563  loss 0.5800  critic auc 0.750  0.47 steps/s');
    const s = f.summary('finished');
    assert.deepEqual([s.evalBeforeStep, s.evalAfterStep, s.evalBefore['eval/accuracy'], s.evalAfter['eval/accuracy']], [0, 4, 0.25, 0.625]);
    assert.equal(new RunFollower(4, 'grpo/loss').progressLine(), 'step 0/4  reward -  loss -  critic auc -  - steps/s');
  });

  test('formatDuration', () => {
    assert.equal(formatDuration(59.4), '59s');
    assert.equal(formatDuration(61), '1m 01s');
    assert.equal(formatDuration(3 * 3600 + 120), '3h 02m');
  });
});
