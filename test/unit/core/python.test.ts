import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { probePython, resolvePython, venvPython } from '../../../src/core/python';

const REPO = resolve(__dirname, '..', '..', '..');
const PYTHON = process.env.PACS_PYTHON || join(REPO, '.venv', 'bin', 'python');
const probe = spawnSync(PYTHON, ['-c', 'import pacslab, torch, transformers'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : `no Python with pacslab at ${PYTHON} (set PACS_PYTHON)`;

describe('resolvePython', { skip }, () => {
  // One working probe only: importing torch takes seconds.
  test('a broken setting and Python extension choice are passed over for the next candidate', async () => {
    const found = await resolvePython({ configured: '/nonexistent/python', fromPythonExtension: '/nonexistent/python2', env: { PATH: '/nonexistent', PACS_PYTHON: PYTHON } });
    assert.ok(!('error' in found), JSON.stringify(found));
    assert.equal(found.python, PYTHON);
    assert.equal(found.source, 'PACS_PYTHON');
    assert.match(found.versions.torch, /^\d+\.\d+/);
  });

  test('when nothing works: why for each candidate, and the fix', async () => {
    const missing = await resolvePython({ configured: '/nonexistent/python', managedEnvDir: '/nonexistent/env', env: { PATH: '/nonexistent' } });
    assert.ok('error' in missing);
    assert.match(missing.error, /\/nonexistent\/python \(setting\): not found/);
    assert.match(missing.error, /python3 \(PATH\): not found/);
    assert.match(missing.fix, /Set Up Trainer Environment/);
  });

  test('a Python without the trainer says which import fails', async () => {
    const r = await probePython(process.execPath.replace(/node$/, 'nonexistent'));
    assert.deepEqual(r, { error: 'not found' });
    const system = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
    if (system.status === 0 || system.error) return;
    const bare = await probePython('/usr/bin/python3');
    assert.ok('error' in bare);
    assert.match(bare.error, /No module named/);
  });

  test('venvPython', () => {
    assert.equal(venvPython('/env'), process.platform === 'win32' ? join('/env', 'Scripts', 'python.exe') : '/env/bin/python');
  });
});
