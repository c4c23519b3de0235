import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LaunchError, configNameOf, ensureRunsRoot, launchRun, newRunId } from '../../../src/core/launcher';

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
  });
});
