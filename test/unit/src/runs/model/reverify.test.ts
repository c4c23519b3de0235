// Re-verifying runs from the extension core: `python -m pacslab verify` on an imported verl run with
// the user's verl-form compute_score, the result read back and folded into the inspector's samples,
// and verifier cases written for the trainer's `verify-cases`. Needs a Python with pacslab
// ($PACS_PYTHON, else .venv/bin/python).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { importRuns } from '../../../../../src/runs/model/importer';
import { REPO } from '../../../helpers/repo';
import { parseReverify, readLatestReverify, ReverifyError, reverifyRun } from '../../../../../src/runs/model/reverify';
import { addVerifierCase, caseLine, defaultCasesName } from '../../../../../src/runs/model/verifierCases';
import { withReverify } from '../../../../../src/rollouts/model/reverifyView';
import type { RolloutSample } from '../../../../../webview/shared/contract';

const PYTHON = process.env.PACS_PYTHON || join(REPO, '.venv', 'bin', 'python');

function trainerMissing(): string | false {
  const probe = spawnSync(PYTHON, ['-c', 'import importlib.util as u, sys; sys.exit(u.find_spec("pacslab.reverify") is None)'], { encoding: 'utf8' });
  if (probe.error) return `no Python at ${PYTHON} (set PACS_PYTHON)`;
  return probe.status === 0 ? false : `pacslab with pacslab.reverify is not installed for ${PYTHON}`;
}

/** verl's dump: the old reward accepted "7.0" for 7 (score 1) and refused "\\boxed{4}" for 4 (score 0). */
function verlDump(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const rows = [['2+2?', '4', '4', 1], ['2+2?', '\\boxed{4}', '4', 0], ['3+4?', '7.0', '7', 1], ['3+4?', '8', '7', 0]];
  writeFileSync(join(dir, '1.jsonl'), rows.map(([input, output, gts, score]) => JSON.stringify({ input, output, gts, score, step: 1 })).join('\n') + '\n');
}

// the user's fixed reward in verl's own form: boxed answers are read, and only exact strings count
const COMPUTE_SCORE = `
def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    text = solution_str.strip()
    if text.startswith("\\\\boxed{") and text.endswith("}"):
        text = text[len("\\\\boxed{"):-1]
    return {"score": float(text == ground_truth), "pred": text}
`;

const skip = trainerMissing();

describe('re-verifying a run', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'pacs-reverify-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  test('an imported verl run re-verified with a verl compute_score reports exactly the flips, beside the records', async () => {
    verlDump(join(work, 'dump'));
    const [runDir] = await importRuns({ source: join(work, 'dump'), runsRoot: join(work, 'runs'), python: PYTHON });
    const before = readFileSync(join(runDir, 'rollouts', 'step-000001.jsonl'), 'utf8');
    writeFileSync(join(work, 'reward.py'), COMPUTE_SCORE);
    const out = await reverifyRun({ runDir, python: PYTHON, verifier: `verl:${join(work, 'reward.py')}:compute_score` });
    assert.deepEqual(out.total, { checked: 4, up: 1, down: 1 });
    assert.equal(readFileSync(join(runDir, 'rollouts', 'step-000001.jsonl'), 'utf8'), before);
    const result = await readLatestReverify(runDir);
    assert.ok(result);
    const flips = result.steps.get(1)?.flips ?? [];
    assert.deepEqual(flips.map((f) => [f.before.label, f.after.label, f.after.detail]).sort(), [[0, 1, "score 1; pred='4'"], [1, 0, "score 0; pred='7.0'"]]);
    const samples = JSON.parse(`[${before.trim().split('\n').join(',')}]`) as RolloutSample[];
    const folded = withReverify(samples, result, 1);
    assert.deepEqual(folded.samples.filter((s) => s.reverified).map((s) => s.response).sort(), ['7.0', '\\boxed{4}']);
    assert.equal(samples.filter((s) => s.reverified).length, 0, 'the loaded samples are not changed');
    assert.deepEqual(folded.summary?.step, { checked: 4, up: 1, down: 1 });
    assert.equal(withReverify(samples, result, 2).summary?.step, null);
  });

  test('a verifier that does not load is an error naming it, and nothing is written', async () => {
    verlDump(join(work, 'dump2'));
    const [runDir] = await importRuns({ source: join(work, 'dump2'), runsRoot: join(work, 'runs'), python: PYTHON });
    await assert.rejects(reverifyRun({ runDir, python: PYTHON, verifier: `python:${join(work, 'nothing.py')}:check` }),
      (err: Error) => err instanceof ReverifyError && err.message.includes('cannot import'));
    assert.equal(await readLatestReverify(runDir), null);
  });

  test('Add as Verifier Case writes a cases file verify-cases reads, naming it in the config with its comments kept', async () => {
    const config = join(work, 'exp.pacs.yaml');
    writeFileSync(config, '# my experiment\ntask:\n  verifier: exact  # strict\n');
    const first = await addVerifierCase(config, { prompt: '3*4=', response: '\\boxed{12}', answer: '12', expected: 1, note: 'boxed' });
    assert.deepEqual(first, { casesPath: join(work, defaultCasesName(config)), line: 1, keyAdded: true });
    assert.equal(defaultCasesName(config), 'exp.cases.jsonl');
    const text = readFileSync(config, 'utf8');
    assert.match(text, /# my experiment/);
    assert.match(text, /verifier: exact +# strict/);
    assert.match(text, /verifier_cases: exp\.cases\.jsonl/);
    const second = await addVerifierCase(config, { prompt: '3*4=', response: '13', answer: '12', expected: 0 });
    assert.deepEqual(second, { casesPath: first.casesPath, line: 2, keyAdded: false });
    const run = spawnSync(PYTHON, ['-m', 'pacslab', 'verify-cases', config], { encoding: 'utf8' });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /line 1 \(boxed\): expected 1, got 0/);
    assert.doesNotMatch(run.stderr, /line 2/);
  });
});

describe('reverify results', () => {
  test('a result file of the wrong shape is not one', () => {
    assert.equal(parseReverify({ verifier: 'exact', steps: [], total: { checked: -1, up: 0, down: 0 } }), null);
    assert.equal(parseReverify({ verifier: 1, steps: [], total: { checked: 0, up: 0, down: 0 } }), null);
    const parsed = parseReverify({
      verifier: 'math', created_at: 't', total: { checked: 2, up: 1, down: 0 },
      steps: [{ step: 3, checked: 2, up: [{ group: 0, index: 1, before: { label: 0 }, after: { label: 1, detail: '<img src=x>' } }, { group: 'x' }], down: [] }],
    });
    assert.deepEqual(parsed?.steps.get(3)?.flips, [{ group: 0, index: 1, before: { label: 0, parsed: null, detail: null, error: null }, after: { label: 1, parsed: null, detail: '<img src=x>', error: null } }]);
  });

  test('a case line holds only what the trainer reads', () => {
    assert.equal(caseLine({ prompt: 'p', response: 'r', answer: 'a', expected: 0, extra_info: null }), '{"prompt":"p","response":"r","answer":"a","expected":0}\n');
  });
});
