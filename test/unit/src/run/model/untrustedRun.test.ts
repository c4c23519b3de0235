// Issue 25: a run folder is untrusted everywhere. Wrong-typed fields, deep nesting, huge lines and a
// tampered control.jsonl cost one run (or one line) with a reason, never the list or later commands.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { nestsDeeperThan, parseBoundedJson, RUN_LIMITS } from '../../../../../src/run/model/boundedJson';
import { maxSeq } from '../../../../../src/runs/model/control';
import { JsonlTail, readJsonlFile } from '../../../../../src/run/model/events';
import { parseRunInfo, trainerLogTail } from '../../../../../src/run/model/runDir';
import { RunStore } from '../../../../../src/runs/model/runStore';
import { terminalLines, terminalText } from '../../../../../src/run/model/terminalText';
import { REPO } from '../../../helpers/repo';
import { appendEvents, makeRun, metricsEvent, runInfo } from '../../../helpers/runFixtures';

const base = mkdtempSync(join(tmpdir(), 'pacs-untrusted-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const dir = join(base, `case-${n++}`);
  mkdirSync(dir);
  return dir;
};
const deep = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

async function listed(root: string): Promise<{ ids: string[]; errors: string[] }> {
  const store = new RunStore({ roots: [root], detectCrashes: false });
  const errors: string[] = [];
  store.onDidError(({ message }) => errors.push(message));
  try {
    await store.refresh();
    return { ids: store.runs().map((r) => r.id).sort(), errors };
  } finally {
    store.dispose();
  }
}

describe('run.json fields are checked against their documented types', () => {
  test('a numeric git.commit makes that run unreadable, naming the field; the other runs still list', async () => {
    const root = fresh();
    makeRun(root, '20261127-030000-arith-aaaa');
    const bad = makeRun(root, '20261127-030000-arith-bbbb');
    writeFileSync(join(bad, 'run.json'), JSON.stringify({ ...runInfo('x'), git: { commit: 12345, branch: 'main', dirty: false, snapshot: null, ref: null } }));
    const { ids, errors } = await listed(root);
    assert.deepEqual(ids, ['20261127-030000-arith-aaaa']);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /run\.json has "git\.commit" = number 12345, where docs\/run-format\.md says string or null/);
  });

  for (const [field, value] of [['step', 'ten'], ['pid', 'init'], ['error', 'boom'], ['versions', []], ['git', 'main'], ['created_at', 3]] as const) {
    test(`run.json with ${field} = ${JSON.stringify(value)} is refused by name`, () => {
      const text = JSON.stringify({ ...runInfo('r'), [field]: value });
      assert.throws(() => parseRunInfo(text, '/r/run.json', '/r'), (err: Error) => err.name === 'RunFileError' && err.message.includes(`"${field}"`));
    });
  }

  test('a run.json nested 100,000 levels deep is one unreadable run, not a RangeError', async () => {
    const root = fresh();
    makeRun(root, '20261127-030000-arith-aaaa');
    const bad = makeRun(root, '20261127-030000-arith-bbbb');
    writeFileSync(join(bad, 'run.json'), `{"id":"x","extra":${deep(100_000)}}`);
    const { ids, errors } = await listed(root);
    assert.deepEqual(ids, ['20261127-030000-arith-aaaa']);
    assert.match(errors[0], /nested deeper than 64 levels/);
  });

  test('a run.json over its size cap is not read', async () => {
    const root = fresh();
    const dir = makeRun(root, '20261127-030000-arith-aaaa');
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...runInfo('x'), pad: 'x'.repeat(RUN_LIMITS.maxInfoBytes) }));
    const { ids, errors } = await listed(root);
    assert.deepEqual(ids, []);
    assert.match(errors[0], /more than the \d+ PACS Lab reads/);
  });
});

describe('depth cap', () => {
  test('brackets inside strings do not count; escaped quotes do not end a string', () => {
    assert.equal(nestsDeeperThan(JSON.stringify({ a: '[[[[[[', b: 'x\\"[[[[' }), 2), false);
    assert.equal(nestsDeeperThan(deep(3), 2), true);
    assert.equal(nestsDeeperThan(deep(2), 2), false);
    assert.throws(() => parseBoundedJson(deep(65)), /nested deeper than 64/);
    assert.deepEqual(parseBoundedJson('{"a":[1,{"b":2}]}'), { a: [1, { b: 2 }] });
  });

  test('a deeply nested event is one bad line; the events after it in the same pass are read', async () => {
    const root = fresh();
    const dir = makeRun(root, '20261127-030000-arith-aaaa');
    appendEvents(dir, [metricsEvent(1, { 'reward/mean': 0.1 })]);
    appendFileSync(join(dir, 'events.jsonl'), `{"t":1,"type":"run_started","config":${deep(100_000)}}\n`);
    appendEvents(dir, [metricsEvent(2, { 'reward/mean': 0.2 }), metricsEvent(3, { 'reward/mean': 0.3 })]);
    const store = new RunStore({ roots: [root], detectCrashes: false });
    try {
      await store.refresh();
      const run = store.get('20261127-030000-arith-aaaa');
      assert.equal(run?.events.badLines, 1);
      assert.match(run?.events.firstBadLines[0].error ?? '', /nested deeper/);
      assert.deepEqual(store.metricSeries('20261127-030000-arith-aaaa').get('reward/mean')?.steps, [1, 2, 3]);
    } finally {
      store.dispose();
    }
  });
});

describe('line cap', () => {
  test('a torn line over the cap is read past once, never held or read again, and counted when it ends', async () => {
    const path = join(fresh(), 'events.jsonl');
    writeFileSync(path, '{"a":1}\n' + `{"big":"${'x'.repeat(5000)}`);
    const tail = new JsonlTail(path, 0, 1024);
    const first = await tail.read();
    assert.deepEqual(first.records, [{ a: 1 }]);
    assert.equal(first.badLines.length, 0, 'not complete yet: not reported yet');
    assert.equal(tail.position, statSync(path).size, 'the long line is consumed, so the next poll does not read it again');
    appendFileSync(path, 'x'.repeat(3000));
    await tail.read();
    assert.equal(tail.position, statSync(path).size);
    appendFileSync(path, '"}\n{"b":2}\n');
    const last = await tail.read();
    assert.deepEqual(last.records, [{ b: 2 }]);
    assert.equal(last.badLines.length, 1);
    assert.equal(last.badLines[0].line, 2);
    assert.match(last.badLines[0].error, /longer than the 1 KiB/);
    assert.ok(last.badLines[0].snippet.startsWith('{"big":"xxx'));
    assert.equal(tail.lineCount, 3);
  });

  test('complete lines over the cap inside one chunk are skipped with their numbers', async () => {
    const path = join(fresh(), 'events.jsonl');
    writeFileSync(path, `{"a":1}\n"${'y'.repeat(2000)}"\n{"c":3}\n`);
    const read = await new JsonlTail(path, 0, 1024).read();
    assert.deepEqual(read.records, [{ a: 1 }, { c: 3 }]);
    assert.deepEqual(read.badLines.map((b) => b.line), [2]);
  });

  test('a line just under the cap is read, multi-byte characters across chunk edges included', async () => {
    const path = join(fresh(), 'events.jsonl');
    const text = 'é'.repeat(400);
    writeFileSync(path, `${JSON.stringify({ text })}\n`);
    const read = await new JsonlTail(path, 0, 1024).read();
    assert.deepEqual(read.records, [{ text }]);
  });

  test('a rollouts file over its size cap is refused by name', async () => {
    const path = join(fresh(), 'step-000001.jsonl');
    writeFileSync(path, '{"a":1}\n{"b":2}\n');
    await assert.rejects(readJsonlFile(path, 8), /holds 16 B, more than the 8 B/);
    assert.equal((await readJsonlFile(path)).records.length, 2);
  });
});

describe('control.jsonl', () => {
  test('a seq that is a string, a fraction, out of range or 1e999 is skipped, so the next seq is one the trainer obeys', async () => {
    const path = join(fresh(), 'control.jsonl');
    const lines = [
      '{"seq": 1, "command": "pause", "t": 1}',
      '{"seq": "99999", "command": "pause", "t": 1}',
      '{"seq": 2.5, "command": "pause", "t": 1}',
      '{"seq": 1e999, "command": "pause", "t": 1}',
      '{"seq": 99999999999999, "command": "pause", "t": 1}',
      '{"seq": -4, "command": "pause", "t": 1}',
      `{"seq": ${deep(1000)}}`,
      '{"seq": 2, "command": "resume", "t": 1}',
      '{"seq": 3, "comm',
    ];
    writeFileSync(path, lines.join('\n'));
    assert.equal(await maxSeq(path), 2);
  });
});

describe('trainer.log', () => {
  test('a hard-linked trainer.log is not copied into run.json', async () => {
    const dir = fresh();
    writeFileSync(join(base, `secret-${n}`), 'the secret\n');
    linkSync(join(base, `secret-${n}`), join(dir, 'trainer.log'));
    const tail = await trainerLogTail(dir);
    assert.doesNotMatch(tail, /the secret/);
    assert.match(tail, /not read: .*a hard link/);
    assert.equal(readFileSync(join(base, `secret-${n}`), 'utf8'), 'the secret\n');
  });
});

describe('pacs-lab status', () => {
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, join(REPO, 'src', 'cli.ts'), ...args]);

  test('a run with a wrong-typed field is named with its field on stderr; the others list; exit 0', async () => {
    const root = fresh();
    makeRun(root, '20261127-030000-arith-aaaa');
    const bad = makeRun(root, '20261127-030000-arith-bbbb');
    writeFileSync(join(bad, 'run.json'), JSON.stringify({ ...runInfo('x'), git: { commit: 7, branch: null, dirty: false, snapshot: null, ref: null } }));
    const { stdout, stderr } = await cli('status', root);
    assert.match(stdout, /20261127-030000-arith-aaaa/);
    assert.match(stdout, /20261127-030000-arith-bbbb +unreadable/);
    assert.match(stderr, /arith-bbbb[/\\]run\.json has "git\.commit" = number 7/);
    const json = await cli('status', root, '--json');
    const listed = JSON.parse(json.stdout) as { id: string; status: string; error: { message: string } | null }[];
    assert.deepEqual(listed.map((r) => [r.id, r.status]), [['20261127-030000-arith-aaaa', 'finished'], ['20261127-030000-arith-bbbb', 'unreadable']]);
    assert.match(listed[1].error?.message ?? '', /"git\.commit"/);
  });

  test('escape sequences in a folder name, id or commit are printed escaped', async () => {
    const root = fresh();
    const id = '20261127-030000-arith-\u001b]0;owned\u0007';
    makeRun(root, id, { git: { commit: '\u001b[2J0123456789', branch: null, dirty: false, snapshot: null, ref: null } });
    const { stdout, stderr } = await cli('status', root);
    assert.ok(!(stdout + stderr).includes('\u0007') && !(stdout + stderr).includes('\u001b'), 'no raw control character reaches the terminal');
    assert.match(stdout, /arith-\\u001b\]0;owned\\u0007/);
    assert.match(stdout, /\\u001b\[2J/);
    const json = await cli('status', root, '--json');
    assert.equal((JSON.parse(json.stdout) as { id: string }[])[0].id, id, '--json stays valid JSON holding the same id');
  });

  test('terminalText escapes C0, C1, DEL and bidirectional overrides; terminalLines keeps newlines', () => {
    assert.equal(terminalText('a\u001b[31mb\u009b\u007f\u202e\n'), 'a\\u001b[31mb\\u009b\\u007f\\u202e\\u000a');
    assert.equal(terminalLines('one\ntwo\r\tthree'), 'one\ntwo\\u000d\tthree');
  });
});

describe('diagnostics files', () => {
  test('a ledger or held-out line that is null, an array or nested 100,000 deep is one bad line, never a crash', async () => {
    const { parseLedger } = await import('../../../../../src/diagnostics/model/promptLedger');
    const { parseHeldout } = await import('../../../../../src/diagnostics/model/heldout');
    const hostile = ['null', '[1]', '5', deep(100_000)].join('\n') + '\n';
    const good = '{"step":1,"new":[["p1",null]],"p":[0],"c":[1],"n":2}\n';
    const ledger = parseLedger(hostile + good);
    assert.equal(ledger.bad.length, 4);
    assert.deepEqual(ledger.rows.map((r) => r.id), ['p1']);
    assert.equal(parseHeldout(hostile).bad, 4);
  });
});
