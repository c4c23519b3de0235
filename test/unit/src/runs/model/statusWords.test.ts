// Issue 25, status words: a resume that finds its run already being trained by another process
// leaves the run alone and says so, never "run crashed" (two `pacs-lab resume` back to back).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { processStartTime } from '../../../../../src/runs/model/process';
import { REPO } from '../../../helpers/repo';
import { makeRun } from '../../../helpers/runFixtures';

const base = mkdtempSync(join(tmpdir(), 'pacs-status-words-'));
after(() => rmSync(base, { recursive: true, force: true }));

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const loader = pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  return new Promise((done) => {
    execFile(process.execPath, ['--import', loader, join(REPO, 'src', 'cli.ts'), ...args], { timeout: 60000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('pacs-lab resume while another trainer holds the run', () => {
  test('the second resume says the run goes on in the other process and writes nothing', async () => {
    const root = join(base, 'runs');
    const dir = makeRun(root, '20261127-030000-arith-aaaa', { status: 'stopped' });
    writeFileSync(join(dir, 'config.yaml'), 'total_steps: 2\n');
    // The first resume's trainer: alive, holding trainer.lock (as RunLock writes it), run.json not yet rewritten.
    const first = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    after(() => first.kill());
    const pid = first.pid as number;
    writeFileSync(join(dir, 'trainer.lock'), JSON.stringify({ pid, pid_start_time: processStartTime(pid), host: hostname() }));
    // The second resume's trainer finds the lock held and exits 2, as `python -m pacslab train` does.
    const python = join(base, 'python');
    writeFileSync(python, '#!/bin/sh\necho "error: run is in use by pid $$" >&2\nexit 2\n');
    chmodSync(python, 0o755);
    const before = readFileSync(join(dir, 'run.json'), 'utf8');
    const { code, stdout, stderr } = await cli('resume', dir, '--python', python);
    assert.notEqual(code, 0);
    assert.doesNotMatch(stdout + stderr, /run (crashed|failed)/);
    assert.match(stderr, new RegExp(`being trained by another process \\(pid ${pid}\\), which goes on`));
    assert.equal(readFileSync(join(dir, 'run.json'), 'utf8'), before, 'run.json is left to the trainer that holds the run');
  });
});
