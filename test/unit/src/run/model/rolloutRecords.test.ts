// Rollout records: the trainer's Parquet step read back in TypeScript for every field (a sample's
// token details only when asked for), the JSONL runs written before still open, a bad file named.
// The round trip needs a Python with pacslab: $PACS_PYTHON, else .venv/bin/python.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { readStepRecords, RESPONSE_PREVIEW_CHARS, splitByCodePoints, stepRecordsFile } from '../../../../../src/run/model/rolloutRecords';
import { RunStore } from '../../../../../src/runs/model/runStore';
import { readGroup } from '../../../../../src/scoring/model/group';

const REPO = resolve(__dirname, '..', '..', '..', '..', '..');
const PYTHON = process.env.PACS_PYTHON || join(REPO, '.venv', 'bin', 'python');
const ENV = { ...process.env, PYTHONPATH: join(REPO, 'trainer') };
const TRAINER_RUN = join(REPO, 'test', 'webview', 'fixtures', 'trainer-run', '20261127-034358-dev-09e1');
const root = mkdtempSync(join(tmpdir(), 'pacs-records-'));
after(() => rmSync(root, { recursive: true, force: true }));

const probe = spawnSync(PYTHON, ['-c', 'import pacslab.run.records'], { env: ENV });
const noPython = probe.status === 0 ? false : `no Python with pacslab at ${PYTHON} (set PACS_PYTHON)`;

/**
 * Writes `records` as step `step` of `runDir` with the trainer's writer (runio.write_rollouts), or
 * `beforePreview`: as the trainer wrote it before `response_preview` (format 3 all the same).
 */
function pythonWrites(runDir: string, step: number, records: unknown[], beforePreview = false): void {
  mkdirSync(runDir, { recursive: true });
  const input = join(root, `records-${step}.json`);
  writeFileSync(input, JSON.stringify(records));
  const code = beforePreview
    ? 'import json, sys, pathlib; from pacslab.run import records as R; d = pathlib.Path(sys.argv[1], "rollouts"); d.mkdir(exist_ok=True); '
      + '(d / f"step-{int(sys.argv[2]):06d}.parquet").write_bytes(R.encode(R.to_table(json.load(open(sys.argv[3]))).drop_columns([R.PREVIEW_COLUMN])))'
    : 'import json, sys; from pacslab.run import files as runio; runio.write_rollouts(sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3])))';
  const result = spawnSync(PYTHON, ['-c', code, runDir, String(step), input], { env: ENV, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
}

const SAMPLES = [
  {
    step: 3, group: 0, index: 0, prompt_id: 'train-0000', prompt: 'What is 40 + 2?\n', response: 'The sum is 42 😀', answer: '42',
    reward: 1.0, verifier: { parsed: '42', detail: 'matched', error: null }, logratio: 0.25, psi: -0.5, p_correct: 0.377,
    grad_weight: 0.623, weight: 1.5, length: 7, truncated: false,
    tokens: ['The', ' sum', ' is', ' 4', '2', ' 😀', '<|eos|>'], token_logratio: [0.125, -0.25, 0, 1.5, -2, 0.5, 0.0625],
  },
  {
    step: 3, group: 0, index: 1, prompt_id: 'train-0000', prompt: 'What is 40 + 2?\n', response: '<b>x</b>', answer: '42',
    reward: 0.0, verifier: { parsed: null, detail: null, error: 'boom' }, logratio: null, psi: null, p_correct: null,
    grad_weight: null, weight: 1.0, length: 3, truncated: true, tokens: ['<b>', 'x', '</b>'], advantage: -0.5,
  },
];

describe('rollout records', () => {
  test('every field the trainer writes reads back, token details only when asked for', { skip: noPython }, async () => {
    const run = join(root, 'run');
    pythonWrites(run, 3, SAMPLES);
    const path = await stepRecordsFile(run, 3);
    assert.ok(path.endsWith('rollouts/step-000003.parquet'));
    const step = await readStepRecords(path);
    assert.equal(step.badLines, 0);
    const light = SAMPLES.map(({ tokens: _t, token_logratio: _r, ...rest }) => ({ ...rest, token_details: true }));
    assert.deepEqual(step.samples, light);
    assert.deepEqual(await step.tokenDetails(0, 0), { tokens: SAMPLES[0].tokens, token_logratio: SAMPLES[0].token_logratio });
    assert.deepEqual(await step.tokenDetails(0, 1), { tokens: SAMPLES[1].tokens });
    assert.equal(await step.tokenDetails(5, 0), null);

    // the store serves the same, and the scorer's group comes with its tokens
    const store = new RunStore({ roots: [root], pollIntervalMs: 60_000, detectCrashes: false });
    writeFileSync(join(run, 'run.json'), JSON.stringify({ format: 2, id: 'run', name: 'run', status: 'finished', step: 3, total_steps: 3 }));
    await store.refresh();
    assert.deepEqual(store.rolloutSteps('run'), [3]);
    assert.deepEqual((await store.loadRollouts('run', 3)).samples, light);
    assert.deepEqual((await store.loadTokenDetails('run', 3, 0, 0))?.tokens, SAMPLES[0].tokens);
    store.dispose();
    const group = await readGroup(run, { step: 3, group: 0, index: 1 });
    assert.deepEqual(group.map((m) => m.tokens), [SAMPLES[0].tokens, SAMPLES[1].tokens]);
    // the step written again (a resumed run): the footer read at open no longer fits the file
    pythonWrites(run, 3, SAMPLES);
    await assert.rejects(step.tokenDetails(0, 0), /step-000003\.parquet changed since the step was opened/);
  });

  test('a long response opens as its preview, read whole when shown or when every response is asked for', { skip: noPython }, async () => {
    // 600 code points, 900 UTF-16 units: the preview is the first 400 code points, no pair cut in two
    const long = 'é😀x'.repeat(200);
    const tokens = ['é😀x'.repeat(150), 'é😀x'.repeat(50)];
    const written = [{ ...SAMPLES[0], response: long, tokens, token_logratio: [0.5, -0.25], length: 2 }, SAMPLES[1]];
    const run = join(root, 'long');
    pythonWrites(run, 4, written);
    const step = await readStepRecords(join(run, 'rollouts', 'step-000004.parquet'));
    const [cut, short] = step.samples;
    assert.equal(cut.response, [...long].slice(0, RESPONSE_PREVIEW_CHARS).join(''));
    assert.equal(cut.response_cut, true);
    assert.equal(short.response, '<b>x</b>');
    assert.equal(short.response_cut, undefined);
    assert.ok(!('response_preview' in cut));
    assert.deepEqual(await step.sample(0, 0), written[0]);
    assert.deepEqual(await step.tokenDetails(0, 0), { tokens, token_logratio: [0.5, -0.25] });
    assert.equal((await step.sample(0, 1))?.response, '<b>x</b>');
    assert.equal(await step.sample(3, 0), null);
    assert.deepEqual(await step.responses(), [long, '<b>x</b>']);

    // a step written before the preview opens with every response whole
    pythonWrites(run, 5, written, true);
    const before = await readStepRecords(join(run, 'rollouts', 'step-000005.parquet'));
    assert.deepEqual(before.samples.map((s) => [s.response, s.response_cut]), [[long, undefined], ['<b>x</b>', undefined]]);
    assert.deepEqual(await before.sample(0, 0), await step.sample(0, 0));
    assert.deepEqual(await before.responses(), [long, '<b>x</b>']);
  });

  test('a truncated or corrupt Parquet file is named, a link is refused', { skip: noPython }, async () => {
    const run = join(root, 'bad');
    pythonWrites(run, 1, SAMPLES);
    const path = join(run, 'rollouts', 'step-000001.parquet');
    copyFileSync(path, join(root, 'good.parquet'));
    truncateSync(path, 300);
    await assert.rejects(readStepRecords(path), /step-000001\.parquet: not a readable rollout file/);
    writeFileSync(path, Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(64, 7), Buffer.from('PAR1')]));
    await assert.rejects(readStepRecords(path), /step-000001\.parquet: not a readable rollout file/);
    // the footer read, the body damaged: the light read or the token read names the file
    const good = readFileSync(join(root, 'good.parquet'));
    const damaged = Buffer.from(good);
    damaged.fill(0xff, 4, Math.floor(good.length / 2));
    writeFileSync(path, damaged);
    await assert.rejects(async () => {
      const step = await readStepRecords(path);
      await step.tokenDetails(0, 0);
    }, /step-000001\.parquet: not a readable rollout file/);
    rmSync(path);
    symlinkSync(join(root, 'good.parquet'), path);
    await assert.rejects(stepRecordsFile(run, 1), /step-000001\.parquet is a symbolic link/);
  });

  test('a JSONL step written before still opens, its tokens in its samples', async () => {
    const path = await stepRecordsFile(TRAINER_RUN, 10);
    assert.ok(path.endsWith('step-000010.jsonl'));
    const step = await readStepRecords(path);
    assert.ok(step.samples.length > 0 && step.badLines === 0);
    const first = step.samples[0];
    assert.ok(Array.isArray(first.tokens) && first.token_details === undefined);
    assert.deepEqual(await step.tokenDetails(first.group, first.index), { tokens: first.tokens, token_logratio: first.token_logratio });
  });

  test('token lengths count code points, as Python does', () => {
    assert.deepEqual(splitByCodePoints('ab😀c', [1, 2, 1]), ['a', 'b😀', 'c']);
    assert.deepEqual(splitByCodePoints('abc', [1, 2]), ['a', 'bc']);
    assert.equal(splitByCodePoints('ab', [1, 2]), null);
    assert.equal(splitByCodePoints('a😀', [1, 2]), null);
  });
});
