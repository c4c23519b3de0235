// Activation must not load onnxruntime-node (a 30 MB native library): only scoring does, through
// the one dynamic import in src/scoring/model/onnxRuntime.ts. Its own file, so no other test of
// this process has loaded it first.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../../../helpers/repo';

const ROOT = REPO;
const ortLoaded = () => Object.keys(require.cache).some((path) => path.includes(join('node_modules', 'onnxruntime-node')));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('onnxruntime-node loading', () => {
  it('is not loaded by importing the scoring modules, only by asking for it', async () => {
    const { onnxRuntimeRequested, loadOnnxRuntime } = await import('../../../../../src/scoring/model/onnxRuntime');
    await import('../../../../../src/scoring/model/scorer');
    await import('../../../../../src/scoring/model/scoreCli');
    assert.equal(onnxRuntimeRequested(), false);
    assert.equal(ortLoaded(), false);
    const ort = await loadOnnxRuntime();
    assert.equal(typeof ort.InferenceSession.create, 'function');
    assert.equal(onnxRuntimeRequested(), true);
    assert.equal(ortLoaded(), true);
  });

  it('is reached from src/ only through the dynamic import in src/scoring/model/onnxRuntime.ts', () => {
    const offenders = sources(join(ROOT, 'src')).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line.includes("'onnxruntime-node'") && !/^\s*import type /.test(line) && !line.includes("import('onnxruntime-node')"))
        .map((line) => `${relative(ROOT, file)}: ${line.trim()}`),
    );
    assert.deepEqual(offenders, []);
  });
});
