// Property tests of every run-file reader against hostile run folders (issue 25): wrong types, deep
// nesting, huge and torn lines, links of every kind, escape sequences, out-of-range numbers. No
// exception escapes, nothing outside the folder is read or written, the other runs still list.
// PACS_FUZZ_RUNS sets the cases per property (`make fuzz` runs many more than `make test`).
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isValidSeq, nestsDeeperThan, parseBoundedJson } from '../../../../../src/run/model/boundedJson';
import { maxSeq } from '../../../../../src/runs/model/control';
import { JsonlTail, readJsonlFile } from '../../../../../src/run/model/events';
import { parseRunInfo, trainerLogTail } from '../../../../../src/run/model/runDir';
import { runInfoProblem } from '../../../../../src/run/model/runSchema';
import { RunStore } from '../../../../../src/runs/model/runStore';
import { externalDataLocations, OnnxFormatError } from '../../../../../src/scoring/model/onnxExternalData';
import { terminalLines, terminalText } from '../../../../../src/run/model/terminalText';
import { makeRun, runInfo } from '../../../helpers/runFixtures';
import { deepJson, FUZZ_RUNS, scratchFolders } from '../../../helpers/fuzz';

const RUNS = FUZZ_RUNS;
const FOLDER_RUNS = Math.max(20, Math.floor(RUNS / 6));
const fresh = scratchFolders('pacs-fuzz-');
const deep = deepJson;
const escapes = fc.constantFrom('\u001b[2J', '\u001b]0;owned\u0007', '\u009b31m', '\r', '\u202e', '\u0000', '\u001b]8;;http://x\u001b\\');
const hostileText = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), escapes, fc.tuple(fc.string(), escapes).map(([a, b]) => a + b));
const hostileNumber = fc.oneof(fc.double(), fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -0), fc.integer());
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileText,
  hostileNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }),
);
const RUN_FIELDS = ['format', 'id', 'name', 'algorithm', 'status', 'pid', 'pid_start_time', 'host', 'created_at', 'updated_at', 'step', 'total_steps', 'config_path', 'seed', 'git', 'versions', 'error', 'loss_metric', 'heartbeat_s', 'source'];
const runJsonText = fc.oneof(
  fc.dictionary(fc.constantFrom(...RUN_FIELDS), hostileValue).map((fields) => JSON.stringify({ ...runInfo('x'), ...fields })),
  fc.record({ commit: hostileValue, branch: hostileValue, dirty: hostileValue }).map((git) => JSON.stringify({ ...runInfo('x'), git })),
  deep.map((d) => `{"id":"x","v":${d}}`),
  fc.string(),
  fc.constantFrom('{"step": 1e999}', '{"step": NaN}', '[]', 'null', '{"id": "x"', ''),
);
const eventLine = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.record({ t: hostileValue, type: fc.constantFrom('metrics', 'eval', 'rollouts', 'checkpoint', 'state', 'control_ack', 'log', 'error', 'run_started', 'run_finished', 'other'), step: hostileValue, values: hostileValue, seq: hostileValue, status: hostileValue, message: hostileValue, config: hostileValue, path: hostileValue }).map((e) => JSON.stringify(e)),
  deep.map((d) => `{"type":"run_started","config":${d}}`),
  fc.integer({ min: 1, max: 5000 }).map((k) => `{"type":"log","message":"${'x'.repeat(k)}"}`),
  fc.string(),
);

describe('fuzz: bounded JSON', () => {
  test('parseBoundedJson agrees with JSON.parse on every value within the depth cap, and only ever throws SyntaxError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.string(), deep), (text) => {
        let ours: unknown;
        try {
          ours = parseBoundedJson(text);
        } catch (err) {
          assert.ok(err instanceof SyntaxError, `${(err as Error).name}: ${(err as Error).message}`);
          return;
        }
        assert.deepEqual(ours, JSON.parse(text));
        assert.equal(nestsDeeperThan(text, 64), false);
      }),
      { numRuns: RUNS },
    );
  });

  test('terminalText leaves no control character; terminalLines only newlines and tabs', () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        assert.doesNotMatch(terminalText(text), /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u);
        assert.doesNotMatch(terminalLines(text).replace(/[\n\t]/g, ''), /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u);
      }),
      { numRuns: RUNS },
    );
  });

  test('externalDataLocations on any bytes: a list of strings or an OnnxFormatError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          assert.ok(externalDataLocations(bytes).every((s) => typeof s === 'string'));
        } catch (err) {
          assert.ok(err instanceof OnnxFormatError, String(err));
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: line readers', () => {
  test('JsonlTail read piece by piece gives what one read of the whole file gives; no line over the cap is held', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventLine, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), async (lines, cuts, torn) => {
        const text = lines.join('\n') + (torn ? '' : '\n');
        const bytes = Buffer.from(text, 'utf8');
        const dir = fresh();
        const whole = new JsonlTail(join(dir, 'whole.jsonl'), 0, 1024);
        writeFileSync(join(dir, 'whole.jsonl'), bytes);
        const once = await whole.read();
        const piecewise = new JsonlTail(join(dir, 'pieces.jsonl'), 0, 1024);
        const records: unknown[] = [];
        const bad: number[] = [];
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        let from = 0;
        writeFileSync(join(dir, 'pieces.jsonl'), '');
        for (const to of [...points, bytes.length]) {
          writeFileSync(join(dir, 'pieces.jsonl'), bytes.subarray(from, to), { flag: 'a' });
          from = to;
          const r = await piecewise.read();
          records.push(...r.records);
          bad.push(...r.badLines.map((b) => b.line));
        }
        assert.deepEqual(records, once.records);
        assert.deepEqual(bad, once.badLines.map((b) => b.line));
        assert.equal(piecewise.position, whole.position);
      }),
      { numRuns: RUNS },
    );
  });

  test('readJsonlFile and maxSeq never throw on hostile lines; maxSeq is 0 or a valid seq', async () => {
    const seqLine = fc.record({ seq: hostileValue, command: hostileValue }).map((r) => JSON.stringify(r));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(eventLine, seqLine, fc.constantFrom('{"seq": 1e999}', '{"seq": "7"}')), { maxLength: 10 }), async (lines) => {
        const path = join(fresh(), 'control.jsonl');
        writeFileSync(path, lines.join('\n'));
        const seq = await maxSeq(path);
        assert.ok(seq === 0 || isValidSeq(seq));
        await readJsonlFile(path);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: hostile run folders', () => {
  const linkKinds = ['none', 'run.json', 'events.jsonl', 'trainer.log', 'rollouts', 'hardlog'] as const;

  test('the store lists the good run, never throws, and leaves files outside untouched', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ info: runJsonText, events: fc.array(eventLine, { maxLength: 6 }), link: fc.constantFrom(...linkKinds), name: fc.oneof(fc.constant(''), escapes) }), { minLength: 1, maxLength: 4 }),
        async (runs) => {
          const root = fresh();
          const secret = join(fresh(), 'secret.txt');
          writeFileSync(secret, 'SECRET\n');
          const good = makeRun(root, '20261127-030000-good-0000');
          runs.forEach((r, i) => {
            const dir = join(root, `20261127-030000-bad${i}${r.name.replace(/[/\\\0]/g, '')}`);
            mkdirSync(dir);
            writeFileSync(join(dir, 'events.jsonl'), r.events.join('\n') + '\n');
            if (r.link === 'run.json') symlinkSync(secret, join(dir, 'run.json'));
            else writeFileSync(join(dir, 'run.json'), r.info);
            if (r.link === 'events.jsonl') {
              rmSync(join(dir, 'events.jsonl'));
              symlinkSync(secret, join(dir, 'events.jsonl'));
            }
            if (r.link === 'trainer.log') symlinkSync(secret, join(dir, 'trainer.log'));
            if (r.link === 'hardlog') linkSync(secret, join(dir, 'trainer.log'));
            if (r.link === 'rollouts') symlinkSync(join(secret, '..'), join(dir, 'rollouts'));
          });
          const store = new RunStore({ roots: [root], detectCrashes: false });
          store.onDidError(() => undefined);
          try {
            await store.refresh();
            assert.ok(store.get('20261127-030000-good-0000'), 'the good run still lists');
            for (const run of store.runs()) {
              assert.equal(runInfoProblem(run.info), null, `${run.id} is listed only with documented types`);
              assert.doesNotMatch(await trainerLogTail(run.dir), /SECRET/);
            }
          } finally {
            store.dispose();
          }
          assert.equal(readFileSync(secret, 'utf8'), 'SECRET\n');
          assert.ok(good);
        },
      ),
      { numRuns: FOLDER_RUNS },
    );
  });

  test('parseRunInfo: a RunFileError or a run.json of documented types, never another exception', () => {
    fc.assert(
      fc.property(runJsonText, (text) => {
        try {
          const info = parseRunInfo(text, '/r/run.json', '/r');
          assert.equal(runInfoProblem(info), null);
        } catch (err) {
          assert.equal((err as Error).name, 'RunFileError', String(err));
        }
      }),
      { numRuns: RUNS },
    );
  });
});
