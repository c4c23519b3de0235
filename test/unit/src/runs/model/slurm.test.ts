// The Slurm launcher's pieces that need no cluster: which backend a config asks for, what a queued
// run accepts, a refused submission, and liveness of runs on other hosts. The submissions to a
// real Slurm are in test/cluster/ (`make test-cluster`).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { controlRefusal, sendControl } from '../../../../../src/runs/model/control';
import { LaunchError, launchBackendOf, launchRun } from '../../../../../src/runs/model/launcher';
import { readRunInfo } from '../../../../../src/run/model/runDir';
import { RunStore } from '../../../../../src/runs/model/runStore';
import { makeRun, runInfo, writeRunJson } from '../../../helpers/runFixtures';
import { REPO } from '../../../helpers/repo';

const PYTHON = process.env.PACS_PYTHON || join(REPO, '.venv', 'bin', 'python');
const base = mkdtempSync(join(tmpdir(), 'pacs-slurm-unit-'));
after(() => rmSync(base, { recursive: true, force: true }));
const noSlurm = join(base, 'empty-bin');
mkdirSync(noSlurm);

const pythonMissing = spawnSync(PYTHON, ['-c', 'import pacslab.launchers.slurm']).status !== 0 && `pacslab.launchers is not importable by ${PYTHON}`;

describe('the Slurm launcher, without a cluster', () => {
  test('launch.backend comes from the config, a --set winning', () => {
    assert.equal(launchBackendOf({}, []), 'local');
    assert.equal(launchBackendOf({ launch: { backend: 'slurm' } }, []), 'slurm');
    assert.equal(launchBackendOf({ launch: { backend: 'slurm' } }, ['launch.backend=local']), 'local');
    assert.equal(launchBackendOf({}, ['launch.backend=local', 'launch.backend=slurm']), 'slurm');
    assert.equal(launchBackendOf({ launch: 'slurm' }, []), 'local');
  });

  test('a queued run takes only stop, which cancels its job', () => {
    assert.equal(controlRefusal('queued', 'stop'), null);
    assert.match(controlRefusal('queued', 'pause') ?? '', /queued run: its Slurm job has not started/);
  });

  test('stop of a queued run that names no job is refused', async () => {
    const dir = makeRun(base, '20261127-030000-arith-aaa1', { status: 'queued' });
    await assert.rejects(sendControl(dir, 'stop'), /names no Slurm job to cancel/);
    assert.equal((await readRunInfo(dir)).status, 'queued');
  });

  test('no sbatch on PATH: the launch fails with the fix, the run is failed, nothing runs', { skip: pythonMissing }, async () => {
    const config = join(base, 'arith.pacs.yaml');
    copyFileSync(join(REPO, 'examples', 'arith.pacs.yaml'), config);
    const runsRoot = join(base, 'runs-nosbatch');
    await assert.rejects(
      launchRun({ configPath: config, runsRoot, python: PYTHON, sets: ['launch.backend=slurm'], gitMode: 'ignore', env: { PATH: noSlurm } }),
      (err: unknown) => err instanceof LaunchError && /`sbatch` is not on PATH/.test(err.message) && /launch\.backend: local/.test(err.message),
    );
    const store = new RunStore({ roots: [runsRoot] });
    await store.refresh();
    const [run] = store.runs();
    assert.equal(run.status, 'failed');
    assert.ok(existsSync(join(run.dir, 'job.sbatch')));
    store.dispose();
  });

  test('a live run on another host is lost once its heartbeat is stale, and not once it beats again', async () => {
    const root = join(base, 'root-hosts');
    const stale = new Date(Date.now() - 10 * 60_000).toISOString();
    const dir = makeRun(root, '20261127-030000-arith-bbb1', { status: 'running', host: 'compute-17', pid: 4242, updated_at: stale, heartbeat_s: 30 });
    makeRun(root, '20261127-030000-arith-bbb2', { status: 'finished', host: 'compute-17', updated_at: stale });
    const store = new RunStore({ roots: [root], lostAfterMs: 60_000 });
    await store.refresh();
    const lost = store.get('20261127-030000-arith-bbb1');
    assert.match(lost?.lost ?? '', /no heartbeat from compute-17 for \d+ s/);
    assert.equal(lost?.status, 'running', 'lost is not written: the run may come back');
    assert.equal(store.get('20261127-030000-arith-bbb2')?.lost, null);

    writeRunJson(dir, runInfo('20261127-030000-arith-bbb1', { status: 'running', host: 'compute-17', pid: 4242, updated_at: new Date().toISOString(), heartbeat_s: 30 }));
    const later = new Date(Date.now() + 2000);
    utimesSync(join(dir, 'run.json'), later, later);
    await store.refresh();
    assert.equal(store.get('20261127-030000-arith-bbb1')?.lost, null);
    store.dispose();
  });

  test('a long heartbeat interval raises the limit: three intervals', async () => {
    const root = join(base, 'root-interval');
    const updated = new Date(Date.now() - 5 * 60_000).toISOString();
    makeRun(root, '20261127-030000-arith-ccc1', { status: 'paused', host: 'compute-3', pid: 77, updated_at: updated, heartbeat_s: 600 });
    const store = new RunStore({ roots: [root], lostAfterMs: 60_000 });
    await store.refresh();
    assert.equal(store.get('20261127-030000-arith-ccc1')?.lost, null);
    store.dispose();
  });

  test('a queued run whose Slurm cannot be asked stays queued', async () => {
    const root = join(base, 'root-queued');
    const dir = makeRun(root, '20261127-030000-arith-ddd1', { status: 'queued', pid: null });
    writeRunJson(dir, runInfo('20261127-030000-arith-ddd1', { status: 'queued' }));
    writeFileSync(join(dir, 'launcher.json'), JSON.stringify({ backend: 'slurm', job_id: '123', pid: null, host: 'login-1' }));
    const path = process.env.PATH;
    process.env.PATH = noSlurm;
    try {
      const store = new RunStore({ roots: [root], slurmPollMs: 0 });
      await store.refresh();
      await store.refresh();
      assert.equal(store.get('20261127-030000-arith-ddd1')?.status, 'queued');
      store.dispose();
    } finally {
      process.env.PATH = path;
    }
  });
});
