import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RESPONSE_CHUNK_CHARS, SAMPLE_CHUNK } from '../../../../../webview/rollouts/contract';
import { RunStore } from '../../../../../src/runs/model/runStore';
import { shownStep } from '../../../../../src/run/model/runModel';
import { dashboardState, loadCritic } from '../../../../../src/dashboard/model/dashboardState';
import { RunConfigCache } from '../../../../../src/dashboard/model/runConfig';
import { responsesMessages, rolloutsState, sampleMessages, type ResponsesStore } from '../../../../../src/rollouts/model/rolloutsState';
import { RUN_A, RUN_B, writeRun } from '../../../../webview/fixtures';

describe('host state from a runs folder', () => {
  let root: string;
  let store: RunStore;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pacs-host-state-'));
    writeRun(root, RUN_A);
    writeRun(root, RUN_B);
    store = new RunStore({ roots: [root], detectCrashes: false });
    await store.refresh();
  });
  after(() => {
    store.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it('builds the dashboard of two runs, naming a run that is gone', async () => {
    const configs = new RunConfigCache();
    const configMap = new Map([
      [RUN_A.id, await configs.read(join(root, RUN_A.id))],
      [RUN_B.id, await configs.read(join(root, RUN_B.id))],
    ]);
    const steps = store.rolloutSteps(RUN_A.id);
    assert.equal(steps.length, RUN_A.steps / RUN_A.rolloutsEvery);
    const critic = await loadCritic(store, RUN_A.id, shownStep(steps, null) as number);
    const state = dashboardState(store, [RUN_A.id, RUN_B.id, 'gone'], RUN_A.id, configMap, critic);
    assert.deepEqual(state.runs.map((r) => [r.id, r.commit]), [
      [RUN_A.id, '3f2a9b8'],
      [RUN_B.id, '9c1d2e3*'],
    ]);
    assert.deepEqual(state.missing, ['gone']);
    const reward = state.families.find((f) => f.id === 'reward')?.series.find((s) => s.metric === 'reward/mean' && s.runId === RUN_B.id);
    assert.equal(reward?.rawCount, RUN_B.steps);
    assert.equal(state.critic?.step, RUN_A.steps);
    assert.equal(state.critic?.badLines, 1);
    assert.ok(state.configDiff.rows.some((r) => r.key === 'optim.lr'));
    assert.ok(!state.configDiff.rows.some((r) => r.key === 'pacs.beta'));
  });

  it('drops a critic view computed for another run', async () => {
    const critic = await loadCritic(store, RUN_B.id, 20);
    const state = dashboardState(store, [RUN_A.id], RUN_A.id, new Map(), critic);
    assert.equal(state.critic, null);
  });

  it('reports an unreadable step as an error instead of a critic view', async () => {
    const critic = await loadCritic(store, RUN_A.id, 7);
    assert.equal(critic.view, null);
    assert.match(critic.error ?? '', /Cannot read the rollouts of step 7/);
  });

  it('sends a step as whole state then chunks that cover every sample once', async () => {
    const { samples, badLines } = await store.loadRollouts(RUN_A.id, 300);
    const many = Array.from({ length: 20 }, () => samples).flat();
    const state = rolloutsState(store, RUN_A.id, 300, 4, { runId: RUN_A.id, step: 300, samples: many, badLines }, null, 'view');
    assert.equal(state.total, many.length);
    assert.equal(state.run?.name, 'arith');
    const chunks = [...sampleMessages(4, many)];
    assert.ok(chunks.length > 1);
    assert.equal(chunks.length, Math.ceil(many.length / SAMPLE_CHUNK));
    let next = 0;
    for (const chunk of chunks) {
      assert.equal(chunk.type, 'samples');
      if (chunk.type !== 'samples') continue;
      assert.equal(chunk.offset, next);
      next += chunk.samples.length;
    }
    assert.equal(next, many.length);
    const gone = rolloutsState(store, 'gone', null, 5, null, null, 'panel');
    assert.match(gone.error ?? '', /no longer in the runs folder/);
  });

  it('sends whole responses in chunks of a few MB that cover every sample once, or says why not', async () => {
    const samples = (await store.loadRollouts(RUN_A.id, 300)).samples.slice(0, 7);
    const whole = samples.map((_, i) => 'x'.repeat(RESPONSE_CHUNK_CHARS / 3 + i));
    const fake = (responses: string[] | Error): ResponsesStore => ({
      loadRollouts: async () => ({
        samples, badLines: 0, tokenDetails: async () => null, sample: async () => null,
        responses: async () => { if (responses instanceof Error) throw responses; return responses; },
      }),
    });
    const loaded = { runId: RUN_A.id, step: 300, samples, badLines: 0 };
    const collect = async (s: ResponsesStore) => { const out = []; for await (const m of responsesMessages(s, loaded, 7)) out.push(m); return out; };
    const chunks = await collect(fake(whole));
    assert.equal(chunks.length, Math.ceil(samples.length / 3));
    assert.deepEqual(chunks.flatMap((m) => (m.type === 'responses' ? m.responses : [])), whole);
    assert.deepEqual(chunks.map((m) => m.type === 'responses' && m.offset), chunks.map((_, i) => i * 3));
    const [failed] = await collect(fake(new Error('boom')));
    assert.deepEqual(failed, { type: 'responses', loadId: 7, offset: 0, responses: [], error: 'Cannot read the whole responses of step 300: boom' });
    const [changed] = await collect(fake(whole.slice(1)));
    assert.match(changed.type === 'responses' ? changed.error ?? '' : '', /changed since it was opened/);
  });
});

describe('run config for the diff table', () => {
  it('reads config.yaml, else the run_started event, else gives null', async () => {
    const { writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'pacs-config-'));
    try {
      const configs = new RunConfigCache();
      assert.equal(await configs.read(dir), null);
      writeFileSync(
        join(dir, 'events.jsonl'),
        `${JSON.stringify({ t: 1, type: 'run_started', config: { optim: { lr: 0.5 } }, total_steps: 3 })}\n{"t": 2, "type": "metr`,
      );
      assert.deepEqual(await configs.read(dir), { optim: { lr: 0.5 } });
      writeFileSync(join(dir, 'config.yaml'), 'optim:\n  lr: 0.25\n');
      assert.deepEqual(await configs.read(dir), { optim: { lr: 0.25 } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the run_started config once, however the events file grows', async () => {
    const { appendFileSync, utimesSync, writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'pacs-config-'));
    try {
      const configs = new RunConfigCache();
      const events = join(dir, 'events.jsonl');
      writeFileSync(events, `${JSON.stringify({ t: 1, type: 'run_started', config: { seed: 1 }, total_steps: 3 })}\n`);
      assert.deepEqual(await configs.read(dir), { seed: 1 });
      writeFileSync(events, `${JSON.stringify({ t: 1, type: 'run_started', config: { seed: 2 }, total_steps: 3 })}\n`);
      appendFileSync(events, `${JSON.stringify({ t: 2, type: 'metrics', step: 1, values: {} })}\n`);
      utimesSync(events, new Date(), new Date(Date.now() + 5000));
      assert.deepEqual(await configs.read(dir), { seed: 1 }, 'the first answer is kept, not re-read');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
