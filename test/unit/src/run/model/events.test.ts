import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { JsonlTail, readJsonlFile } from '../../../../../src/run/model/events';

const dir = mkdtempSync(join(tmpdir(), 'pacs-events-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `events-${n++}.jsonl`);

describe('JsonlTail', () => {
  test('a missing file reads as empty, then its lines once created', async () => {
    const path = fresh();
    const tail = new JsonlTail(path);
    assert.deepEqual((await tail.read()).records, []);
    writeFileSync(path, '{"a":1}\n');
    assert.deepEqual((await tail.read()).records, [{ a: 1 }]);
  });

  test('keeps a torn last line until its newline arrives', async () => {
    const path = fresh();
    writeFileSync(path, '{"type":"metrics","step":1}\n{"type":"met');
    const tail = new JsonlTail(path);
    const first = await tail.read();
    assert.deepEqual(first.records, [{ type: 'metrics', step: 1 }]);
    assert.equal(first.badLines.length, 0);
    assert.equal(tail.position, '{"type":"metrics","step":1}\n'.length);
    appendFileSync(path, 'rics","step":2}');
    assert.deepEqual((await tail.read()).records, [], 'still no newline: still incomplete');
    appendFileSync(path, '\n');
    const second = await tail.read();
    assert.deepEqual(second.records, [{ type: 'metrics', step: 2 }]);
    assert.equal(second.badLines.length, 0);
    assert.deepEqual((await tail.read()).records, [], 'nothing is read twice');
  });

  test('skips and counts garbage lines with their line numbers and keeps going', async () => {
    const path = fresh();
    writeFileSync(path, ['{"i":1}', 'not json at all', '', '{"i":2}', '{"broken": ', '{"i":3}'].join('\n') + '\n');
    const tail = new JsonlTail(path);
    const r = await tail.read();
    assert.deepEqual(r.records, [{ i: 1 }, { i: 2 }, { i: 3 }]);
    assert.deepEqual(
      r.badLines.map((b) => [b.line, b.snippet]),
      [
        [2, 'not json at all'],
        [5, '{"broken":'],
      ],
    );
    assert.equal(tail.badLineCount, 2);
    appendFileSync(path, 'garbage again\n{"i":4}\n');
    const r2 = await tail.read();
    assert.deepEqual(r2.records, [{ i: 4 }]);
    assert.deepEqual(r2.badLines.map((b) => b.line), [7]);
    assert.equal(tail.badLineCount, 3);
  });

  test('reads 100k lines correctly, and incrementally afterwards', async () => {
    const path = fresh();
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) lines.push(JSON.stringify({ t: i, type: 'metrics', step: i, values: { 'reward/mean': i / 1e5, 'ünïcode/é': 'ψ' } }));
    writeFileSync(path, lines.join('\n') + '\n');
    const tail = new JsonlTail(path);
    const r = await tail.read();
    assert.equal(r.records.length, 100_000);
    assert.equal(r.badLines.length, 0);
    r.records.forEach((rec, i) => assert.equal((rec as { step: number }).step, i));
    assert.equal((r.records[99_999] as { values: Record<string, unknown> }).values['ünïcode/é'], 'ψ');
    assert.equal(tail.lineCount, 100_000);
    appendFileSync(path, JSON.stringify({ step: 100_000 }) + '\n');
    const more = await tail.read();
    assert.deepEqual(more.records, [{ step: 100_000 }]);
  });

  test('a multi-byte character split across the 1 MiB chunk boundary survives', async () => {
    const path = fresh();
    const pad = 'x'.repeat((1 << 20) - 12);
    const line = JSON.stringify({ s: pad + 'ψψψψψψψψ' });
    writeFileSync(path, `${line}\n{"ok":true}\n`);
    const r = await new JsonlTail(path).read();
    assert.equal(r.badLines.length, 0);
    assert.equal((r.records[0] as { s: string }).s.endsWith('ψψψψψψψψ'), true);
    assert.deepEqual(r.records[1], { ok: true });
  });

  test('restarts from the beginning when the file is truncated or replaced', async () => {
    const path = fresh();
    writeFileSync(path, '{"a":1}\n{"a":2}\n');
    const tail = new JsonlTail(path);
    assert.equal((await tail.read()).records.length, 2);
    writeFileSync(path, '{"b":1}\n');
    const r = await tail.read();
    assert.equal(r.restarted, true);
    assert.deepEqual(r.records, [{ b: 1 }]);
    // Replaced by a longer file (rotation): a new inode also restarts.
    const other = `${path}.new`;
    writeFileSync(other, '{"c":1}\n{"c":2}\n{"c":3}\n');
    renameSync(other, path);
    const r2 = await tail.read();
    assert.equal(r2.restarted, true);
    assert.deepEqual(r2.records, [{ c: 1 }, { c: 2 }, { c: 3 }]);
  });

  test('concurrent reads share one pass and never duplicate records', async () => {
    const path = fresh();
    writeFileSync(path, '{"a":1}\n{"a":2}\n');
    const tail = new JsonlTail(path);
    const [a, b] = await Promise.all([tail.read(), tail.read()]);
    assert.equal(a, b);
    assert.equal(a.records.length, 2);
  });
});

describe('readJsonlFile', () => {
  test('parses a whole file, last line without newline included, counting bad lines', async () => {
    const path = fresh();
    writeFileSync(path, '{"index":0}\n{oops}\n{"index":1}');
    const r = await readJsonlFile(path);
    assert.deepEqual(r.records, [{ index: 0 }, { index: 1 }]);
    assert.deepEqual(r.badLines.map((b) => b.line), [2]);
  });
});
