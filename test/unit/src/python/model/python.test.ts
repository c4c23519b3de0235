import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { probePython, resolvePython, setupManagedEnv, venvPython } from '../../../../../src/python/model/python';
import { REPO } from '../../../helpers/repo';

const PYTHON = process.env.PACS_PYTHON || join(REPO, '.venv', 'bin', 'python');
// Finding the module is enough to decide; importing torch here would cost seconds.
const probe = spawnSync(PYTHON, ['-c', 'import importlib.util, sys; sys.exit(importlib.util.find_spec("pacslab") is None)'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : `no Python with pacslab at ${PYTHON} (set PACS_PYTHON)`;

// The two suites run at the same time: both mostly wait on Python processes.
describe('python', { concurrency: true }, () => {
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

  describe('setupManagedEnv', () => {
    const base = mkdtempSync(join(tmpdir(), 'pacs-venv-'));
    after(() => rmSync(base, { recursive: true, force: true }));

    test('creates the venv, streams every command and its output, and names the failing command', async () => {
      const trainerDir = join(base, 'trainer');
      mkdirSync(trainerDir);
      // A requirement pip rejects before any download.
      writeFileSync(join(trainerDir, 'requirements.txt'), './no-such-package-dir\n');
      const envDir = join(base, 'env');
      const lines: string[] = [];
      await assert.rejects(setupManagedEnv({ envDir, trainerDir, log: (l) => lines.push(l) }), (e: unknown) => {
        assert.match((e as Error).message, /pip install .*requirements\.txt` failed \(exit code 1\)/);
        assert.match((e as Error).message, /no-such-package-dir/);
        return true;
      });
      assert.ok(existsSync(venvPython(envDir)), 'the venv exists');
      assert.match(lines[0], /^\$ python3 -m venv /);
      assert.ok(lines.some((l) => l.startsWith('$ ') && l.includes('-m pip install')));
      assert.ok(lines.some((l) => /no-such-package-dir/.test(l) && !l.startsWith('$ ')), 'pip output is streamed');
      const again: string[] = [];
      await assert.rejects(setupManagedEnv({ envDir, trainerDir, log: (l) => again.push(l) }));
      assert.ok(!again.some((l) => l.includes('-m venv')), 'an existing venv is reused');
    });
  });
});
