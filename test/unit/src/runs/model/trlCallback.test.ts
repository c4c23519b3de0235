// A plain TRL GRPOTrainer script with PacsLabCallback (no pacslab config) writes a run the core opens.
// Needs a Python with pacslab and trl: $PACS_PYTHON, else .venv/bin/python.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { RunStore } from '../../../../../src/runs/model/runStore';
import { REPO } from '../../../helpers/repo';
import { parseLedger } from '../../../../../src/diagnostics/model/promptLedger';

const PYTHON = process.env.PACS_PYTHON || join(REPO, '.venv', 'bin', 'python');
const ENV = { ...process.env, PYTHONPATH: join(REPO, 'trainer'), OMP_NUM_THREADS: '1', HF_HUB_OFFLINE: '1' };

function trlMissing(): string | false {
  const probe = spawnSync(PYTHON, ['-c', 'import importlib.util as u, sys; sys.exit(None in (u.find_spec("trl"), u.find_spec("pacslab.integrations.trl")))'], { env: ENV });
  if (probe.error) return `no Python at ${PYTHON} (set PACS_PYTHON)`;
  return probe.status === 0 ? false : `trl or pacslab is not installed for ${PYTHON}`;
}
const skip = trlMissing();

const root = mkdtempSync(join(tmpdir(), 'pacs-trl-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('PacsLabCallback in a plain TRL script', { skip }, () => {
  test('the run opens with status, metrics, completions with rewards and a checkpoint', async () => {
    const id = '20261201-120000-plain-trl-abcd';
    mkdirSync(join(root, id));
    const script = join(REPO, 'test', 'unit', 'fixtures', 'plain_trl_grpo.py');
    const result = spawnSync(PYTHON, [script, join(root, id)], { env: ENV, encoding: 'utf8', timeout: 240_000 });
    assert.equal(result.status, 0, result.stderr.slice(-3000));

    const store = new RunStore({ roots: [root], pollIntervalMs: 60_000 });
    await store.refresh();
    const run = store.get(id);
    assert.ok(run, 'the run is listed');
    assert.equal(run.status, 'finished');
    assert.deepEqual(store.metricSeries(id).get('reward/mean')?.steps, [1, 2]);
    assert.ok(store.metricSeries(id).has('grpo/loss'), "TRL's loss under the algorithm's loss metric");
    assert.deepEqual(run.checkpoints.map((c) => c.path), ['checkpoints/step-000002']);
    assert.deepEqual(store.rolloutSteps(id), [1, 2]);
    const { samples, badLines } = await store.loadRollouts(id, 2);
    assert.equal(badLines, 0);
    assert.equal(samples.length, 4);
    for (const sample of samples) {
      assert.ok(sample.reward === 0 || sample.reward === 1);
      assert.equal(typeof sample.response, 'string');
      assert.equal(sample.prompt.endsWith('+1='), true);
    }
    // the prompt ledger of every step: the prompt text is the id, its correct samples those with a positive reward
    const ledger = parseLedger(readFileSync(join(root, id, 'ledger.jsonl'), 'utf8'));
    assert.deepEqual(ledger.bad, []);
    assert.deepEqual([...new Set(ledger.rows.map((r) => r.step))], [1, 2]);
    const groups = new Map<number, { id: string; correct: number; n: number }>();
    for (const s of samples) {
      const g = groups.get(s.group) ?? { id: s.prompt, correct: 0, n: 0 };
      groups.set(s.group, { ...g, correct: g.correct + (s.reward > 0 ? 1 : 0), n: g.n + 1 });
    }
    assert.deepEqual(ledger.rows.filter((r) => r.step === 2).map(({ id: p, correct, n }) => ({ id: p, correct, n })), [...groups.values()]);
    assert.ok(store.metricSeries(id).has('reward/all_correct_frac') && store.metricSeries(id).has('reward/all_wrong_frac'));
    store.dispose();
  });
});
