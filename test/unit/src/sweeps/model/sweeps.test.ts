// The sweep folder as the extension reads it (untrusted: bad fields are dropped), what the views say
// about a sweep, and the dashboard's sweep view of a sweep's runs.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { RunInfo } from '../../../../../src/run/model/runFormat';
import { readSweep, readSweeps } from '../../../../../src/sweeps/model/sweepFiles';
import { parseSweepInfo, parseTrials, runSweepTag, sweepsRootOf } from '../../../../../src/sweeps/model/sweepFormat';
import { diagnoseConfig, loadSchema } from '../../../../../src/config/model/configDiagnostics';
import { declaresSweep } from '../../../../../src/sweeps/model/sweepLaunch';
import { bestText, pcpData, progressText, shownSweepStatus } from '../../../../../src/sweeps/model/sweepModel';
import { sweepView } from '../../../../../src/sweeps/model/sweepView';

const SWEEP = {
  format: 1, id: '20261207-120000-grid-ab12', name: 'grid', status: 'finished', method: 'grid',
  metric: { name: 'eval/accuracy', goal: 'maximize', at: 'last' }, parameters: ['optim.lr', 'pacs.adv_estimator'],
  seeds: [0, 1], n_trials: 3, n_runs: 6, parallel: 2, prune: 'median', backend: 'local',
  counts: { running: 0, complete: 1, pruned: 1, failed: 1, total: 3 },
  best: { trial: 0, value: 0.5, params: { 'optim.lr': 0.001, 'pacs.adv_estimator': 'rloo' }, runs: ['r0', 'r1'] },
  controller: { pid: 2 ** 22 + 17, pid_start_time: '1', host: 'elsewhere-host' },
};
const TRIALS = {
  trials: [
    { number: 0, params: { 'optim.lr': 0.001, 'pacs.adv_estimator': 'rloo' }, state: 'complete', value: 0.5, pruned: null, error: null, runs: [{ seed: 0, run_id: 'r0' }, { seed: 1, run_id: 'r1' }] },
    { number: 1, params: { 'optim.lr': 0.1, 'pacs.adv_estimator': 'grpo' }, state: 'pruned', value: 0.1, pruned: { step: 2, reason: 'below the median' }, error: null, runs: [] },
    { number: 2, params: { 'optim.lr': 0.01, 'pacs.adv_estimator': 'rloo' }, state: 'failed', value: null, pruned: null, error: 'run r4 ended crashed', runs: [] },
    { number: 'x', state: 'complete' },
    { number: 3, state: 'weird' },
  ],
};

describe('sweeps', () => {
  const root = mkdtempSync(join(tmpdir(), 'pacs-sweeps-'));
  const runsRoot = join(root, '.pacs', 'runs');
  const sweepDir = join(sweepsRootOf(runsRoot), SWEEP.id);
  mkdirSync(sweepDir, { recursive: true });
  writeFileSync(join(sweepDir, 'sweep.json'), JSON.stringify(SWEEP));
  writeFileSync(join(sweepDir, 'trials.json'), JSON.stringify(TRIALS));
  writeFileSync(join(sweepDir, 'importance.json'), JSON.stringify({ importance: { 'optim.lr': 0.8, 'pacs.adv_estimator': 0.2 } }));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('reads sweep.json and trials.json, dropping what is malformed', async () => {
    const trials = parseTrials(TRIALS);
    assert.deepEqual(trials.map((t) => [t.number, t.state]), [[0, 'complete'], [1, 'pruned'], [2, 'failed']]);
    assert.equal(parseSweepInfo({ id: 7 }, root), null);
    const odd = parseSweepInfo({ id: 's', status: 'exploded', counts: 'many', best: { trial: 'one' }, metric: { goal: 'up' } }, root);
    assert.equal(odd?.status, 'running');
    assert.equal(odd?.counts, null);
    assert.equal(odd?.best, null);
    assert.equal(odd?.metric.goal, 'maximize');
    const sweeps = await readSweeps(sweepsRootOf(runsRoot));
    assert.deepEqual(sweeps.map((s) => s.id), [SWEEP.id]);
  });

  it('says progress and the best trial, and a live local sweep without its controller is crashed', async () => {
    const sweep = (await readSweep(sweepDir))!;
    assert.equal(progressText(sweep), '1 done · 0 running · 1 pruned · 1 failed of 3');
    assert.equal(bestText(sweep), 'best: trial 0, eval/accuracy 0.5 (optim.lr=0.001, pacs.adv_estimator=rloo)');
    assert.equal(shownSweepStatus({ ...sweep, status: 'running' }, false), 'crashed');
    assert.equal(shownSweepStatus({ ...sweep, status: 'running' }, true), 'running');
    assert.equal(shownSweepStatus({ ...sweep, status: 'running', backend: 'slurm' }, false), 'running');
    writeFileSync(join(sweepDir, 'sweep.json'), JSON.stringify({ ...SWEEP, status: 'running', controller: { pid: 2 ** 22 + 17, pid_start_time: '1', host: null } }));
    assert.equal((await readSweep(sweepDir))!.status, 'crashed');
    writeFileSync(join(sweepDir, 'sweep.json'), JSON.stringify(SWEEP));
  });

  it('lays trials out as parallel coordinates: numbers as they are, text as categories, the metric last', () => {
    const pcp = pcpData(['optim.lr', 'pacs.adv_estimator'], 'eval/accuracy', parseTrials(TRIALS));
    assert.deepEqual(pcp.axes, ['optim.lr', 'pacs.adv_estimator', 'eval/accuracy']);
    assert.deepEqual(pcp.categories, [null, ['rloo', 'grpo'], null]);
    assert.deepEqual(pcp.rows.map((r) => r.values), [[0.001, 0, 0.5], [0.1, 1, 0.1]]); // the failed trial has no value
  });

  it('tags runs by the sweep field of run.json', () => {
    const info = { sweep: { id: SWEEP.id, trial: 1, seed: 0, params: { 'optim.lr': 0.1, bad: { x: 1 } }, trial_state: 'pruned', pruned: { step: 2, reason: 'r' } } } as unknown as RunInfo;
    assert.deepEqual(runSweepTag(info), { id: SWEEP.id, trial: 1, seed: 0, params: { 'optim.lr': 0.1 }, trialState: 'pruned', pruned: { step: 2, reason: 'r' } });
    assert.equal(runSweepTag({ sweep: 'nope' } as unknown as RunInfo), null);
  });

  it('gives the dashboard a sweep view only when all its runs are of one sweep', async () => {
    const run = (id: string | null) => ({ root: runsRoot, info: { sweep: id ? { id, trial: 0, seed: 0, params: {} } : undefined } as unknown as RunInfo });
    const view = await sweepView([run(SWEEP.id), run(SWEEP.id)]);
    assert.equal(view?.bestTrial, 0);
    assert.deepEqual(view?.importance.map((r) => r.param), ['optim.lr', 'pacs.adv_estimator']);
    assert.deepEqual(view?.pruned, [{ trial: 1, step: 2, reason: 'below the median' }]);
    assert.deepEqual(view?.failed, [{ trial: 2, error: 'run r4 ended crashed' }]);
    assert.equal(await sweepView([run(SWEEP.id), run(null)]), null);
    assert.equal(await sweepView([run('another-sweep')]), null);
  });

  it('finds configs that declare a sweep', () => {
    assert.ok(declaresSweep('/a/x.sweep.yaml', 'base: a.pacs.yaml'));
    assert.ok(declaresSweep('/a/x.pacs.yaml', 'total_steps: 3\nsweep:\n  seeds: [0, 1]\n'));
    assert.ok(!declaresSweep('/a/x.pacs.yaml', 'total_steps: 3\n# sweep: later\n'));
  });

  it('the editor takes a sweep section as part of the config (the committed schema)', async () => {
    const schema = await loadSchema(join(__dirname, '..', '..', '..', '..', '..', 'schemas', 'pacs-config.schema.json'));
    const text = 'total_steps: 4\nsweep:\n  parameters:\n    optim.lr: [0.0004, 0.001]\n    pacs.beta: {low: 0.1, high: 1, log: true}\n  seeds: [0, 1]\n  set: {eval_every: 2}\n';
    assert.deepEqual(diagnoseConfig(text, schema), []);
    assert.match(diagnoseConfig('sweep:\n  paralel: 2\n', schema)[0]?.message ?? '', /paralel/);
  });
});
