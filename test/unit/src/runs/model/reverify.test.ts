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
import { hasHeldoutResults, parseHeldoutPart, parseReverify, readLatestReverify, ReverifyError, reverifyMessage, reverifyRun } from '../../../../../src/runs/model/reverify';
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

  test('--eval re-verifies the held-out results: flips and accuracy per evaluation and set', async () => {
    const runDir = join(work, 'runs', 'heldout-run');
    mkdirSync(join(runDir, 'heldout'), { recursive: true });
    writeFileSync(join(runDir, 'run.json'), JSON.stringify({ status: 'finished' }));
    // the old verifier accepted "twelve" and refused "12.0"; `exact` reads numbers by value
    const row = { set: null, id: 'a', data_source: null, greedy_correct: false, correct: 1, samples: 2, greedy: '12.0',
      responses: ['twelve', '12'], labels: [1, 0], k: [1, 2], prompt: '3*4=', answer: '12' };
    writeFileSync(join(runDir, 'heldout', 'step-000004.jsonl'), JSON.stringify(row) + '\n');
    assert.equal(await hasHeldoutResults(runDir), true);
    const out = await reverifyRun({ runDir, python: PYTHON, verifier: 'exact', eval: true });
    assert.deepEqual(out.total, { checked: 0, up: 0, down: 0 });
    assert.deepEqual(out.heldout?.total, { examples: 1, checked: 1, greedy: { up: 1, down: 0 }, sampled: { checked: 2, up: 1, down: 1 } });
    const [set] = out.heldout?.steps[0]?.sets ?? [];
    assert.equal(out.heldout?.steps[0]?.step, 4);
    assert.deepEqual(set.accuracy, { before: 0, after: 1 });
    assert.deepEqual(set.passAtK, [{ k: 1, before: 0.5, after: 0.5 }, { k: 2, before: 1, after: 1 }]);
    assert.deepEqual((await readLatestReverify(runDir))?.heldout, out.heldout);
    assert.equal(reverifyMessage('r', out), 're-verified r with exact: no training rollouts to re-verify. '
      + 'Held-out: 1 of 1 greedy and 2 of 2 sampled labels changed. '
      + 'At step 4, held-out split: accuracy 0.0% → 100.0%, pass@1 50.0% → 50.0%, pass@2 100.0% → 100.0%.');
    assert.equal(await hasHeldoutResults(join(work, 'runs', 'none')), false);
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

  test('the held-out part is read when it is there, its bad sets left out, and said in the summary', () => {
    const set = (name: unknown, accuracy: unknown) => ({
      set: name, examples: 3, checked: 2, greedy: { up: 1, down: 0 }, sampled: { checked: 6, up: 1, down: 1 }, accuracy,
      pass_at_k: { 8: { before: 0.5, after: 0.75 }, 1: { before: 0.25, after: 0.5 }, x: { before: 0, after: 0 }, 2: { before: 2, after: 0 } },
    });
    const document = {
      verifier: 'python:checks.py:check', created_at: 't', total: { samples: 7, checked: 7, up: 2, down: 1 }, steps: [],
      eval: {
        total: { examples: 6, checked: 4, greedy: { up: 1, down: 1 }, sampled: { checked: 10, up: 3, down: 1 } },
        steps: [
          { step: 0, sets: [set(null, { before: 0.5, after: 1 })] },
          { step: 10, sets: [set(null, { before: 0.275, after: 0.3 }), set('hard', { before: 1, after: 0 }), set(7, null), { set: 'x' }] },
          { step: 'x', sets: [] },
        ],
      },
    };
    const parsed = parseReverify(document);
    assert.equal(parseReverify({ ...document, eval: undefined })?.heldout, null);
    assert.equal(parseReverify({ ...document, eval: { steps: [], total: { examples: 1 } } })?.heldout, null);
    assert.deepEqual(parsed?.heldout?.steps.map((s) => [s.step, s.sets.map((r) => r.set)]), [[0, [null]], [10, [null, 'hard']]]);
    assert.deepEqual(parsed?.heldout?.steps[1].sets[1].passAtK, [{ k: 1, before: 0.25, after: 0.5 }, { k: 8, before: 0.5, after: 0.75 }]);
    assert.ok(parsed);
    assert.equal(reverifyMessage('run-1', parsed), 're-verified run-1 with python:checks.py:check: 3 of 7 training labels changed (2 0→1, 1 1→0). '
      + 'Held-out: 2 of 4 greedy and 4 of 10 sampled labels changed. '
      + 'At step 10, held-out split: accuracy 27.5% → 30.0%, pass@1 25.0% → 50.0%, pass@8 50.0% → 75.0%; '
      + 'set hard: accuracy 100.0% → 0.0%, pass@1 25.0% → 50.0%, pass@8 50.0% → 75.0%.');
    assert.equal(reverifyMessage('run-1', { ...parsed, heldout: null }), 're-verified run-1 with python:checks.py:check: 3 of 7 training labels changed (2 0→1, 1 1→0).');
  });

  test('the data sources of a set are read, sorted as written, and only those whose accuracy changed are said', () => {
    const source = (name: unknown, before: number, after: number) => ({
      data_source: name, checked: 2, accuracy: { before, after }, pass_at_k: { 1: { before: 0.5, after: 0.25 }, x: { before: 0, after: 0 } },
    });
    const held = {
      set: 'mix', examples: 6, checked: 6, greedy: { up: 1, down: 2 }, sampled: { checked: 24, up: 1, down: 3 },
      accuracy: { before: 0.5, after: 0.375 }, pass_at_k: {},
      sources: [source('AIME', 0.5, 0), source('AMC', 0.5, 0.5), source('MATH-500', 0.25, 0.75), source(3, 0, 1),
        { data_source: 'bad', checked: 1, accuracy: { before: 2, after: 0 } }, source('a', 0, 1), source('b', 0, 1), source('c', 1, 0)],
    };
    const parsed = parseHeldoutPart({ total: { examples: 6, checked: 6, greedy: { up: 1, down: 2 }, sampled: { checked: 24, up: 1, down: 3 } },
      steps: [{ step: 5, sets: [held] }] });
    const [set] = parsed?.steps[0].sets ?? [];
    assert.deepEqual(set.sources.map((x) => x.dataSource), ['AIME', 'AMC', 'MATH-500', 'a', 'b', 'c']);
    assert.deepEqual(set.sources[0], { dataSource: 'AIME', checked: 2, accuracy: { before: 0.5, after: 0 }, passAtK: [{ k: 1, before: 0.5, after: 0.25 }] });
    assert.ok(parsed);
    const out = { verifier: 'math', total: { checked: 0, up: 0, down: 0 }, heldout: parsed };
    assert.equal(reverifyMessage('r', out), 're-verified r with math: no training rollouts to re-verify. '
      + 'Held-out: 3 of 6 greedy and 4 of 24 sampled labels changed. At step 5, set mix: accuracy 50.0% → 37.5% '
      + '(accuracy by data source: AIME 50.0% → 0.0%, MATH-500 25.0% → 75.0%, a 0.0% → 100.0%, b 0.0% → 100.0%, 1 more).');
    const unchanged = { ...held, sources: [source('AIME', 0.5, 0.5), source('AMC', 1, 1)] };
    const same = parseHeldoutPart({ total: held, steps: [{ step: 5, sets: [unchanged] }] });
    assert.ok(same);
    assert.equal(reverifyMessage('r', { ...out, heldout: same }).endsWith('At step 5, set mix: accuracy 50.0% → 37.5%.'), true);
    assert.deepEqual(parseHeldoutPart({ total: held, steps: [{ step: 5, sets: [{ ...held, sources: 'x' }] }] })?.steps[0].sets[0].sources, []);
  });

  test('a case line holds only what the trainer reads', () => {
    assert.equal(caseLine({ prompt: 'p', response: 'r', answer: 'a', expected: 0, extra_info: null }), '{"prompt":"p","response":"r","answer":"a","expected":0}\n');
  });
});
