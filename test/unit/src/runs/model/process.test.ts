import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isProcessAlive, isSameProcess, processStartTime } from '../../../../../src/runs/model/process';
import { REPO } from '../../../helpers/repo';

const PYTHON = process.env.PACS_PYTHON || join(REPO, '.venv', 'bin', 'python');
const dir = mkdtempSync(join(tmpdir(), 'pacs-proc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('process identity', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  test('a process whose name holds spaces and parentheses: same start time as the trainer computes', async () => {
    // The kernel's comm field is the script's name: "a b) (c".
    const script = join(dir, 'a b) (c');
    writeFileSync(script, '#!/bin/sh\nsleep 30\n');
    chmodSync(script, 0o755);
    const child = spawn(script, [], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    try {
      const pid = child.pid as number;
      const ours = processStartTime(pid);
      assert.match(ours ?? '', /^\d+$/);
      const trainer = spawnSync(PYTHON, ['-c', `from pacslab.run.files import pid_start_time; print(pid_start_time(${pid}))`], { encoding: 'utf8' });
      if (trainer.status === 0) assert.equal(ours, trainer.stdout.trim(), 'the same value as run.json pid_start_time');
      assert.equal(isProcessAlive(pid), true);
      assert.equal(isSameProcess(pid, ours), true);
      assert.equal(isSameProcess(pid, String(Number(ours) + 1)), false, 'a reused pid is another process');
      assert.equal(isSameProcess(pid, null), true, 'no recorded start time: liveness only');
    } finally {
      child.kill();
    }
  });

  test('dead, zombie and impossible pids', async () => {
    const exited = spawnSync(process.execPath, ['-e', '0']).pid as number;
    assert.equal(isProcessAlive(exited), false);
    assert.equal(processStartTime(exited), null);
    for (const pid of [0, -1, 1.5, Number.NaN]) assert.equal(isProcessAlive(pid), false);
    // A child that exited but is not reaped yet is a zombie: dead for our purposes.
    const sh = spawn('/bin/sh', ['-c', 'sleep 0.05 & exec sleep 30'], { stdio: 'ignore' });
    await new Promise((r) => sh.once('spawn', r));
    try {
      const state = (pid: number) => spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim();
      let zombiePid = 0;
      for (let i = 0; i < 100 && !(zombiePid && state(zombiePid).startsWith('Z')); i++) {
        await new Promise((r) => setTimeout(r, 50));
        zombiePid = Number(spawnSync('pgrep', ['-P', String(sh.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0]);
      }
      assert.ok(state(zombiePid).startsWith('Z'), 'the premise: an unreaped child');
      assert.equal(isProcessAlive(zombiePid), false);
    } finally {
      sh.kill();
    }
  });
});
