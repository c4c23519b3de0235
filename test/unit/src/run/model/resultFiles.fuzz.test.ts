// Property tests of the readers of the files that diagnostics, the verifier audit and sweeps added to
// a run folder (issue 25's rule, for ledger.jsonl, heldout/step-N.jsonl, reverify/*.json and a
// sweep's sweep.json, trials.json, importance.json): on hostile content no exception escapes and
// what comes back has the documented types; symlinks, oversized and too-deep files are not read.
// PACS_FUZZ_RUNS sets the cases per property (`make fuzz` runs many more than `make test`).
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RUN_LIMITS } from '../../../../../src/run/model/boundedJson';
import { parseHeldout } from '../../../../../src/diagnostics/model/heldout';
import { parseLedger, STATUSES, summarizePrompts } from '../../../../../src/diagnostics/model/promptLedger';
import { parseHeldoutPart, parseReverify, readLatestReverify } from '../../../../../src/runs/model/reverify';
import { readSweeps, readTrials, readImportance } from '../../../../../src/sweeps/model/sweepFiles';
import { parseImportance, parseSweepInfo, parseTrials, TRIAL_STATES } from '../../../../../src/sweeps/model/sweepFormat';
import { deepJson, FUZZ_RUNS, scratchFolders } from '../../../helpers/fuzz';

const RUNS = FUZZ_RUNS;
const FOLDER_RUNS = Math.max(20, Math.floor(RUNS / 10));
const fresh = scratchFolders('pacs-fuzz-results-');
const deep = deepJson;
const hostileNumber = fc.oneof(fc.double(), fc.constantFrom(1e308, -1, -0, 2 ** 53 + 1, 0.5), fc.integer());
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string(),
  hostileNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }),
);
/** A field that is usually of the right kind, often not. */
const count = fc.oneof(fc.nat({ max: 8 }), hostileValue);
const ints = fc.oneof(fc.array(fc.nat({ max: 6 }), { maxLength: 5 }), hostileValue);

const ledgerLine = fc.oneof(
  fc.record({ step: count, new: fc.oneof(fc.array(fc.tuple(fc.string(), fc.oneof(fc.string(), fc.constant(null), hostileValue)), { maxLength: 4 }), hostileValue), p: ints, c: ints, n: fc.oneof(count, ints) })
    .map((o) => JSON.stringify(o)),
  deep.map((d) => `{"step":1,"new":${d}}`),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
);
const heldoutLine = fc.oneof(
  fc.record({ id: fc.oneof(fc.string(), hostileValue), set: hostileValue, data_source: hostileValue, greedy_correct: fc.oneof(fc.boolean(), hostileValue), correct: count, samples: count, greedy: hostileValue, responses: fc.oneof(fc.array(hostileValue, { maxLength: 3 }), hostileValue) })
    .map((o) => JSON.stringify(o)),
  deep.map((d) => `{"id":"p","responses":${d}}`),
  fc.string(),
);
const verdictValue = fc.oneof(fc.record({ label: fc.oneof(fc.constantFrom(0, 1), hostileValue), parsed: hostileValue, detail: hostileValue, error: hostileValue }), hostileValue);
const flipValue = fc.oneof(fc.record({ group: count, index: count, before: verdictValue, after: verdictValue }), hostileValue);
const countsValue = fc.oneof(fc.record({ checked: count, up: count, down: count }), hostileValue);
const heldoutPart = fc.oneof(
  fc.record({ total: fc.oneof(fc.record({ examples: count, greedy: count, samples: count, sampled: count }), hostileValue), steps: fc.oneof(fc.array(fc.record({ step: count, sets: fc.oneof(fc.array(hostileValue, { maxLength: 2 }), hostileValue) }), { maxLength: 3 }), hostileValue) }),
  hostileValue,
);
const reverifyValue = fc.oneof(
  fc.record({
    verifier: fc.oneof(fc.string(), hostileValue), created_at: hostileValue, total: countsValue, eval: fc.option(heldoutPart, { nil: undefined }),
    steps: fc.oneof(fc.array(fc.record({ step: count, checked: count, up: fc.oneof(fc.array(flipValue, { maxLength: 3 }), hostileValue), down: fc.oneof(fc.array(flipValue, { maxLength: 3 }), hostileValue) }), { maxLength: 4 }), hostileValue),
  }),
  hostileValue,
);
const paramsValue = fc.oneof(fc.dictionary(fc.string(), hostileValue, { maxKeys: 3 }), hostileValue);
const sweepValue = fc.oneof(
  fc.record({
    id: fc.oneof(fc.string(), hostileValue), name: hostileValue, status: fc.oneof(fc.constantFrom('running', 'finished', 'paused'), hostileValue), method: hostileValue,
    metric: fc.oneof(fc.record({ name: hostileValue, goal: hostileValue, at: hostileValue }), hostileValue), parameters: hostileValue, seeds: fc.oneof(ints, hostileValue),
    n_trials: count, n_runs: count, parallel: count, counts: fc.oneof(fc.record({ running: count, complete: count, total: count }), hostileValue),
    best: fc.oneof(fc.record({ trial: count, value: hostileNumber, params: paramsValue, runs: hostileValue }), hostileValue),
    controller: fc.oneof(fc.record({ pid: count, pid_start_time: hostileValue, host: hostileValue }), hostileValue), config_path: hostileValue,
  }),
  hostileValue,
);
const trialsValue = fc.oneof(
  fc.record({ trials: fc.oneof(fc.array(fc.record({ number: count, state: fc.oneof(fc.constantFrom(...TRIAL_STATES), hostileValue), params: paramsValue, value: hostileNumber, pruned: hostileValue, error: hostileValue, runs: fc.oneof(fc.array(fc.record({ seed: count, run_id: hostileValue }), { maxLength: 2 }), hostileValue) }), { maxLength: 4 }), hostileValue) }),
  hostileValue,
);
const importanceValue = fc.oneof(fc.record({ importance: fc.oneof(fc.dictionary(fc.string(), hostileValue, { maxKeys: 3 }), hostileValue), reason: hostileValue }), hostileValue);

const isCount = (x: unknown) => Number.isInteger(x) && (x as number) >= 0;
const isParamValue = (v: unknown) => v === null || ['number', 'string', 'boolean'].includes(typeof v);
const isTextOrNull = (v: unknown) => v === null || typeof v === 'string';

function checkTrials(trials: ReturnType<typeof parseTrials>): void {
  for (const t of trials) {
    assert.ok(Number.isInteger(t.number) && TRIAL_STATES.includes(t.state));
    assert.ok(Object.values(t.params).every(isParamValue));
    assert.ok(t.value === null || Number.isFinite(t.value));
    assert.ok(isTextOrNull(t.error));
    assert.ok(t.runs.every((r) => Number.isInteger(r.seed) && isTextOrNull(r.runId)));
  }
}

describe('fuzz: diagnostics, verifier and sweep files', () => {
  test('parseLedger: rows of whole counts and string ids, every other line named as bad; the summaries never throw', () => {
    fc.assert(
      fc.property(fc.array(ledgerLine, { maxLength: 8 }), fc.boolean(), (lines, torn) => {
        const { rows, bad } = parseLedger(lines.join('\n') + (torn ? '' : '\n'));
        for (const r of rows) {
          assert.ok(isCount(r.step) && isCount(r.correct) && isCount(r.n) && typeof r.id === 'string' && isTextOrNull(r.source));
        }
        assert.ok(bad.every((b) => /^line \d+: /.test(b)));
        assert.ok(summarizePrompts(rows).every((p) => STATUSES.includes(p.status)));
      }),
      { numRuns: RUNS },
    );
  });

  test('parseHeldout: examples of documented types; responses only text', () => {
    fc.assert(
      fc.property(fc.array(heldoutLine, { maxLength: 6 }), (lines) => {
        const { examples, bad } = parseHeldout(lines.join('\n') + '\n');
        assert.ok(isCount(bad) && bad <= lines.length);
        for (const e of examples) {
          assert.ok(typeof e.id === 'string' && typeof e.greedyCorrect === 'boolean' && isCount(e.correct) && isCount(e.samples));
          assert.ok(isTextOrNull(e.set) && isTextOrNull(e.source) && typeof e.greedy === 'string');
          assert.ok(e.responses.every((r) => typeof r === 'string'));
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('parseReverify and parseHeldoutPart: null or a result of documented types, never an exception', () => {
    fc.assert(
      fc.property(reverifyValue, (value) => {
        const r = parseReverify(value);
        if (r === null) return;
        assert.equal(typeof r.verifier, 'string');
        assert.ok(isCount(r.total.checked) && isCount(r.total.up) && isCount(r.total.down));
        for (const [step, s] of r.steps) {
          assert.ok(Number.isInteger(step) && isCount(s.checked) && isCount(s.up) && isCount(s.down));
          assert.ok(s.flips.every((f) => Number.isInteger(f.group) && Number.isInteger(f.index) && [0, 1].includes(f.before.label) && [0, 1].includes(f.after.label)));
          assert.ok(s.flips.every((f) => [f.before, f.after].every((v) => [v.parsed, v.detail, v.error].every((x) => x === null || x === undefined || typeof x === 'string'))));
        }
      }),
      { numRuns: RUNS },
    );
    fc.assert(fc.property(heldoutPart, (value) => { parseHeldoutPart(value); }), { numRuns: RUNS });
  });

  test('parseSweepInfo, parseTrials, parseImportance: documented types, never an exception', () => {
    fc.assert(
      fc.property(sweepValue, trialsValue, importanceValue, (sweep, trials, importance) => {
        const info = parseSweepInfo(sweep, '/s');
        if (info) {
          assert.ok(typeof info.id === 'string' && typeof info.name === 'string' && ['maximize', 'minimize'].includes(info.metric.goal));
          assert.ok(info.seeds.every(Number.isInteger) && info.parameters.every((p) => typeof p === 'string'));
          assert.ok(Number.isInteger(info.nTrials) && Number.isInteger(info.parallel));
          assert.ok(info.best === null || (Number.isInteger(info.best.trial) && Number.isFinite(info.best.value) && Object.values(info.best.params).every(isParamValue)));
          assert.ok(info.controller === null || Number.isInteger(info.controller.pid));
        }
        checkTrials(parseTrials(trials));
        const imp = parseImportance(importance);
        assert.ok(imp.importance === null || Object.values(imp.importance).every(Number.isFinite));
        assert.ok(isTextOrNull(imp.reason));
      }),
      { numRuns: RUNS },
    );
  });

  test('on disk: a symlinked, oversized or too-deep reverify or sweep file is not read; the readers never throw', async () => {
    // (a hard link is read as the file it is: only text copied into run.json must have one name)
    const kinds = ['plain', 'symlink', 'oversized', 'deep', 'folder'] as const;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...kinds), reverifyValue, trialsValue, async (kind, reverify, trials) => {
        const outside = join(fresh(), 'secret.json');
        const good = { verifier: 'exact', total: { checked: 1, up: 1, down: 0 }, steps: [] };
        writeFileSync(outside, JSON.stringify(good));
        const run = fresh();
        mkdirSync(join(run, 'reverify'));
        const sweeps = fresh();
        const sweep = join(sweeps, '20261207-120000-grid-abcd');
        mkdirSync(sweep);
        writeFileSync(join(sweep, 'sweep.json'), JSON.stringify({ id: 'sw', name: 'grid' }));
        const place = (file: string, text: string) => {
          if (kind === 'symlink') symlinkSync(outside, file);
          else if (kind === 'folder') mkdirSync(file);
          else if (kind === 'deep') writeFileSync(file, `{"verifier":"x","trials":${'['.repeat(RUN_LIMITS.maxDepth + 1)}${']'.repeat(RUN_LIMITS.maxDepth + 1)}}`);
          else {
            writeFileSync(file, text);
            if (kind === 'oversized') truncateSync(file, RUN_LIMITS.maxResultFileBytes + 1); // sparse: cheap
          }
        };
        place(join(run, 'reverify', '20261207T120000Z.json'), JSON.stringify(reverify));
        place(join(sweep, 'trials.json'), JSON.stringify(trials));
        place(join(sweep, 'importance.json'), '{"importance":{"lr":1}}');
        const result = await readLatestReverify(run);
        const listed = await readSweeps(sweeps);
        const read = await readTrials(sweep);
        const importance = await readImportance(sweep);
        assert.equal(listed.length, 1, 'the sweep still lists');
        checkTrials(read);
        if (kind !== 'plain') {
          assert.equal(result, null, `a ${kind} reverify file is not read`);
          assert.deepEqual(read, [], `a ${kind} trials.json is not read`);
          assert.equal(importance.importance, null);
        } else {
          assert.deepEqual(result, parseReverify(reverify));
          assert.deepEqual(importance.importance, { lr: 1 });
        }
      }),
      { numRuns: FOLDER_RUNS },
    );
  });
});
