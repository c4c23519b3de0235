// The Slurm launcher against a real single-node Slurm (test/cluster/run.sh starts it and sets
// SLURM_CONF): the embedded default submitted as a batch job, followed through the run store,
// controlled through control.jsonl, cancelled queued and running, resumed by resubmission, and
// refused submissions shown with sbatch's message and the key to fix; a sweep as one job array.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sendControl } from '../../src/runs/model/control';
import { LaunchError, launchRun, resumeRun } from '../../src/runs/model/launcher';
import { slurmJob } from '../../src/runs/model/slurm';
import { readLauncherInfo, readRunInfo } from '../../src/run/model/runDir';
import type { RunStatus } from '../../src/run/model/runFormat';
import { RunStore } from '../../src/runs/model/runStore';
import { readSweep, readTrials } from '../../src/sweeps/model/sweepFiles';
import type { SweepInfo } from '../../src/sweeps/model/sweepFormat';
import { controlSweep, startSweep } from '../../src/sweeps/model/sweepLaunch';

const REPO = resolve(__dirname, '..', '..');
const PYTHON = process.env.PACS_PYTHON || join(REPO, '.venv', 'bin', 'python');
// Small, quick steps of the embedded default (examples/arith.pacs.yaml), on the CPU.
const SMALL = ['launch.backend=slurm', 'device=cpu', 'eval_every=0', 'checkpoint_every=0', 'optim.warmup_steps=2',
  'eval.size=8', 'eval.samples=2', 'eval.k=[1,2]', 'rollout.prompts_per_step=4', 'rollout.n=4',
  'optim.mini_batch_prompts=4', 'optim.micro_batch_prompts=4', 'launch.heartbeat_s=2'];
const HOLD = 'launch.slurm.extra_sbatch_args=[--hold]';

const skip = process.env.SLURM_CONF ? false : 'no cluster: run through `make test-cluster` (test/cluster/run.sh sets SLURM_CONF)';
const work = mkdtempSync(join(tmpdir(), 'pacs-slurm-test-'));
const runsRoot = join(work, 'runs');
const config = join(work, 'arith.pacs.yaml');
let store: RunStore;

before(async () => {
  copyFileSync(join(REPO, 'examples', 'arith.pacs.yaml'), config);
  store = new RunStore({ roots: [runsRoot], pollIntervalMs: 200, slurmPollMs: 200 });
  await store.start();
});
after(() => {
  store.dispose();
  rmSync(work, { recursive: true, force: true });
});

function launch(...sets: string[]) {
  return launchRun({ configPath: config, runsRoot, python: PYTHON, sets: [...SMALL, ...sets], gitMode: 'ignore', workspaceRoot: work });
}

/** Waits for the run store (which also asks Slurm) to show the run in `status`. */
async function storeSays(runId: string, status: RunStatus, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await store.refresh();
    const run = store.get(runId);
    if (run?.status === status) return;
    if (Date.now() > deadline) {
      const log = run && existsSync(join(run.dir, 'trainer.log')) ? readFileSync(join(run.dir, 'trainer.log'), 'utf8').slice(-3000) : '';
      assert.fail(`run ${runId} is ${run?.status ?? 'not found'}, not ${status}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function jobState(jobId: string): Promise<string> {
  const job = await slurmJob(jobId);
  return job && job !== 'unknown' ? job.state : String(job);
}

function slurm(...args: string[]): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8' });
}

/** Whether the cluster keeps accounts (slurmdbd), so that sbatch checks the account. */
function accounting(): boolean {
  try {
    return /accounting_storage\/slurmdbd/.test(slurm('scontrol', 'show', 'config'));
  } catch {
    return false; // no cluster: the suite is skipped
  }
}

describe('the Slurm launcher on a real cluster', { skip }, () => {
  test('the embedded default goes queued → running → paused → running → finished', async () => {
    const launched = await launch('total_steps=60', HOLD);
    assert.ok(launched.jobId, 'a job id');
    assert.equal(launched.pid, null);
    const script = readFileSync(join(launched.runDir, 'job.sbatch'), 'utf8');
    assert.match(script, /^#SBATCH --output=.*trainer\.log$/m);
    assert.match(script, /^exec .* -m pacslab train --here /m);
    const launcher = await readLauncherInfo(launched.runDir);
    assert.equal(launcher?.backend, 'slurm');
    assert.equal(launcher?.job_id, launched.jobId);
    assert.equal(launcher?.config_abs_path, config);
    assert.equal((await readRunInfo(launched.runDir)).slurm_job_id, launched.jobId);
    await storeSays(launched.runId, 'queued');
    assert.equal(await jobState(launched.jobId), 'PENDING');

    slurm('scontrol', 'release', launched.jobId);
    await storeSays(launched.runId, 'running');
    const paused = await sendControl(launched.runDir, 'pause', { timeoutMs: 120_000 });
    assert.equal(paused.result, 'ok');
    await storeSays(launched.runId, 'paused');
    const resumed = await sendControl(launched.runDir, 'resume', { timeoutMs: 120_000 });
    assert.equal(resumed.result, 'ok');
    await storeSays(launched.runId, 'finished');
    const info = await readRunInfo(launched.runDir);
    assert.equal(info.step, 60);
    assert.equal(typeof info.heartbeat_s, 'number');
  });

  test('a 2-process engine: trl job runs its ranks through srun: queued → running → finished', async () => {
    const launched = await launch('engine=trl', 'launch.num_processes=2', 'total_steps=20', HOLD);
    const script = readFileSync(join(launched.runDir, 'job.sbatch'), 'utf8');
    assert.match(script, /^export PACS_MAIN_HOST="\$\(scontrol show hostnames "\$SLURM_JOB_NODELIST" \| head -n 1\)"$/m);
    assert.match(script, /^exec srun --kill-on-bad-exit=1 --nodes=1 --ntasks-per-node=1 bash -c .* -m pacslab train --here .* --set launch\.num_machines=1$/m);
    await storeSays(launched.runId, 'queued');
    slurm('scontrol', 'release', String(launched.jobId));
    await storeSays(launched.runId, 'running');
    await storeSays(launched.runId, 'finished');
    const info = await readRunInfo(launched.runDir);
    assert.equal(info.engine, 'trl');
    assert.equal(info.world_size, 2);
    assert.equal(info.step, 20);
    assert.equal(readdirSync(join(launched.runDir, 'rollouts')).filter((f) => f.endsWith('.parquet')).length, 20);
    assert.ok(existsSync(join(launched.runDir, 'checkpoints', 'step-000020')), 'the final checkpoint');
  });

  test('Stop on a queued run cancels its job; nothing trains', async () => {
    const launched = await launch('total_steps=60', HOLD);
    await storeSays(launched.runId, 'queued');
    const result = await sendControl(launched.runDir, 'stop');
    assert.equal(result.result, 'ok');
    assert.equal((await readRunInfo(launched.runDir)).status, 'stopped');
    assert.match(await jobState(String(launched.jobId)), /^CANCELLED/);
    const events = existsSync(join(launched.runDir, 'events.jsonl')) ? readFileSync(join(launched.runDir, 'events.jsonl'), 'utf8') : '';
    assert.doesNotMatch(events, /"type": ?"run_started"/, 'the trainer never ran');
  });

  test('scancel of a running job: the trainer saves a checkpoint and the run is stopped; Resume resubmits', async () => {
    const launched = await launch('total_steps=100000');
    await storeSays(launched.runId, 'running');
    slurm('scancel', String(launched.jobId));
    await storeSays(launched.runId, 'stopped');
    const events = readFileSync(join(launched.runDir, 'events.jsonl'), 'utf8');
    assert.match(events, /"reason": "received SIGTERM"/);
    assert.match(events, /"type": "checkpoint"/);

    const again = await resumeRun(launched.runDir, PYTHON);
    assert.ok(again.jobId && again.jobId !== launched.jobId, 'a new job');
    await storeSays(launched.runId, 'running');
    // A second resume while the job runs would train twice: refused.
    await assert.rejects(resumeRun(launched.runDir, PYTHON), LaunchError);
    await sendControl(launched.runDir, 'suspend', { timeoutMs: 120_000 });
    await storeSays(launched.runId, 'suspended');
  });

  test('a job whose trainer is killed is marked crashed with Slurm\'s state', async () => {
    const launched = await launch('total_steps=100000');
    await storeSays(launched.runId, 'running');
    // As the kernel's OOM killer would: SIGKILL leaves the trainer no chance to record its end,
    // and only Slurm knows what became of the job.
    process.kill(Number((await readRunInfo(launched.runDir)).pid), 'SIGKILL');
    await storeSays(launched.runId, 'crashed');
    const info = await readRunInfo(launched.runDir);
    assert.match(info.error?.message ?? '', new RegExp(`Slurm job ${launched.jobId} ended [A-Z_]+`));
  });

  test('a partition or GPU request Slurm refuses: sbatch\'s message, the key to fix, nothing queued', async () => {
    const before = slurm('squeue', '-h', '-o', '%i').trim();
    await assert.rejects(launch('launch.slurm.partition=no-such-partition'), (err: unknown) => {
      assert.ok(err instanceof LaunchError);
      assert.match(err.message, /sbatch: error: invalid partition specified: no-such-partition/);
      assert.match(err.message, /launch\.slurm\.partition/);
      return true;
    });
    await assert.rejects(launch('launch.slurm.gpus_per_node=8'), (err: unknown) => {
      assert.ok(err instanceof LaunchError);
      assert.match(err.message, /sbatch: error: .*(gres|GRES)/);
      assert.match(err.message, /launch\.slurm\.gpus_per_node/);
      return true;
    });
    assert.equal(slurm('squeue', '-h', '-o', '%i').trim(), before, 'nothing was submitted');
    await store.refresh();
    const failed = store.runs().filter((r) => r.status === 'failed');
    assert.equal(failed.length, 2);
    assert.ok(failed.every((r) => existsSync(join(r.dir, 'job.sbatch'))), 'the refused script is kept for reading');
    assert.equal(readdirSync(runsRoot).length, store.runs().length);
  });

  test('an account Slurm does not know: sbatch\'s message and launch.slurm.account, nothing queued', { skip: !accounting() && 'the cluster has no accounting (make test-cluster starts slurmdbd and a MariaDB unless PACS_SLURM_ACCOUNTING=0)' }, async () => {
    const before = slurm('squeue', '-h', '-o', '%i').trim();
    await assert.rejects(launch('launch.slurm.account=nosuch'), (err: unknown) => {
      assert.ok(err instanceof LaunchError);
      assert.match(err.message, /sbatch: error: Batch job submission failed: Invalid account/);
      assert.match(err.message, /Fix: change launch\.slurm\.account/);
      return true;
    });
    assert.equal(slurm('squeue', '-h', '-o', '%i').trim(), before, 'nothing was submitted');
  });
});

// Sweeps with `backend: slurm` (docs/sweeps.md): one job array, `--array=0-N%parallel`, array task
// i running trial i as an ordinary run; Stop on the sweep cancels the array.
describe('a sweep as one Slurm job array', { skip }, () => {
  const sweepRuns = join(work, 'sweep-runs');

  function sweepConfig(name: string, totalSteps: number): string {
    const path = join(work, `${name}.pacs.yaml`);
    writeFileSync(path, [
      `name: ${name}`, 'device: cpu', `total_steps: ${totalSteps}`, 'eval_every: 0', 'checkpoint_every: 0',
      'eval: {size: 4, samples: 2, k: [1, 2]}', 'rollout: {prompts_per_step: 4, n: 4}',
      'optim: {mini_batch_prompts: 4, micro_batch_prompts: 4}', 'launch: {heartbeat_s: 2}',
      'sweep:', '  parameters:', '    optim.lr: [0.0001, 0.0002, 0.0003, 0.0004]', '  backend: slurm', '  parallel: 2', '',
    ].join('\n'));
    return path;
  }

  async function sweepSays(dir: string, wanted: (s: SweepInfo) => boolean, what: string, timeoutMs = 300_000): Promise<SweepInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await readSweep(dir);
      if (s && wanted(s)) return s;
      if (Date.now() > deadline) assert.fail(`sweep ${dir} never became ${what}: ${JSON.stringify(s)}\n${readFileSync(join(dir, 'task-0.log'), 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  test('a 4-trial sweep runs as one job array, two tasks at once, each trial an ordinary run', async () => {
    const started = await startSweep({ configPath: sweepConfig('sweep4', 6), runsRoot: sweepRuns, python: PYTHON, gitMode: 'ignore', workspaceRoot: work });
    assert.match(started.output, /submitted Slurm job array (\d+) \(4 tasks, 2 at once\)/);
    assert.match(readFileSync(join(started.sweepDir, 'job.sbatch'), 'utf8'), /^#SBATCH --array=0-3%2$/m);
    const jobId = (await readSweep(started.sweepDir))?.slurmJobId;
    assert.ok(jobId);
    const done = await sweepSays(started.sweepDir, (s) => s.status === 'finished', 'finished');
    assert.deepEqual(done.counts, { running: 0, complete: 4, pruned: 0, failed: 0, total: 4 });
    assert.ok(done.best && [0.0001, 0.0002, 0.0003, 0.0004].includes(done.best.params['optim.lr'] as number));
    const trials = await readTrials(started.sweepDir);
    assert.deepEqual(trials.map((t) => t.params['optim.lr']).sort(), [0.0001, 0.0002, 0.0003, 0.0004]);
    const runs = readdirSync(sweepRuns);
    assert.equal(runs.length, 4);
    for (const id of runs) {
      const info = await readRunInfo(join(sweepRuns, id));
      assert.equal(info.status, 'finished');
      assert.equal((info.sweep as { id: string }).id, started.sweepId);
    }
    for (let task = 0; task < 4; task++) assert.ok(existsSync(join(started.sweepDir, `task-${task}.log`)), `array task ${task} ran`);
    if (accounting()) {
      const tasks = slurm('sacct', '-n', '-X', '-j', jobId, '-o', 'JobID%30').split('\n').map((l) => l.trim()).filter(Boolean);
      assert.deepEqual(tasks.sort(), [0, 1, 2, 3].map((i) => `${jobId}_${i}`), 'one job, four array tasks');
    }
  });

  test('Stop on the sweep cancels its job array; its running trials stop with a checkpoint', async () => {
    const started = await startSweep({ configPath: sweepConfig('sweepstop', 100000), runsRoot: join(work, 'stop-runs'), python: PYTHON, gitMode: 'ignore', workspaceRoot: work });
    const jobId = (await readSweep(started.sweepDir))!.slurmJobId!;
    await sweepSays(started.sweepDir, (s) => (s.counts?.running ?? 0) >= 1, 'running a trial');
    const running = async () => {
      for (const t of await readTrials(started.sweepDir)) {
        for (const r of t.runs) if (r.runId && (await readRunInfo(join(work, 'stop-runs', r.runId)).catch(() => null))?.status === 'running') return r.runId;
      }
      return null;
    };
    let runId: string | null = null;
    for (let i = 0; i < 600 && !runId; i++) {
      runId = await running();
      if (!runId) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(runId, 'a trial run is training');
    assert.match(await controlSweep(PYTHON, started.sweepDir, 'stop'), /stop sent to sweep/);
    for (let i = 0; i < 240 && slurm('squeue', '-h', '-r', '-j', jobId, '-o', '%i').trim(); i++) await new Promise((r) => setTimeout(r, 500));
    assert.equal(slurm('squeue', '-h', '-r', '-j', jobId, '-o', '%i').trim(), '', 'no task of the array is left');
    assert.equal((await readSweep(started.sweepDir))?.status, 'stopped');
    const info = await readRunInfo(join(work, 'stop-runs', runId));
    assert.equal(info.status, 'stopped');
    assert.ok(existsSync(join(work, 'stop-runs', runId, 'checkpoints', 'latest')), 'the stopped trial saved a checkpoint');
  });
});
