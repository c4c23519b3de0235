import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { processStartTime } from '../../../../../src/runs/model/process';
import { MAX_WARNINGS, RunStore } from '../../../../../src/runs/model/runStore';
import type { RunStoreChange } from '../../../../../src/runs/model/runStore';
import { appendEvents, makeRun, metricsEvent, runInfo, writeRunJson } from '../../../helpers/runFixtures';
import { FIXTURES } from '../../../helpers/repo';

/** A series' steps and values (its times are checked where they matter). */
const pointsOf = (s: { steps: number[]; values: number[] } | undefined) => s && { steps: s.steps, values: s.values };

const base = mkdtempSync(join(tmpdir(), 'pacs-store-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const freshRoot = () => {
  const root = join(base, `root-${n++}`);
  mkdirSync(root);
  return root;
};

/** A pid that just exited (its number is not reused this quickly). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid as number;
}

describe('RunStore', () => {
  test('accumulates metrics across polls and fires onDidChange with the changed ids', async () => {
    const root = freshRoot();
    const dir = makeRun(root, '20261127-030000-arith-aaaa', { status: 'finished' });
    makeRun(root, '20261127-020000-other-bbbb', { created_at: '2026-11-27T02:00:00.00Z' });
    appendEvents(dir, [
      { t: 1000, type: 'run_started', config: {}, total_steps: 10 },
      metricsEvent(0, { 'eval/accuracy': 0.1 }),
      metricsEvent(1, { 'reward/mean': 0.2, 'pacs/loss': 1.5 }),
    ]);
    const store = new RunStore({ roots: [root], pollIntervalMs: 60_000 });
    const changes: RunStoreChange[] = [];
    store.onDidChange((e) => changes.push(e));
    await store.refresh();
    assert.deepEqual(store.runs().map((r) => r.id), ['20261127-030000-arith-aaaa', '20261127-020000-other-bbbb']);
    assert.deepEqual(new Set(changes[0].runIds), new Set(['20261127-030000-arith-aaaa', '20261127-020000-other-bbbb']));

    appendEvents(dir, [metricsEvent(2, { 'reward/mean': 0.4, 'pacs/loss': 1.2 }), { t: 1003, type: 'checkpoint', step: 2, path: 'checkpoints/step-000002' }, { t: 1004, type: 'control_ack', seq: 3, command: 'pause', result: 'ok' }]);
    await store.refresh();
    assert.deepEqual(changes[1].runIds, ['20261127-030000-arith-aaaa'], 'only the run that changed');
    const run = store.get('20261127-030000-arith-aaaa');
    assert.ok(run);
    assert.deepEqual(store.metricSeries(run.id).get('reward/mean'), { steps: [1, 2], values: [0.2, 0.4], times: [1001, 1002] }, 'each point keeps its event time');
    assert.deepEqual(pointsOf(store.metricSeries(run.id).get('eval/accuracy')), { steps: [0], values: [0.1] });
    assert.equal(run.latest['pacs/loss'], 1.2);
    assert.equal(run.lastMetricStep, 2);
    assert.deepEqual(run.checkpoints, [{ step: 2, path: 'checkpoints/step-000002' }]);
    assert.equal(run.lastAckSeq, 3);
    assert.equal(run.configName, 'arith');
    assert.equal(run.startedAt, 1000);
    assert.equal(run.stepsPerSecond, 1);

    await store.refresh();
    assert.equal(changes.length, 2, 'no change, no event');
    assert.equal(store.get(run.id), run, 'and the same state object');
    store.dispose();
  });

  test('a resumed run logging steps again replaces them instead of duplicating', async () => {
    const root = freshRoot();
    const dir = makeRun(root, '20261127-030000-arith-cccc');
    appendEvents(dir, [1, 2, 3].map((s) => metricsEvent(s, { 'reward/mean': s })));
    appendEvents(dir, [2, 3, 4].map((s) => metricsEvent(s, { 'reward/mean': s * 10 })));
    const store = new RunStore({ roots: [root] });
    await store.refresh();
    assert.deepEqual(pointsOf(store.metricSeries('20261127-030000-arith-cccc').get('reward/mean')), { steps: [1, 2, 3, 4], values: [1, 20, 30, 40] });
    store.dispose();
  });

  test('an evaluation is not a training step: steps/s counts training steps only, and an evaluation keeps the window', async () => {
    const root = freshRoot();
    const dir = makeRun(root, '20261127-030000-arith-eval');
    // Two seconds a training step; the evaluation after step 5 (a format-1 run: eval metrics on a
    // metrics event, its time in perf/eval_s) neither counts as a step nor restarts the window.
    const events: object[] = [];
    for (let step = 1; step <= 10; step++) {
      events.push(metricsEvent(step, { 'reward/mean': step / 10, 'perf/step_s': 2 }, 1000 + 2 * step));
      if (step === 5) events.push(metricsEvent(5, { 'eval/accuracy': 0.5, 'perf/eval_s': 0.5 }, 1010.5));
    }
    appendEvents(dir, events);
    const store = new RunStore({ roots: [root] });
    await store.refresh();
    const run = store.get('20261127-030000-arith-eval');
    assert.equal(run?.stepsPerSecond, 0.5);
    assert.deepEqual(pointsOf(store.metricSeries(run.id).get('perf/eval_s')), { steps: [5], values: [0.5] });
    store.dispose();
  });

  test('a run keeps its warnings (log events of level warning or error), the newest few, and counts them all', async () => {
    const root = freshRoot();
    const dir = makeRun(root, '20261127-030000-arith-warn');
    const events: object[] = [{ t: 1000, type: 'log', step: 0, level: 'info', message: 'started' }];
    for (let step = 1; step <= MAX_WARNINGS + 5; step++) {
      events.push(metricsEvent(step, { 'verifier/error_frac': 0.9 }, 1000 + step));
      events.push({ t: 1000 + step, type: 'log', step, level: 'warning', message: `the verifier failed on 9 of 10 samples of step ${step}` });
    }
    appendEvents(dir, events);
    const store = new RunStore({ roots: [root] });
    await store.refresh();
    const run = store.get('20261127-030000-arith-warn');
    assert.equal(run?.warningCount, MAX_WARNINGS + 5, 'the info line is no warning');
    assert.equal(run.warnings.length, MAX_WARNINGS);
    assert.deepEqual(run.warnings.at(-1), { step: MAX_WARNINGS + 5, level: 'warning', message: `the verifier failed on 9 of 10 samples of step ${MAX_WARNINGS + 5}` });
    store.dispose();
  });

  test("step 0's data metrics are not a training step: the window starts at step 1", async () => {
    const root = freshRoot();
    const dir = makeRun(root, '20261127-030000-arith-data');
    // The data facts at step 0, then a 30 s evaluation, then two seconds a training step.
    const events: object[] = [metricsEvent(0, { 'data/train_prompts': 320, 'data/prompts_too_long': 3 }, 1000)];
    for (let step = 1; step <= 5; step++) events.push(metricsEvent(step, { 'reward/mean': step / 10 }, 1030 + 2 * step));
    appendEvents(dir, events);
    const store = new RunStore({ roots: [root] });
    await store.refresh();
    const run = store.get('20261127-030000-arith-data');
    assert.equal(run?.stepsPerSecond, 0.5);
    assert.deepEqual(pointsOf(store.metricSeries(run.id).get('data/prompts_too_long')), { steps: [0], values: [3] });
    store.dispose();
  });

  test('reads a format-1 run: its evaluations, logged as metrics events, are evaluations', async () => {
    const root = freshRoot();
    const id = '20261120-101500-arith-f001';
    cpSync(join(FIXTURES, 'format1-run'), join(root, id), { recursive: true });
    const store = new RunStore({ roots: [root] });
    await store.refresh();
    const run = store.get(id);
    assert.ok(run);
    assert.equal(run.info.format, 1);
    assert.equal(run.events.badLines, 0);
    const series = store.metricSeries(id);
    assert.deepEqual(pointsOf(series.get('eval/accuracy')), { steps: [0, 2, 4], values: [0.25, 0.5, 0.625] });
    assert.deepEqual(series.get('reward/mean')?.steps, [1, 2, 3, 4]);
    assert.deepEqual(series.get('critic/auc')?.steps, [2, 3, 4], 'null values are left out');
    assert.equal(run.stepsPerSecond, 3 / 6.5, 'steps 1 to 4 in 6.5 s; the evaluations in between neither count nor restart the window');
    assert.equal(run.lastMetricStep, 4);
    assert.deepEqual(store.rolloutSteps(id), [1]);
    assert.deepEqual(run.checkpoints, [{ step: 4, path: 'checkpoints/step-000004' }]);
    store.dispose();
  });

  test('an event of a known type with a field of the wrong type is a bad line, not a crash', async () => {
    const root = freshRoot();
    const dir = makeRun(root, '20261127-030000-arith-badf');
    appendEvents(dir, [
      metricsEvent(1, { 'reward/mean': 0.5 }),
      { t: 1002, type: 'metrics', step: 'two', values: { 'reward/mean': 0.7 } },
      { t: 1003, type: 'checkpoint', step: 2, path: null },
      { t: 1004, type: 'later_event_type', step: 3 },
    ]);
    const store = new RunStore({ roots: [root] });
    await store.refresh();
    const run = store.get('20261127-030000-arith-badf');
    assert.equal(run?.events.badLines, 2);
    assert.match(run.events.firstBadLines[0].error, /"metrics" event needs a whole, non-negative "step"/);
    assert.deepEqual(pointsOf(store.metricSeries(run.id).get('reward/mean')), { steps: [1], values: [0.5] });
    assert.equal(run.events.lastEventT, 1004, 'an unknown type is kept, not counted bad');
    store.dispose();
  });

  test('counts bad lines, lists rollout steps without reading them, loads one step on request', async () => {
    const root = freshRoot();
    const id = '20261127-030000-arith-dddd';
    const dir = makeRun(root, id);
    writeFileSync(join(dir, 'events.jsonl'), '{"t":1,"type":"rollouts","step":3,"file":"rollouts/step-000003.jsonl","count":2}\nnot json\n[1,2]\n{"t":2,"type":"met');
    mkdirSync(join(dir, 'rollouts'));
    writeFileSync(join(dir, 'rollouts', 'step-000001.jsonl'), '{"step":1,"index":0,"response":"<b>x</b>"}\n');
    writeFileSync(join(dir, 'rollouts', 'step-000003.jsonl'), '{"step":3,"index":0}\n{"step":3,"index":1}\ngarbage\n');
    writeFileSync(join(dir, 'rollouts', 'notes.txt'), 'ignored');
    const store = new RunStore({ roots: [root] });
    await store.refresh();
    assert.deepEqual(store.rolloutSteps(id), [1, 3]);
    assert.equal(store.badLineCount(id), 2, 'an invalid line and a non-object line; the torn last line waits');
    assert.deepEqual(store.get(id)?.events.firstBadLines.map((b) => b.snippet), ['not json', '[1,2]']);
    const loaded = await store.loadRollouts(id, 3);
    assert.equal(loaded.samples.length, 2);
    assert.equal(loaded.badLines, 1);
    assert.equal((await store.loadRollouts(id, 1)).samples[0].response, '<b>x</b>');
    await assert.rejects(store.loadRollouts(id, 2), /ENOENT/);
    store.dispose();
  });

  test('marks a running run whose pid is dead as crashed: run.json rewritten and a state event appended', async () => {
    const root = freshRoot();
    const id = '20261127-030000-arith-eeee';
    const dir = makeRun(root, id, { status: 'running', pid: deadPid(), pid_start_time: '12345' });
    writeFileSync(join(dir, 'trainer.log'), 'step 1/10\nKilled\n');
    appendEvents(dir, [metricsEvent(1, { 'reward/mean': 0.5 })]);
    writeFileSync(join(dir, 'events.jsonl'), readFileSync(join(dir, 'events.jsonl'), 'utf8') + '{"t":2,"ty');
    const store = new RunStore({ roots: [root] });
    const changes: string[][] = [];
    store.onDidChange((e) => changes.push(e.runIds));
    await store.refresh();
    const run = store.get(id);
    assert.equal(run?.status, 'crashed');
    assert.equal(run?.crashed, true);
    const onDisk = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    assert.equal(onDisk.status, 'crashed');
    assert.match(onDisk.error.message, /Killed/);
    const lines = readFileSync(join(dir, 'events.jsonl'), 'utf8').trimEnd().split('\n');
    const last = JSON.parse(lines[lines.length - 1]);
    assert.equal(last.type, 'state');
    assert.equal(last.status, 'crashed');
    assert.equal(lines[lines.length - 2], '{"t":2,"ty', 'the torn line is closed, not glued to the new event');
    assert.deepEqual(changes, [[id]]);
    await store.refresh();
    assert.equal(store.get(id)?.status, 'crashed');
    store.dispose();
  });

  test('a live pid with another start time is another process: crashed; the same process is left alone', async () => {
    const root = freshRoot();
    const mine = processStartTime(process.pid);
    assert.ok(mine, 'this test needs /proc');
    makeRun(root, '20261127-030000-arith-ffff', { status: 'paused', pid: process.pid, pid_start_time: String(Number(mine) + 1) });
    makeRun(root, '20261127-030000-arith-0000', { status: 'running', pid: process.pid, pid_start_time: mine });
    makeRun(root, '20261127-030000-arith-1111', { status: 'running', pid: deadPid(), host: 'some-other-host' });
    const store = new RunStore({ roots: [root] });
    await store.refresh();
    assert.equal(store.get('20261127-030000-arith-ffff')?.status, 'crashed');
    assert.equal(store.get('20261127-030000-arith-0000')?.status, 'running');
    assert.equal(store.get('20261127-030000-arith-1111')?.status, 'running', 'another host: cannot judge');
    store.dispose();
  });

  test('a starting run uses launcher.json for its pid', async () => {
    const root = freshRoot();
    const dir = makeRun(root, '20261127-030000-arith-2222', { status: 'starting' });
    writeFileSync(join(dir, 'launcher.json'), JSON.stringify({ pid: deadPid(), pid_start_time: null, host: runInfo('x').host }));
    const store = new RunStore({ roots: [root] });
    await store.refresh();
    assert.equal(store.get('20261127-030000-arith-2222')?.status, 'crashed');
    store.dispose();
  });

  test('a run left starting with no process recorded is marked failed after a minute, not before', async () => {
    const root = freshRoot();
    const old = new Date(Date.now() - 5 * 60_000).toISOString();
    const stale = makeRun(root, '20261127-030000-arith-3333', { status: 'starting', updated_at: old });
    makeRun(root, '20261127-030000-arith-4444', { status: 'starting', updated_at: new Date().toISOString() });
    makeRun(root, '20261127-030000-arith-5555', { status: 'starting', updated_at: old, host: 'some-other-host' });
    const store = new RunStore({ roots: [root] });
    await store.refresh();
    const run = store.get('20261127-030000-arith-3333');
    assert.equal(run?.status, 'failed');
    assert.match(run?.lastError?.message ?? '', /never started.*Launch the config again/);
    const onDisk = JSON.parse(readFileSync(join(stale, 'run.json'), 'utf8'));
    assert.equal(onDisk.status, 'failed');
    const last = JSON.parse(readFileSync(join(stale, 'events.jsonl'), 'utf8').trimEnd().split('\n').pop() as string);
    assert.deepEqual([last.type, last.status], ['state', 'failed']);
    assert.equal(store.get('20261127-030000-arith-4444')?.status, 'starting', 'a launch in progress is left alone');
    assert.equal(store.get('20261127-030000-arith-5555')?.status, 'starting', 'another host: cannot judge');
    store.dispose();
  });

  test('a broken run.json is read once per version: reported once, read again when it changes', async () => {
    const root = freshRoot();
    const id = '20261127-030000-arith-6666';
    const dir = makeRun(root, id);
    writeFileSync(join(dir, 'run.json'), '{"id": "broken",');
    const store = new RunStore({ roots: [root] });
    const errors: string[] = [];
    store.onDidError((e) => errors.push(e.message));
    await store.refresh();
    await store.refresh();
    await store.refresh();
    assert.equal(errors.length, 1, `one report for one broken version, got ${errors.join(' | ')}`);
    assert.match(errors[0], /run\.json/);
    assert.equal(store.get(id), undefined);
    writeRunJson(dir, runInfo(id, { status: 'finished', step: 7 }));
    await store.refresh();
    assert.equal(store.get(id)?.info.step, 7, 'the fixed file is read');
    writeFileSync(join(dir, 'run.json'), 'not json at all');
    await store.refresh();
    await store.refresh();
    assert.equal(errors.length, 2, 'the new broken version is reported once');
    assert.equal(store.get(id)?.info.step, 7, 'the last good state is kept');
    store.dispose();
  });

  test('setPollInterval restarts a running poll timer at the new interval', async () => {
    const root = freshRoot();
    const dir = makeRun(root, '20261127-030000-arith-7777', { status: 'finished', step: 1 });
    const store = new RunStore({ roots: [root], pollIntervalMs: 60_000 });
    await store.start();
    store.setPollInterval(100);
    assert.equal(store.getPollInterval(), 100);
    writeRunJson(dir, runInfo('20261127-030000-arith-7777', { status: 'finished', step: 2 }));
    const deadline = Date.now() + 5000;
    while (store.get('20261127-030000-arith-7777')?.info.step !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(store.get('20261127-030000-arith-7777')?.info.step, 2, 'polled at 100 ms, not 60 s');
    store.setPollInterval(5);
    assert.equal(store.getPollInterval(), 100, 'clamped to the setting\'s minimum');
    store.dispose();
  });

  test('picks up new runs, run.json changes and removed runs while polling', async () => {
    const root = freshRoot();
    const store = new RunStore({ roots: [root], pollIntervalMs: 20 });
    const seen: string[] = [];
    const next = () => new Promise<string[]>((resolve) => {
      const sub = store.onDidChange((e) => {
        sub.dispose();
        resolve(e.runIds);
      });
    });
    await store.start();
    assert.deepEqual(store.runs(), []);
    const added = next();
    const dir = makeRun(root, '20261127-040000-arith-3333', { status: 'finished', step: 1 });
    seen.push(...(await added));
    const changed = next();
    writeRunJson(dir, runInfo('20261127-040000-arith-3333', { status: 'finished', step: 10, updated_at: 'later' }));
    seen.push(...(await changed));
    assert.equal(store.get('20261127-040000-arith-3333')?.info.step, 10);
    const removed = next();
    rmSync(dir, { recursive: true });
    seen.push(...(await removed));
    assert.equal(store.get('20261127-040000-arith-3333'), undefined);
    assert.deepEqual(seen, Array(3).fill('20261127-040000-arith-3333'));
    store.dispose();
  });

  test('opens a run of 1,000 steps x 30 metrics with 1,000 rollout files without reading them', async () => {
    const root = freshRoot();
    const id = '20261127-050000-arith-4444';
    const dir = makeRun(root, id);
    const names = Array.from({ length: 30 }, (_, i) => `m/${i}`);
    const events: object[] = [];
    for (let s = 1; s <= 1000; s++) events.push(metricsEvent(s, Object.fromEntries(names.map((k, i) => [k, s * i]))));
    appendEvents(dir, events);
    mkdirSync(join(dir, 'rollouts'));
    // Folders in place of the rollout files: reading one would fail (EISDIR) and be reported.
    for (let s = 1; s <= 1000; s++) mkdirSync(join(dir, 'rollouts', `step-${String(s).padStart(6, '0')}.jsonl`));
    const store = new RunStore({ roots: [root] });
    const errors: string[] = [];
    store.onDidError((e) => errors.push(e.message));
    await store.refresh();
    assert.deepEqual(errors, []);
    assert.equal(store.rolloutSteps(id).length, 1000);
    assert.equal(store.metricSeries(id).size, 30);
    assert.equal(store.metricSeries(id).get('m/29')?.values[999], 29_000);
    store.dispose();
  });
});
