// Launch and every control command against the real trainer (python -m pacslab) with a tiny
// random model. Needs a Python with pacslab: $PACS_PYTHON, else .venv/bin/python.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ControlError, sendControl } from '../../../../../src/runs/model/control';
import { isRecord } from '../../../../../src/run/model/events';
import { launchRun, resumeRun } from '../../../../../src/runs/model/launcher';
import { isProcessAlive } from '../../../../../src/runs/model/process';
import { readRunInfo } from '../../../../../src/run/model/runDir';
import type { RunStatus } from '../../../../../src/run/model/runFormat';
import { REPO } from '../../../helpers/repo';

const PYTHON = process.env.PACS_PYTHON || join(REPO, '.venv', 'bin', 'python');
// The CLI runs from its TypeScript source, from a project folder outside the repository.
const CLI = [process.execPath, '--import', pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, join(REPO, 'src', 'cli.ts')];
/** Runs the CLI without blocking the event loop (the other tests of the suite keep going). */
function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(CLI[0], [...CLI.slice(1), ...args], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

function trainerMissing(): string | false {
  // Finding the modules is enough to decide; importing torch here would cost seconds.
  const probe = spawnSync(PYTHON, ['-c', 'import importlib.util as u, sys; sys.exit(None in (u.find_spec("pacslab.engines.native.loop"), u.find_spec("pacslab.demo_model")))'], { encoding: 'utf8' });
  if (probe.error) return `no Python at ${PYTHON} (set PACS_PYTHON)`;
  if (probe.status !== 0) return `pacslab (with pacslab.engines.native.loop and pacslab.demo_model) is not installed for ${PYTHON}: ${probe.stderr.trim().split('\n').pop() ?? ''}`;
  return false;
}
const skip = trainerMissing();

const work = mkdtempSync(join(tmpdir(), 'pacs-trainer-'));
after(() => rmSync(work, { recursive: true, force: true }));

const MODEL_SCRIPT = `
import sys
from pacslab.demo_model import build_model, build_tokenizer
tok = build_tokenizer()
model = build_model(tok, seed=0, layers=1, hidden=32, heads=2)
model.save_pretrained(sys.argv[1]); tok.save_pretrained(sys.argv[1])
`;

function tinyConfig(name: string, totalSteps: number): string {
  return `name: ${name}
seed: 3
device: cpu
total_steps: ${totalSteps}
eval_every: 0
checkpoint_every: 0
model: {path: model}
task: {type: arith, arith: {digits: 1, train_size: 60, eval_size: 12, seed: 5}}
rollout: {prompts_per_step: 4, n: 4, max_new_tokens: 4}
optim: {lr: 0.01, mini_batch_prompts: 2, micro_batch_prompts: 1}
eval: {size: 6, samples: 2, k: [1, 2], batch_prompts: 4}
`;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, runDir?: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) {
      const log = runDir && existsSync(join(runDir, 'trainer.log')) ? readFileSync(join(runDir, 'trainer.log'), 'utf8').slice(-3000) : '';
      assert.fail(`timed out waiting for ${what}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function statusIs(runDir: string, status: RunStatus): Promise<void> {
  await waitFor(`status ${status}`, async () => (await readRunInfo(runDir)).status === status, runDir);
}

function events(runDir: string): Array<Record<string, unknown>> {
  return readFileSync(join(runDir, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as unknown)
    .filter(isRecord);
}

// The tests of this suite run at the same time: each waits on its own trainer most of the time.
describe('the real trainer', { skip, concurrency: true }, () => {
  const project = join(work, 'project');
  before(() => {
    mkdirSync(project);
    execFileSync(PYTHON, ['-c', MODEL_SCRIPT, join(project, 'model')]);
    writeFileSync(join(project, 'long.pacs.yaml'), tinyConfig('long', 100_000));
    writeFileSync(join(project, 'short.pacs.yaml'), tinyConfig('short', 3));
  });

  test('launch, pause, resume, checkpoint, suspend, resume the run, stop', async () => {
    const runsRoot = join(project, '.pacs', 'runs');
    const launched = await launchRun({ configPath: join(project, 'long.pacs.yaml'), runsRoot, python: PYTHON, gitMode: 'snapshot', workspaceRoot: project });
    const { runDir } = launched;
    assert.match(launched.runId, /^\d{8}-\d{6}-long-[0-9a-f]{4}$/);
    assert.equal(readFileSync(join(project, '.pacs', '.gitignore'), 'utf8'), '*\n');
    assert.match(launched.gitWarning ?? '', /not in a git repository/);
    const launcher = JSON.parse(readFileSync(join(runDir, 'launcher.json'), 'utf8'));
    assert.equal(launcher.pid, launched.pid);
    assert.equal(launcher.cwd, project);

    await statusIs(runDir, 'running');
    const info = await readRunInfo(runDir);
    assert.equal(info.pid, launched.pid, 'spawned without a shell: the trainer is the child itself');
    assert.equal(info.config_path, 'long.pacs.yaml');
    assert.equal(info.id, launched.runId);

    const paused = await sendControl(runDir, 'pause', { timeoutMs: 60_000 });
    assert.deepEqual(paused, { seq: 1, acked: true, result: 'ok' });
    await statusIs(runDir, 'paused');
    const again = await sendControl(runDir, 'pause', { timeoutMs: 60_000 });
    assert.equal(again.result, 'ignored: already paused');

    const resumed = await sendControl(runDir, 'resume', { timeoutMs: 60_000 });
    assert.deepEqual(resumed, { seq: 3, acked: true, result: 'ok' });
    await statusIs(runDir, 'running');

    const checkpoint = await sendControl(runDir, 'checkpoint', { timeoutMs: 60_000 });
    assert.equal(checkpoint.result, 'ok');
    const saved = events(runDir).filter((e) => e.type === 'checkpoint');
    assert.equal(saved.length, 1);
    assert.ok(existsSync(join(runDir, String(saved[0].path))));

    const suspended = await sendControl(runDir, 'suspend', { timeoutMs: 60_000 });
    assert.equal(suspended.result, 'ok');
    await statusIs(runDir, 'suspended');
    await waitFor('the suspended trainer to exit', () => !isProcessAlive(Number(launched.pid)), runDir);
    await assert.rejects(sendControl(runDir, 'pause'), (e: unknown) => e instanceof ControlError && /suspended/.test(e.message));
    await assert.rejects(sendControl(runDir, 'resume'), /Relaunch it from its last checkpoint/);
    const stepAtSuspend = (await readRunInfo(runDir)).step;

    const again2 = await resumeRun(runDir, PYTHON);
    await waitFor('the resumed trainer to record its pid', async () => (await readRunInfo(runDir)).pid === again2.pid, runDir);
    await statusIs(runDir, 'running');
    await waitFor('a step after the resume', async () => (await readRunInfo(runDir)).step > stepAtSuspend, runDir);

    const stopped = await sendControl(runDir, 'stop', { timeoutMs: 60_000 });
    assert.deepEqual(stopped, { seq: 6, acked: true, result: 'ok' });
    await statusIs(runDir, 'stopped');
    await waitFor('the stopped trainer to exit', () => !isProcessAlive(Number(again2.pid)), runDir);
    const all = events(runDir);
    assert.deepEqual(all.filter((e) => e.type === 'control_ack').map((e) => [e.seq, e.command]), [
      [1, 'pause'],
      [2, 'pause'],
      [3, 'resume'],
      [4, 'checkpoint'],
      [5, 'suspend'],
      [6, 'stop'],
    ]);
    assert.deepEqual(all.filter((e) => e.type === 'run_finished').map((e) => e.status), ['suspended', 'stopped']);
    await assert.rejects(sendControl(runDir, 'checkpoint'), /stopped run/);
  });

  test('pacs-lab train follows a run to its end and prints the before/after table; status lists it', async () => {
    const r = await cli(['train', 'short.pacs.yaml', '--python', PYTHON, '--git', 'ignore'], project, { ...process.env, PACS_PYTHON: '' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /step 3\/3 {2}reward \d\.\d{3} {2}(loss|bce) -?\d\.\d{4} {2}critic auc (\d\.\d{3}|-) {2}(\d+\.\d\d|-) steps\/s/);
    assert.match(r.stdout, /eval\/accuracy +\d+\.\d% +\d+\.\d% +[+-]\d+\.\d pts/);
    assert.match(r.stdout, /eval\/pass@2/);
    assert.match(r.stdout, /run finished: /);

    const s = await cli(['status', '--json'], project);
    assert.equal(s.status, 0, s.stderr);
    const runs = JSON.parse(s.stdout) as Array<{ name: string; status: string; step: number; score: { bestAccuracy: { step: number; value: number } | null; window: number[] | null }; alerts: Array<{ rule: string; step: number }> }>;
    const short = runs.find((x) => x.name === 'short');
    // every alert the run recorded is printed by train as it fires, and counted by status
    const alerts = short?.alerts ?? [];
    for (const alert of alerts) assert.match(r.stdout, new RegExp(`alert at step ${alert.step}: ${alert.rule} \\(`));
    assert.equal(short?.status, 'finished');
    assert.equal(short?.step, 3);
    assert.ok(short?.score.bestAccuracy && short.score.bestAccuracy.value >= 0, `the summary has the best eval accuracy: ${JSON.stringify(short?.score)}`);
    assert.deepEqual(short?.score.window, [3, 3], 'the last tenth of 3 steps is step 3');
    const table = await cli(['status'], project);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /RUN +STATUS +STEP +BEST ACC +REWARD +AUC +ALERTS +CODE/);
    assert.match(table.stdout, new RegExp(`short-\\S+ +finished +3/3 +\\d+\\.\\d%@\\d+ +\\d\\.\\d{3} +\\S+ +${alerts.length} `));
  });

  test('a config error ends the run as failed with the trainer message, exit code 2 of the trainer reported as 1', async () => {
    writeFileSync(join(project, 'bad.pacs.yaml'), 'name: bad\nmodel: {path: nowhere}\n');
    const r = await cli(['train', 'bad.pacs.yaml', '--python', PYTHON], project);
    assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /model\.path/);
    assert.match(r.stdout, /run failed/);
  });
});
