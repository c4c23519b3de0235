import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LaunchError, absoluteCommand, configNameOf, ensureRunsRoot, launchRun, newRunId, reproduceRun, resumeRun } from '../../../../../src/runs/model/launcher';
import { initRepo, isolatedGit } from '../../../helpers/gitRepo';

const base = mkdtempSync(join(tmpdir(), 'pacs-launcher-'));
after(() => rmSync(base, { recursive: true, force: true }));

describe('launcher helpers', () => {
  test('the run name comes from the YAML name, else the file name without .pacs.yaml', () => {
    assert.equal(configNameOf('/x/arith.pacs.yaml', 'name: sums\n'), 'sums');
    assert.equal(configNameOf('/x/arith-grpo.pacs.yaml', 'seed: 1\n'), 'arith-grpo');
    assert.equal(configNameOf('/x/weird.pacs.yaml', 'name: "a b/c"\n'), 'a-b-c');
    assert.equal(configNameOf('/x/broken.pacs.yaml', 'name: [\n'), 'broken');
  });

  test('run ids are YYYYMMDD-HHMMSS-<name>-<4 hex> in UTC', () => {
    const id = newRunId('arith', new Date(Date.UTC(2026, 10, 27, 3, 4, 5)));
    assert.match(id, /^20261127-030405-arith-[0-9a-f]{4}$/);
  });

  test('a runs root inside .pacs gets .pacs/.gitignore; an existing one is kept', async () => {
    await ensureRunsRoot(join(base, 'ws', '.pacs', 'runs'));
    assert.equal(readFileSync(join(base, 'ws', '.pacs', '.gitignore'), 'utf8'), '*\n');
    mkdirSync(join(base, 'ws2', '.pacs'), { recursive: true });
    writeFileSync(join(base, 'ws2', '.pacs', '.gitignore'), 'runs/\n');
    await ensureRunsRoot(join(base, 'ws2', '.pacs', 'runs'));
    assert.equal(readFileSync(join(base, 'ws2', '.pacs', '.gitignore'), 'utf8'), 'runs/\n');
    await ensureRunsRoot(join(base, 'elsewhere', 'runs'));
    assert.throws(() => readFileSync(join(base, 'elsewhere', '.gitignore')), /ENOENT/);
  });

  test('a missing config or Python is refused with what to do', async () => {
    await assert.rejects(launchRun({ configPath: join(base, 'none.pacs.yaml'), runsRoot: join(base, 'runs'), python: 'python3', gitMode: 'ignore' }), (e: unknown) => e instanceof LaunchError && /Config file not found/.test(e.message));
    const config = join(base, 'ok.pacs.yaml');
    writeFileSync(config, 'name: ok\n');
    await assert.rejects(launchRun({ configPath: config, runsRoot: join(base, 'runs'), python: join(base, 'no-python'), gitMode: 'ignore' }), /Could not start .*no-python.*pacs\.pythonPath/);
    const [runId] = readdirSync(join(base, 'runs'));
    const info = JSON.parse(readFileSync(join(base, 'runs', runId, 'run.json'), 'utf8'));
    assert.equal(info.status, 'failed', 'no run is left "starting" without a process');
    assert.match(info.error.message, /Could not start/);
  });
});

describe('reproduceRun', () => {
  test('checks the run code out in a worktree and launches its config there with the same seed and overrides', async () => {
    const git = isolatedGit(base);
    const repo = join(base, 'repo');
    initRepo(git, repo, { 'configs/arith.pacs.yaml': 'name: arith\nseed: 1\n' });
    writeFileSync(join(repo, 'configs', 'arith.pacs.yaml'), 'name: arith\nseed: 7\ntotal_steps: 5\n');
    const runsRoot = join(repo, '.pacs', 'runs');
    // Node stands in for Python: only the launcher's side is under test here (the trainer tests launch the real one).
    const first = await launchRun({ configPath: join(repo, 'configs', 'arith.pacs.yaml'), runsRoot, python: process.execPath, sets: ['optim.lr=0.5'], gitMode: 'snapshot', workspaceRoot: repo });
    const firstInfo = JSON.parse(readFileSync(join(first.runDir, 'run.json'), 'utf8'));
    assert.equal(firstInfo.seed, 7);
    assert.equal(firstInfo.config_path, 'configs/arith.pacs.yaml');
    assert.ok(firstInfo.git.snapshot);
    assert.match(readFileSync(join(first.runDir, 'git.patch'), 'utf8'), /\+seed: 7/);
    writeFileSync(join(repo, 'configs', 'arith.pacs.yaml'), 'name: arith\nseed: 9\n');

    const worktreeDir = join(base, 'worktree');
    const again = await reproduceRun(first.runDir, { python: process.execPath, runsRoot, worktreeDir, workspaceRoot: repo });
    assert.equal(readFileSync(join(worktreeDir, 'configs', 'arith.pacs.yaml'), 'utf8'), 'name: arith\nseed: 7\ntotal_steps: 5\n');
    const info = JSON.parse(readFileSync(join(again.runDir, 'run.json'), 'utf8'));
    assert.equal(info.git.commit, firstInfo.git.snapshot, 'the new run is tied to the same code');
    assert.equal(info.git.dirty, false);
    const launcher = JSON.parse(readFileSync(join(again.runDir, 'launcher.json'), 'utf8'));
    assert.deepEqual(launcher.sets, ['optim.lr=0.5', 'seed=7']);
    assert.equal(launcher.config_abs_path, join(worktreeDir, 'configs', 'arith.pacs.yaml'));
    assert.equal(launcher.cwd, join(worktreeDir, 'configs'));
    assert.deepEqual(launcher.args.slice(0, 3), ['-m', 'pacslab', 'train']);
  });
});

describe('absoluteCommand', () => {
  test('a relative interpreter path is resolved against the current directory, a bare name is left to the PATH', () => {
    assert.equal(absoluteCommand('.venv/bin/python'), join(process.cwd(), '.venv', 'bin', 'python'));
    assert.equal(absoluteCommand('/usr/bin/python3'), '/usr/bin/python3');
    assert.equal(absoluteCommand('python3'), 'python3');
  });
});

// run.json and launcher.json are untrusted: Python never starts inside the run folder, and a
// trainer.log that is a link is not appended to.
describe('resuming a crafted run', () => {
  /** A stand-in for Python that records where it started and with which PYTHONSAFEPATH. */
  function fakePython(): string {
    const script = join(base, `fake-python-${Math.random().toString(16).slice(2)}.sh`);
    writeFileSync(script, '#!/bin/sh\necho "cwd=$PWD safepath=$PYTHONSAFEPATH"\n', { mode: 0o755 });
    return script;
  }

  function stoppedRun(configDir: unknown): string {
    const dir = join(base, `crafted-${Math.random().toString(16).slice(2)}`, '20261127-030000-arith-abcd');
    mkdirSync(join(dir, 'pacslab'), { recursive: true });
    writeFileSync(join(dir, 'pacslab', '__init__.py'), 'open("PWNED", "w").write("ran")\n');
    writeFileSync(join(dir, 'config.yaml'), 'name: arith\n');
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ id: '20261127-030000-arith-abcd', status: 'stopped', config_dir: configDir }));
    return dir;
  }

  /** The stand-in's line in trainer.log (the child is detached and unreferenced: poll for it). */
  async function startedIn(dir: string, python: string): Promise<string> {
    await resumeRun(dir, python);
    for (let i = 0; i < 600; i++) {
      const log = readFileSync(join(dir, 'trainer.log'), 'utf8');
      if (log.includes('\n')) return log;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the stand-in Python never wrote to ${join(dir, 'trainer.log')}`);
  }

  test('a config_dir naming the run folder (or a folder inside it) is not used as the working folder', async () => {
    const python = fakePython();
    for (const configDir of ['.', 'SELF', 'SELF/pacslab', 42]) {
      const dir = stoppedRun(null);
      const info = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
      info.config_dir = configDir === 'SELF' ? dir : configDir === 'SELF/pacslab' ? join(dir, 'pacslab') : configDir;
      writeFileSync(join(dir, 'run.json'), JSON.stringify(info));
      const log = await startedIn(dir, python);
      const cwd = /cwd=(\S+)/.exec(log)?.[1] ?? '';
      assert.ok(cwd && !cwd.startsWith(dir), `started in ${cwd}`);
      assert.match(log, /safepath=1/);
    }
  });

  test('a config_dir outside the run is kept', async () => {
    const configDir = mkdtempSync(join(base, 'configs-'));
    const log = await startedIn(stoppedRun(configDir), fakePython());
    assert.match(log, new RegExp(`cwd=${configDir}\\b`));
  });

  test('a trainer.log that links outside the run is refused, not appended to', async () => {
    const dir = stoppedRun(null);
    const victim = join(base, `victim-${Math.random().toString(16).slice(2)}.txt`);
    writeFileSync(victim, 'unchanged\n');
    symlinkSync(victim, join(dir, 'trainer.log'));
    await assert.rejects(resumeRun(dir, fakePython()), /trainer\.log is a symbolic link/);
    assert.equal(readFileSync(victim, 'utf8'), 'unchanged\n');
  });
});
