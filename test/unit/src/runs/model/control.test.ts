import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ControlError, controlRefusal, maxSeq, sendControl } from '../../../../../src/runs/model/control';
import { processStartTime } from '../../../../../src/runs/model/process';
import { appendEvents, makeRun } from '../../../helpers/runFixtures';

const root = mkdtempSync(join(tmpdir(), 'pacs-control-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A run whose "trainer" is this test process (alive, same start time). */
function liveRun(status: 'running' | 'paused' | 'starting' = 'running'): string {
  return makeRun(root, `20261127-030000-arith-${String(n++).padStart(4, '0')}`, { status, pid: process.pid, pid_start_time: processStartTime(process.pid) });
}

function controlLines(dir: string): Array<{ seq: number; command: string; t: number }> {
  return readFileSync(join(dir, 'control.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

describe('sendControl', () => {
  test('appends seq = 1 + the highest seq in the file and resolves with the ack', async () => {
    const dir = liveRun();
    writeFileSync(join(dir, 'control.jsonl'), '{"seq": 4, "command": "pause", "t": 1}\ntorn garbage\n{"seq": 2, "command": "resume", "t": 2}\n');
    appendEvents(dir, [{ t: 1, type: 'control_ack', seq: 5, command: 'pause', result: 'stale: written before the command' }]);
    const pending = sendControl(dir, 'pause', { timeoutMs: 60_000, pollMs: 10 });
    // Act as the trainer: wait for the line, then acknowledge it.
    for (;;) {
      if ((await maxSeq(join(dir, 'control.jsonl'))) === 5) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    appendEvents(dir, [{ t: 2, type: 'control_ack', seq: 5, command: 'pause', result: 'ok' }]);
    assert.deepEqual(await pending, { seq: 5, acked: true, result: 'ok' });
    const last = controlLines(dir).pop();
    assert.equal(last?.seq, 5);
    assert.equal(last?.command, 'pause');
    assert.equal(typeof last?.t, 'number');
  });

  test('without an ack it resolves acked: false after the timeout, and the next seq follows', async () => {
    const dir = liveRun('paused');
    assert.deepEqual(await sendControl(dir, 'resume', { timeoutMs: 50, pollMs: 10 }), { seq: 1, acked: false });
    assert.deepEqual(await sendControl(dir, 'checkpoint', { timeoutMs: 0 }), { seq: 2, acked: false });
    assert.deepEqual(controlLines(dir).map((l) => [l.seq, l.command]), [
      [1, 'resume'],
      [2, 'checkpoint'],
    ]);
  });

  test('refuses commands a run cannot take, and writes nothing', async () => {
    const finished = makeRun(root, '20261127-030000-arith-fini', { status: 'finished' });
    await assert.rejects(sendControl(finished, 'pause'), (e: unknown) => e instanceof ControlError && e.message === 'Cannot pause a finished run: its trainer is no longer running.');
    const suspended = makeRun(root, '20261127-030000-arith-susp', { status: 'suspended' });
    await assert.rejects(sendControl(suspended, 'resume'), /Relaunch it from its last checkpoint/);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    const gone = makeRun(root, '20261127-030000-arith-gone', { status: 'running', pid: dead });
    await assert.rejects(sendControl(gone, 'stop'), /its trainer process \(pid \d+\) is gone/);
    await assert.rejects(sendControl(liveRun(), 'explode' as 'stop'), /Unknown control command "explode"/);
    for (const dir of [finished, suspended, gone]) assert.throws(() => readFileSync(join(dir, 'control.jsonl')), /ENOENT/);
  });

  test('controlRefusal allows every command while the trainer listens', () => {
    for (const status of ['starting', 'running', 'paused'] as const) {
      for (const command of ['pause', 'resume', 'stop', 'suspend', 'checkpoint'] as const) assert.equal(controlRefusal(status, command), null);
    }
    assert.match(controlRefusal('crashed', 'checkpoint') ?? '', /crashed run/);
  });
});

describe('maxSeq', () => {
  test('is 0 for a missing or empty file', async () => {
    assert.equal(await maxSeq(join(root, 'missing.jsonl')), 0);
    mkdirSync(join(root, 'empty'));
    writeFileSync(join(root, 'empty', 'control.jsonl'), '');
    assert.equal(await maxSeq(join(root, 'empty', 'control.jsonl')), 0);
  });
});
