import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RolloutSample } from '../../../../src/run/model/runFormat';
import {
  absentFields,
  buildRows,
  DEFAULT_FILTERS,
  invisibleChars,
  checkersDisagree,
  isCriticWrong,
  nextSampleRow,
  tokenHeat,
  TokenRequests,
  type Row,
} from '../../../../webview/rollouts/model';

function sample(group: number, index: number, reward: number, psi: number, extra: Partial<RolloutSample> = {}): RolloutSample {
  const p = 1 / (1 + Math.exp(-psi));
  return {
    step: 1, group, index, prompt_id: `p${group}`, prompt: `prompt ${group}`, response: `resp ${group}.${index}`, answer: 'a',
    reward, logratio: psi, psi, p_correct: p, grad_weight: reward - p, weight: 1, length: 3 + index, truncated: false, ...extra,
  };
}

const samples = [
  sample(1, 1, 0, 1.5),
  sample(1, 0, 1, 2.0),
  sample(0, 0, 1, -0.5, { response: 'Has <SCRIPT> in it' }),
  sample(0, 1, 0, -2.0),
];
const keys = (rows: Row[]) => rows.map((r) => (r.kind === 'group' ? `g${r.group}` : `${samples[r.sample].group}:${samples[r.sample].index}`));

describe('rollout rows', () => {
  it('groups by prompt with the label counts of each group, samples in index order', () => {
    const rows = buildRows(samples, DEFAULT_FILTERS);
    assert.deepEqual(keys(rows), ['g0', '0:0', '0:1', 'g1', '1:0', '1:1']);
    assert.deepEqual(rows[0], { kind: 'group', group: 0, correct: 1, total: 2, prompt: 'prompt 0' });
  });

  it('sorts by ψ, reward, length and grad weight, either way, without group rows', () => {
    assert.deepEqual(keys(buildRows(samples, { ...DEFAULT_FILTERS, sort: 'psi' })), ['0:1', '0:0', '1:1', '1:0']);
    assert.deepEqual(keys(buildRows(samples, { ...DEFAULT_FILTERS, sort: 'psi', descending: true })), ['1:0', '1:1', '0:0', '0:1']);
    assert.deepEqual(keys(buildRows(samples, { ...DEFAULT_FILTERS, sort: 'reward', descending: true })), ['0:0', '1:0', '0:1', '1:1']);
    assert.deepEqual(keys(buildRows(samples, { ...DEFAULT_FILTERS, sort: 'length' })), ['0:0', '1:0', '0:1', '1:1']);
    assert.deepEqual(keys(buildRows(samples, { ...DEFAULT_FILTERS, sort: 'grad_weight' })), ['1:1', '0:1', '1:0', '0:0']);
  });

  it('filters by label, case-insensitive text, and critic wrong in both directions', () => {
    assert.deepEqual(keys(buildRows(samples, { ...DEFAULT_FILTERS, label: 'wrong' })), ['g0', '0:1', 'g1', '1:1']);
    assert.deepEqual(keys(buildRows(samples, { ...DEFAULT_FILTERS, text: '<script>' })), ['g0', '0:0']);
    // 1:1 has σ > 0.5 but R = 0; 0:0 has σ < 0.5 but R = 1.
    assert.deepEqual(keys(buildRows(samples, { ...DEFAULT_FILTERS, criticWrong: true })), ['g0', '0:0', 'g1', '1:1']);
    assert.equal(isCriticWrong({ reward: 1, p_correct: 0.5 }), true);
    assert.equal(isCriticWrong({ reward: 0, p_correct: 0.5 }), false);
  });

  it('filters the samples a re-verification flipped, and those where the audit checker disagrees', () => {
    const marked = [
      sample(0, 0, 1, 0, { audit: { label: 0, detail: 'no' } }),
      sample(0, 1, 0, 0, { audit: { label: 0 }, reverified: { before: { label: 0 }, after: { label: 1 }, verifier: 'math' } }),
      sample(1, 0, 0, 0, { audit: { label: 1, error: 'TimeoutError: timed out after 1 s' } }),
      sample(1, 1, 0, 0, { audit: { label: 1 } }),
    ];
    const at = (rows: Row[]) => rows.filter((r) => r.kind === 'sample').map((r) => r.kind === 'sample' && `${marked[r.sample].group}:${marked[r.sample].index}`);
    assert.deepEqual(at(buildRows(marked, { ...DEFAULT_FILTERS, flipped: true })), ['0:1']);
    // an audit error is counted apart, never as a disagreement
    assert.deepEqual(at(buildRows(marked, { ...DEFAULT_FILTERS, disagree: true })), ['0:0', '1:1']);
    assert.equal(checkersDisagree({ reward: 1 }), false);
  });

  it('knows an imported record, which has no critic fields, is never "critic wrong"', () => {
    const imported = { step: 1, group: 0, index: 0, prompt: 'p', response: 'r', reward: 1 } as unknown as RolloutSample;
    assert.equal(isCriticWrong(imported), false);
    assert.deepEqual(absentFields(imported), ['psi', 'p_correct', 'grad_weight', 'weight', 'logratio', 'length']);
    assert.deepEqual(absentFields(sample(0, 0, 1, 0.3)), []);
    // null is a step without the critic pass, not a field the trainer cannot know
    assert.deepEqual(absentFields({ ...sample(0, 0, 1, 0.3), psi: null } as unknown as RolloutSample), []);
  });

  it('skips samples not received yet', () => {
    const partial: (RolloutSample | undefined)[] = [samples[0], undefined, undefined, samples[3]];
    assert.equal(buildRows(partial, DEFAULT_FILTERS).filter((r) => r.kind === 'sample').length, 2);
  });

  it('moves between sample rows over group headers', () => {
    const rows = buildRows(samples, DEFAULT_FILTERS);
    assert.equal(nextSampleRow(rows, -1, 1), 1);
    assert.equal(nextSampleRow(rows, 2, 1), 4);
    assert.equal(nextSampleRow(rows, 4, -1), 2);
    assert.equal(nextSampleRow(rows, 1, -1), 1);
    assert.equal(nextSampleRow(rows, 1, 100), 5);
  });
});

describe('what a shown sample reads from the step file', () => {
  it('asks once for a sample with token details or a cut response, and keeps the whole response it gets', () => {
    const requests = new TokenRequests();
    const asked: string[] = [];
    const ask = (group: number, index: number) => asked.push(`${group}:${index}`);
    const own = sample(0, 0, 1, 0, { tokens: ['a', 'b'], token_logratio: [0.5, -0.5] });
    assert.deepEqual(requests.details(own, ask), { details: { tokens: ['a', 'b'], token_logratio: [0.5, -0.5] }, error: null });
    const cut = sample(0, 1, 1, 0, { response: 'the start', response_cut: true });
    const tokens = sample(1, 0, 1, 0, { token_details: true });
    assert.equal(requests.details(cut, ask), undefined);
    assert.equal(requests.details(cut, ask), undefined);
    assert.equal(requests.details(tokens, ask), undefined);
    assert.deepEqual(asked, ['0:1', '1:0']);
    requests.receive(0, 1, null, null, 'the start and the rest');
    assert.deepEqual(requests.details(cut, ask), { details: null, response: 'the start and the rest', error: null });
    requests.receive(1, 0, { tokens: ['x'] }, null);
    assert.deepEqual(requests.details(tokens, ask), { details: { tokens: ['x'] }, error: null });
  });
});

describe('token heat and hidden characters', () => {
  it('scales token log-ratios by the largest magnitude', () => {
    assert.deepEqual(tokenHeat([0.5, -1, 0.25, NaN]), { heat: [0.5, -1, 0.25, 0], scale: 1 });
    assert.deepEqual(tokenHeat([0, 0]), { heat: [0, 0], scale: 0 });
  });

  it('names bidi overrides and zero-width characters', () => {
    assert.deepEqual(invisibleChars('a\u202Eb\u200Bc\u202E'), ['U+200B', 'U+202E']);
    assert.deepEqual(invisibleChars('plain <b>text</b>'), []);
  });
});
