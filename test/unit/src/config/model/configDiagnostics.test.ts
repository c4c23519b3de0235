import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { completionsAt, diagnoseConfig, hoverAt } from '../../../../../src/config/model/configDiagnostics';
import type { ConfigDiagnostic, JsonSchema } from '../../../../../src/config/model/configDiagnostics';
import { REPO, FIXTURES } from '../../../helpers/repo';

// The trainer's real schema when it has been generated, else a subset of it checked in here.
const realSchema = join(REPO, 'schemas', 'pacs-config.schema.json');
const schemaPath = existsSync(realSchema) ? realSchema : join(FIXTURES, 'pacs-config.subset.schema.json');
const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as JsonSchema;

const CONFIG = `name: arith
algorithm: pacs
total_steps: 100
model:
  path: builtin:arith-tiny
optim:
  lr: 1.0e-3
  betas: [0.9, 0.999]
eval:
  size: 200
  k: [1, 8]
`;

/** Line and column (0-based) of the n-th occurrence of `needle`. */
function at(text: string, needle: string, nth = 0): { line: number; column: number } {
  let offset = -1;
  for (let i = 0; i <= nth; i++) offset = text.indexOf(needle, offset + 1);
  assert.ok(offset >= 0, `${needle} not in the text`);
  const before = text.slice(0, offset).split('\n');
  return { line: before.length - 1, column: before[before.length - 1].length };
}

function only(diags: ConfigDiagnostic[]): ConfigDiagnostic {
  assert.equal(diags.length, 1, JSON.stringify(diags, null, 1));
  return diags[0];
}

describe('diagnoseConfig', () => {
  test('a valid config and an empty file have no diagnostics', () => {
    assert.deepEqual(diagnoseConfig(CONFIG, schema), []);
    assert.deepEqual(diagnoseConfig('', schema), []);
    assert.deepEqual(diagnoseConfig('# only a comment\n', schema), []);
  });

  test('an unknown key is marked on the key, with a did-you-mean', () => {
    const text = CONFIG.replace('  lr: 1.0e-3', '  lrr: 1.0e-3');
    const d = only(diagnoseConfig(text, schema));
    assert.deepEqual([d.line, d.column, d.endLine, d.endColumn], [at(text, 'lrr').line, 2, at(text, 'lrr').line, 5]);
    assert.equal(d.key, 'optim.lrr');
    assert.match(d.message, /Unknown key "lrr" in optim\. Did you mean "lr"\?/);
    assert.equal(d.severity, 'error');
  });

  test('an unknown top-level key far from any name lists the valid keys', () => {
    const text = `${CONFIG}zzzzzzzz: 1\n`;
    const d = only(diagnoseConfig(text, schema));
    assert.equal(d.line, at(text, 'zzzzzzzz').line);
    assert.match(d.message, /Valid keys: .*algorithm/);
  });

  test('a wrong type is marked on the value', () => {
    const text = CONFIG.replace('total_steps: 100', 'total_steps: ten');
    const d = only(diagnoseConfig(text, schema));
    const pos = at(text, 'ten');
    assert.deepEqual([d.line, d.column, d.endLine, d.endColumn], [pos.line, pos.column, pos.line, pos.column + 3]);
    assert.equal(d.key, 'total_steps');
    assert.match(d.message, /total_steps must be an integer \(got "ten"\)/);
  });

  test('out of range, enum and nested list values are marked where they are', () => {
    const text = CONFIG.replace('algorithm: pacs', 'algorithm: ppo').replace('total_steps: 100', 'total_steps: 0').replace('k: [1, 8]', 'k: [1, "x"]');
    const diags = diagnoseConfig(text, schema);
    const byKey = new Map(diags.map((d) => [d.key, d]));
    assert.match(byKey.get('algorithm')?.message ?? '', /must be one of "pacs", "grpo", "rloo", "dr_grpo" \(got "ppo"\)/);
    assert.equal(byKey.get('algorithm')?.column, at(text, 'ppo').column);
    assert.match(byKey.get('total_steps')?.message ?? '', /must be ≥ 1 \(got 0\)/);
    assert.equal(byKey.get('eval.k[1]')?.column, at(text, '"x"').column);
    assert.equal(byKey.get('eval.k[1]')?.line, at(text, '"x"').line);
    assert.equal(diags.length, 3);
  });

  test('an Optional value gives one merged message', () => {
    const text = CONFIG.replace('size: 200', 'size: 0');
    const d = only(diagnoseConfig(text, schema));
    assert.equal(d.key, 'eval.size');
    assert.match(d.message, /eval\.size must be ≥ 1, or must be null \(got 0\)/);
    assert.equal(d.line, at(text, 'size: 0').line);
    assert.equal(d.column, at(text, 'size: 0').column + 'size: '.length);
  });

  test('a mapping where a scalar is expected, and a scalar where a mapping is', () => {
    const d = only(diagnoseConfig('optim: 5\n', schema));
    assert.match(d.message, /optim must be a mapping \(got 5\)/);
    assert.deepEqual([d.line, d.column], [0, 7]);
  });

  test('scalars are read as the trainer (PyYAML) reads them', () => {
    assert.deepEqual(diagnoseConfig('model:\n  gradient_checkpointing: yes\n', schema), [], 'yes is a boolean for PyYAML');
    assert.deepEqual(diagnoseConfig('model:\n  gradient_checkpointing: Off\n', schema), []);
    assert.match(only(diagnoseConfig('name: on\n', schema)).message, /name must .*\(got true\)/);
    assert.deepEqual(diagnoseConfig('rollout:\n  n: 8\n', schema), [], 'but n stays a key, not false');
    assert.match(only(diagnoseConfig('name: n\nrollout:\n  y: 1\n', schema)).message, /Unknown key "y" in rollout/);
  });

  test('YAML syntax errors come with their position and stop schema checks', () => {
    const text = 'name: arith\noptim:\n  lr: [1, 2\nseed: x\n';
    const diags = diagnoseConfig(text, schema);
    assert.ok(diags.length >= 1);
    assert.ok(diags.every((d) => d.message.startsWith('YAML: ')));
    assert.ok(diags.some((d) => d.line >= 2), JSON.stringify(diags));
    const dup = diagnoseConfig('seed: 1\nseed: 2\n', schema);
    assert.match(only(dup).message, /unique/);
    assert.equal(dup[0].line, 1);
  });
});

describe('hoverAt', () => {
  test('documents the key under the cursor, on the key or on its value', () => {
    const pos = at(CONFIG, 'lr:');
    const h = hoverAt(CONFIG, schema, pos.line, pos.column + 1);
    assert.equal(h?.key, 'optim.lr');
    assert.match(h?.markdown ?? '', /\*\*optim\.lr\*\*/);
    assert.match(h?.markdown ?? '', /Default: `0\.001`/);
    const v = at(CONFIG, 'pacs');
    const onValue = hoverAt(CONFIG, schema, v.line, v.column + 2);
    assert.equal(onValue?.key, 'algorithm');
    assert.match(onValue?.markdown ?? '', /Allowed: `pacs`, `grpo`, `rloo`, `dr_grpo`/);
    const inList = at(CONFIG, '8]');
    assert.equal(hoverAt(CONFIG, schema, inList.line, inList.column)?.key, 'eval.k');
    assert.equal(hoverAt(CONFIG, schema, 0, 0)?.key, 'name');
  });

  test('nothing for unknown keys or blank space', () => {
    assert.equal(hoverAt('bogus: 1\n', schema, 0, 1), undefined);
    assert.equal(hoverAt(CONFIG, schema, 100, 0), undefined);
  });
});

describe('completionsAt', () => {
  test('offers the keys valid in the enclosing mapping, minus those present', () => {
    const text = 'name: arith\noptim:\n  lr: 0.1\n  \n';
    const items = completionsAt(text, schema, 3, 2);
    const labels = items.map((i) => i.label);
    assert.ok(labels.includes('weight_decay'));
    assert.ok(!labels.includes('lr'), 'lr is already there');
    assert.ok(!labels.includes('algorithm'), 'a top-level key is not valid in optim');
    assert.equal(items.find((i) => i.label === 'weight_decay')?.insertText, 'weight_decay: ');
  });

  test('top-level keys, with a mapping key inserting its indented block', () => {
    const text = 'name: arith\nmo';
    const items = completionsAt(text, schema, 1, 2);
    const model = items.find((i) => i.label === 'model');
    assert.equal(model?.insertText, 'model:\n  ');
    assert.ok(!items.some((i) => i.label === 'name'));
  });

  test('values of an enum and of a boolean after the colon', () => {
    assert.deepEqual(completionsAt('algorithm: ', schema, 0, 11).map((i) => i.label), ['pacs', 'grpo', 'rloo', 'dr_grpo']);
    const text = 'model:\n  gradient_checkpointing: ';
    assert.deepEqual(completionsAt(text, schema, 1, text.split('\n')[1].length).map((i) => i.label), ['true', 'false']);
    assert.deepEqual(completionsAt('name: ', schema, 0, 6), []);
  });
});
