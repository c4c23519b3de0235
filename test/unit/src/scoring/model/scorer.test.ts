// The Node scorer against the Python CLI on one fixture run (built and exported by the trainer's
// own test module), within 1e-4 on r̂ and every token.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { RUN_LIMITS } from '../../../../../src/run/model/boundedJson';
import { groupPsi, ScoreError, sigmoid, tokenLogprobs } from '../../../../../src/scoring/model/implicitReward';
import { runExportOnnx } from '../../../../../src/scoring/model/exportOnnx';
import { exportState } from '../../../../../src/scoring/model/manifest';
import { ScorerCache } from '../../../../../src/scoring/model/scorer';
import { runScoreCli } from '../../../../../src/scoring/model/scoreCli';
import { REPO } from '../../../helpers/repo';

const run = promisify(execFile);
const ROOT = REPO;
const PYTHON = process.env.PACS_PYTHON ?? join(ROOT, '.venv', 'bin', 'python');
const TOLERANCE = 1e-4;

interface Scored {
  logratio: number;
  tokens: string[];
  token_ids: number[];
  token_logratio: number[];
  unknown_chars: string[];
  psi?: number;
  p_correct?: number;
  group?: { reward_hat: number }[];
}

async function pythonScore(args: string[]): Promise<{ code: number; json?: Scored; stderr: string }> {
  try {
    const { stdout, stderr } = await run(PYTHON, ['-m', 'pacslab', 'score', ...args], { cwd: join(ROOT, 'trainer'), maxBuffer: 1 << 24 });
    return { code: 0, json: JSON.parse(stdout) as Scored, stderr };
  } catch (e) {
    const failed = e as { code: number; stderr: string };
    return { code: failed.code, stderr: failed.stderr };
  }
}

async function nodeScore(args: string[]): Promise<{ code: number; json?: Scored; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runScoreCli(args, (t) => (stdout += t), (t) => (stderr += t));
  return { code, json: code === 0 ? (JSON.parse(stdout) as Scored) : undefined, stderr };
}

function assertParity(node: Scored, python: Scored, label: string): number {
  assert.deepEqual(node.tokens, python.tokens, `${label}: tokens`);
  assert.deepEqual(node.token_ids, python.token_ids, `${label}: token ids`);
  assert.deepEqual(node.unknown_chars, python.unknown_chars, `${label}: unknown characters`);
  const diffs = [Math.abs(node.logratio - python.logratio), ...node.token_logratio.map((x, k) => Math.abs(x - python.token_logratio[k]))];
  const worst = Math.max(...diffs);
  assert.ok(worst <= TOLERANCE, `${label}: max |node − python| = ${worst}`);
  return worst;
}

describe('implicit reward maths', () => {
  it('takes log-softmax per position in float64', () => {
    const logits = Float32Array.from([0, 0, 0, 1, 2, 3]); // [T=2, V=3]
    const [lp] = tokenLogprobs(logits, 3, [2], 2);
    assert.ok(Math.abs(lp - (3 - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)))) < 1e-12);
    assert.ok(Math.abs(tokenLogprobs(logits, 3, [0], 1)[0] + Math.log(3)) < 1e-12);
    assert.throws(() => tokenLogprobs(logits, 3, [0], 0), ScoreError);
  });

  it('computes ψ as each estimator of the loss', () => {
    assert.equal(groupPsi([0, 1, 2, 3], 3, 'rloo', true), 2);
    assert.equal(groupPsi([0, 1, 2, 3], 3, 'grpo', false), 1.5);
    assert.ok(Math.abs(groupPsi([0, 1, 2, 3], 3, 'grpo', true) - 1.5 / (Math.sqrt(5 / 3) + 1e-6)) < 1e-12);
    assert.equal(groupPsi([0, 1, 2, 3], 3, 'naive', true), 3);
    assert.throws(() => groupPsi([1], 0, 'rloo', true), /at least 2/);
    assert.equal(sigmoid(0), 0.5);
    assert.ok(Math.abs(sigmoid(-800)) < 1e-300 && sigmoid(800) === 1);
  });
});

describe('scoring parity with the Python CLI', { timeout: 120_000 }, () => {
  let dir: string;
  let runDir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pacs-scoring-'));
    const build = 'import sys; sys.path.insert(0, "tests"); from test_onnx import build_run; from pacslab import onnx_export; onnx_export.export_run(build_run(sys.argv[1]), log=lambda m: None)';
    await run(PYTHON, ['-c', build, dir], { cwd: join(ROOT, 'trainer') });
    runDir = join(dir, 'run');
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds the export ready for the checkpoint step, and not for another', async () => {
    assert.equal((await exportState(runDir, 2)).ready, true);
    const missing = await exportState(runDir, 3);
    assert.equal(missing.ready, false);
    assert.match(!missing.ready ? missing.reason : '', /step 3 is not exported/);
  });

  it('keeps the two most recently used scorers open and releases the one before', async () => {
    const [b, c] = ['copy-b', 'copy-c'].map((name) => {
      const copy = join(dir, name);
      cpSync(runDir, copy, { recursive: true, preserveTimestamps: true });
      return copy;
    });
    const cache = new ScorerCache();
    try {
      const first = await cache.get(runDir, 2);
      const second = await cache.get(b, 2);
      assert.equal(await cache.get(runDir, 2), first, 'a cache hit');
      await cache.get(c, 2);
      assert.equal(await cache.get(runDir, 2), first, 'the recently used scorer stays open');
      const reopened = await cache.get(b, 2);
      assert.notEqual(reopened, second, 'the least recently used one was released, and is reopened');
      await assert.rejects(second.score('1+2=', '3'));
      assert.ok((await reopened.score('1+2=', '3')).tokens.length > 0);
    } finally {
      cache.dispose();
    }
  });

  it('exports from a run folder holding a planted pacslab/ package without importing it (Python never starts in the run folder)', async () => {
    const crafted = join(dir, 'crafted');
    cpSync(runDir, crafted, { recursive: true });
    rmSync(join(crafted, 'onnx'), { recursive: true, force: true });
    const marker = join(dir, 'planted-package-ran');
    mkdirSync(join(crafted, 'pacslab'));
    const plant = `open(${JSON.stringify(marker)}, "w").write("ran")\n`;
    writeFileSync(join(crafted, 'pacslab', '__init__.py'), plant);
    writeFileSync(join(crafted, 'pacslab', '__main__.py'), plant);
    await runExportOnnx(PYTHON, crafted, { step: 2 });
    assert.equal(existsSync(marker), false, 'the planted package ran');
    assert.equal((await exportState(crafted, 2)).ready, true, 'the real trainer exported the run');
  });

  it('refuses manifest paths that leave the export folder, by .. or by a link', async () => {
    const copy = join(dir, 'escape');
    cpSync(runDir, copy, { recursive: true, preserveTimestamps: true });
    const manifestPath = join(copy, 'onnx', 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    writeFileSync(manifestPath, JSON.stringify({ ...manifest, reference: { ...manifest.reference, file: '../run.json' } }));
    const escaped = await exportState(copy, 2);
    assert.equal(escaped.ready, false);
    assert.match(!escaped.ready ? escaped.reason : '', /reference\.file \("\.\.\/run\.json"\) points outside/);
    await assert.rejects(new ScorerCache().get(copy, 2), /points outside/);

    writeFileSync(manifestPath, JSON.stringify(manifest));
    const tokenizer = join(copy, 'onnx', manifest.tokenizer.file);
    rmSync(tokenizer);
    symlinkSync(join(runDir, 'onnx', manifest.tokenizer.file), tokenizer);
    const linked = await exportState(copy, 2);
    assert.equal(linked.ready, false);
    assert.match(!linked.ready ? linked.reason : '', /tokenizer\.json is a symbolic link/);
  });

  // 2:0:1 has logged tokens with a padding token inside; 2:0:2 has none (its text is re-tokenized).
  for (const sample of ['2:0:1', '2:0:2']) {
    it(`agrees on logged sample ${sample} and its ψ against the group`, async () => {
      const args = ['--run', runDir, '--sample', sample];
      const [node, python] = await Promise.all([nodeScore(args), pythonScore(args)]);
      assert.equal(node.code, 0, node.stderr);
      assert.equal(python.code, 0, python.stderr);
      const worst = assertParity(node.json!, python.json!, `logged sample ${sample}`);
      assert.ok(Math.abs(node.json!.psi! - python.json!.psi!) <= TOLERANCE);
      assert.ok(Math.abs(node.json!.p_correct! - python.json!.p_correct!) <= TOLERANCE);
      node.json!.group!.forEach((m, k) => assert.ok(Math.abs(m.reward_hat - python.json!.group![k].reward_hat) <= TOLERANCE));
      if (sample === '2:0:1') assert.deepEqual(node.json!.tokens, ['1', '<pad>', '5', '$']);
      console.log(`logged sample ${sample}: max |node − python| = ${worst.toExponential(3)}, |Δψ| = ${Math.abs(node.json!.psi! - python.json!.psi!).toExponential(3)}`);
    });
  }

  it('agrees on edited text with characters outside the vocabulary (the unknown token)', async () => {
    const args = ['--run', runDir, '--prompt', '12+3=', '--response', '1a5é\n💥 7'];
    const [node, python] = await Promise.all([nodeScore(args), pythonScore(args)]);
    assert.equal(node.code, 0, node.stderr);
    assert.equal(python.code, 0, python.stderr);
    const worst = assertParity(node.json!, python.json!, 'edited text');
    assert.deepEqual(node.json!.unknown_chars, ['a', 'é', '\n', '💥']);
    assert.equal(node.json!.tokens.at(-1), '$');
    console.log(`edited text with unknown characters: max |node − python| = ${worst.toExponential(3)}`);
  });

  it('agrees on an edited group member and on --no-eos', async () => {
    const args = ['--run', runDir, '--sample', '2:0:3', '--response', '15', '--no-eos'];
    const [node, python] = await Promise.all([nodeScore(args), pythonScore(args)]);
    assert.equal(node.code, 0, node.stderr);
    assertParity(node.json!, python.json!, 'edited member');
    assert.deepEqual(node.json!.tokens, ['1', '5']);
    assert.ok(Math.abs(node.json!.psi! - python.json!.psi!) <= TOLERANCE);
  });

  it('names the characters outside the vocabulary when the tokenizer has no unknown token, in both CLIs', async () => {
    const bare = join(dir, 'no-unk');
    cpSync(join(runDir, 'onnx'), join(bare, 'onnx'), { recursive: true });
    type Json = Record<string, unknown> & { model: Record<string, unknown>; tokenizer: Record<string, unknown> };
    const edit = (file: string, change: (json: Json) => void) => {
      const json = JSON.parse(readFileSync(join(bare, 'onnx', file), 'utf8')) as Json;
      change(json);
      writeFileSync(join(bare, 'onnx', file), JSON.stringify(json));
    };
    edit('tokenizer.json', (j) => (j.model.unk_token = '<none>'));
    edit('tokenizer_config.json', (j) => (j.unk_token = null));
    edit('manifest.json', (j) => Object.assign(j.tokenizer, { unk_token: null, unk_token_id: null }));
    const args = ['--run', bare, '--prompt', '1+1=', '--response', '2x'];
    const [node, python] = await Promise.all([nodeScore(args), pythonScore(args)]);
    assert.equal(node.code, 2);
    assert.equal(python.code, 2);
    assert.match(node.stderr, /no unknown token: "x" \(U\+0078\)/);
    assert.equal(node.stderr.trim(), python.stderr.trim());
  });

  it('refuses an oversized or too deeply nested tokenizer.json in both CLIs, naming the file and the cap', async () => {
    const args = (run: string) => ['--run', run, '--prompt', '1+1=', '--response', '2'];
    const big = join(dir, 'big-tokenizer');
    cpSync(join(runDir, 'onnx'), join(big, 'onnx'), { recursive: true });
    truncateSync(join(big, 'onnx', 'tokenizer.json'), RUN_LIMITS.maxTokenizerBytes + 1); // sparse: nothing is written
    const deep = join(dir, 'deep-tokenizer');
    cpSync(join(runDir, 'onnx'), join(deep, 'onnx'), { recursive: true });
    writeFileSync(join(deep, 'onnx', 'tokenizer.json'), `{"model": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    for (const [run, why] of [[big, /holds \d+ bytes, more than the 134217728/], [deep, /nested deeper than 64 levels/]] as const) {
      const [node, python] = await Promise.all([nodeScore(args(run)), pythonScore(args(run))]);
      for (const [cli, out] of [['node', node], ['python', python]] as const) {
        assert.equal(out.code, 2, `${cli}: ${out.stderr}`);
        assert.match(out.stderr, /tokenizer\.json/, cli);
        assert.match(out.stderr, why, cli);
        assert.match(out.stderr, /export the run again/, cli);
      }
    }
  });

  it('names what to do when the step is not exported or the sample does not exist', async () => {
    const notExported = await nodeScore(['--run', runDir, '--step', '7', '--prompt', '1=', '--response', '1']);
    assert.equal(notExported.code, 2);
    assert.match(notExported.stderr, /step 7 is not exported.*export-onnx --run/s);
    const noSample = await nodeScore(['--run', runDir, '--sample', '2:5:0']);
    assert.equal(noSample.code, 2);
    assert.match(noSample.stderr, /no sample with group 5/);
  });
});
