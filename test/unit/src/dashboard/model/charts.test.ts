import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  buildFamilies,
  configDiff,
  constantValue,
  decimate,
  familyOf,
  flattenConfig,
  psiHistogram,
  reliability,
  recentReward,
  runScore,
  seriesCsv,
} from '../../../../../src/dashboard/model/charts';
import { pngBytes, safeFileName } from '../../../../../src/dashboard/model/exportFiles';
import { smooth } from '../../../../../src/dashboard/model/smoothing';
import { FIXTURES } from '../../../helpers/repo';

describe('decimate', () => {
  const n = 10_000;
  const xs = Array.from({ length: n }, (_, i) => i);
  const ys: (number | null)[] = xs.map((i) => Math.sin(i / 300));
  ys[5000] = 100;
  ys[7001] = -100;

  it('keeps the first and last points and the extremes, in step order, within the budget', () => {
    const out = decimate(xs, ys, 100);
    assert.ok(out.xs.length <= 100, `${out.xs.length} points`);
    assert.equal(out.xs[0], 0);
    assert.equal(out.xs.at(-1), n - 1);
    assert.ok(out.xs.includes(5000) && out.xs.includes(7001));
    assert.equal(Math.max(...(out.ys as number[])), 100);
    assert.equal(Math.min(...(out.ys as number[])), -100);
    for (let i = 1; i < out.xs.length; i++) assert.ok(out.xs[i - 1] < out.xs[i]);
    out.xs.forEach((x, i) => assert.equal(out.ys[i], ys[x]));
  });

  it('returns short series unchanged and keeps a run of gaps as a gap', () => {
    assert.deepEqual(decimate([1, 2, 3], [1, null, 3], 100), { xs: [1, 2, 3], ys: [1, null, 3] });
    const gappy = ys.map((y, i) => (i >= 2000 && i < 3000 ? null : y));
    const out = decimate(xs, gappy, 100);
    assert.ok(out.ys.some((y, i) => y === null && out.xs[i] >= 2000 && out.xs[i] < 3000));
  });
});

describe('buildFamilies', () => {
  const runA = new Map([
    ['reward/mean', { steps: [1, 2, 3], values: [0.1, 0.2, 0.3] }],
    ['pacs/loss', { steps: [1, 2, 3], values: [0.7, NaN, 0.5] }],
    ['foo/bar', { steps: [1], values: [1] }],
  ]);
  const runB = new Map([
    ['reward/mean', { steps: [2, 4, 6, 8], values: [0.2, 0.4, 0.6, 0.8] }],
    ['eval/pass@8', { steps: [0, 25], values: [0.5, 0.6] }],
  ]);
  const families = buildFamilies([
    { runId: 'a', series: runA, lossMetric: 'pacs/loss' },
    { runId: 'b', series: runB, lossMetric: 'grpo/loss' },
  ]);

  it('makes one chart per family in display order, unknown prefixes last', () => {
    assert.deepEqual(
      families.map((f) => f.id),
      ['reward', 'loss', 'eval', 'other-foo'],
    );
  });

  it('overlays runs on the step axis: each point keeps its own step', () => {
    const reward = families[0];
    assert.deepEqual(
      reward.series.map((s) => [s.runId, s.xs, s.ys, s.rawCount]),
      [
        ['a', [1, 2, 3], [0.1, 0.2, 0.3], 3],
        ['b', [2, 4, 6, 8], [0.2, 0.4, 0.6, 0.8], 4],
      ],
    );
  });

  it('turns non-finite values into gaps and sorts unordered steps', () => {
    assert.deepEqual(families[1].series[0].ys, [0.7, null, 0.5]);
    const [family] = buildFamilies([{ runId: 'a', series: new Map([['reward/mean', { steps: [3, 1, 2], values: [3, 1, 2] }]]), lossMetric: 'pacs/loss' }]);
    assert.deepEqual([family.series[0].xs, family.series[0].ys], [[1, 2, 3], [1, 2, 3]]);
  });

  it('decimates long series to the point budget but reports the raw count', () => {
    const steps = Array.from({ length: 5000 }, (_, i) => i);
    const [family] = buildFamilies([{ runId: 'a', series: new Map([['reward/mean', { steps, values: steps }]]), lossMetric: 'pacs/loss' }], 500);
    assert.ok(family.series[0].xs.length <= 500);
    assert.equal(family.series[0].rawCount, 5000);
  });

  it('puts every documented metric in a named family', () => {
    const names = [
      'reward/mean', 'reward/std', 'reward/mixed_group_frac', 'pacs/loss', 'pacs/psi_mean', 'pacs/psi_abs_mean', 'pacs/weight_mean',
      'grpo/loss', 'grpo/clip_frac', 'grpo/kl', 'rloo/loss', 'critic/auc', 'critic/ece', 'critic/accuracy', 'critic/psi_pos_mean',
      'critic/psi_neg_mean', 'optim/grad_norm', 'optim/lr', 'optim/skipped', 'policy/entropy', 'response/length_mean',
      'response/length_max', 'response/truncated_frac', 'perf/step_s', 'perf/rollout_s', 'perf/update_s', 'perf/samples_per_s',
      'perf/tokens_per_s', 'eval/accuracy', 'eval/pass@1', 'eval/pass@8',
    ];
    const loss = (name: string) => (name.endsWith('/loss') ? name : 'pacs/loss');
    for (const name of names) assert.ok(!familyOf(name, loss(name)).id.startsWith('other-'), name);
    assert.equal(familyOf('grpo/loss', 'grpo/loss').id, 'loss');
    assert.equal(familyOf('drgrpo/loss', 'drgrpo/loss').id, 'loss', 'the run names its loss metric: no list of algorithms');
    assert.equal(familyOf('pacs/loss', 'grpo/loss').id, 'psi', 'another algorithm\'s metric is not this run\'s loss');
    assert.equal(familyOf('perf/samples_per_s', 'pacs/loss').id, 'throughput');
    assert.equal(familyOf('perf/update_s', 'pacs/loss').id, 'timing');
  });
});

describe('psiHistogram', () => {
  it('bins ψ over its range and splits by label', () => {
    const samples = [-1, -0.5, 0, 0.5, 1].map((psi, i) => ({ psi, p_correct: 0.5, reward: i < 2 ? 0 : 1 }));
    const h = psiHistogram(samples, 4);
    assert.deepEqual(h.edges, [-1, -0.5, 0, 0.5, 1]);
    assert.deepEqual(h.positive, [0, 0, 1, 2]);
    assert.deepEqual(h.negative, [1, 1, 0, 0]);
  });

  it('widens a range of one value instead of dividing by zero', () => {
    const h = psiHistogram([{ psi: 0, p_correct: 0.5, reward: 1 }], 2);
    assert.deepEqual(h.edges, [-0.5, 0, 0.5]);
    assert.deepEqual(h.positive, [0, 1]);
  });
});

describe('reliability', () => {
  it('computes per-bin confidence and accuracy and the ECE by hand', () => {
    const p = [0.05, 0.15, 0.15, 0.95, 0.95, 0.95, 1.0];
    const r = [0, 0, 1, 1, 1, 1, 0];
    const rel = reliability(p.map((p_correct, i) => ({ p_correct, psi: 0, reward: r[i] })));
    assert.equal(rel.count, 7);
    assert.equal(rel.bins.length, 10);
    assert.deepEqual([rel.bins[0].count, rel.bins[0].accuracy], [1, 0]);
    assert.ok(Math.abs((rel.bins[0].confidence ?? 0) - 0.05) < 1e-12);
    assert.deepEqual([rel.bins[1].count, rel.bins[1].accuracy], [2, 0.5]);
    assert.deepEqual([rel.bins[9].count, rel.bins[9].accuracy], [4, 0.75]);
    assert.ok(Math.abs((rel.bins[9].confidence ?? 0) - 0.9625) < 1e-12);
    assert.equal(rel.bins[5].confidence, null);
    // ECE = 1/7·|0 − 0.05| + 2/7·|0.5 − 0.15| + 4/7·|0.75 − 0.9625|
    const expected = (1 / 7) * 0.05 + (2 / 7) * 0.35 + (4 / 7) * 0.2125;
    assert.ok(Math.abs((rel.ece ?? NaN) - expected) < 1e-12, `${rel.ece} vs ${expected}`);
  });

  it('is 0 for a perfectly calibrated critic', () => {
    const samples = [
      ...Array.from({ length: 4 }, (_, i) => ({ p_correct: 0.25, psi: 0, reward: i === 0 ? 1 : 0 })),
      ...Array.from({ length: 4 }, (_, i) => ({ p_correct: 0.75, psi: 0, reward: i === 0 ? 0 : 1 })),
    ];
    assert.ok(Math.abs(reliability(samples).ece ?? NaN) < 1e-12);
  });
});

describe('reliability parity with the trainer (metrics.py)', () => {
  interface ParityCase {
    name: string;
    probs: (number | null)[];
    labels: number[];
    n_bins: number;
    bins: unknown[];
    ece: number | null;
  }
  // Written by trainer/tests/test_metrics.py, which fails when the file is not its current output.
  const { cases } = JSON.parse(readFileSync(join(FIXTURES, 'reliability-parity.json'), 'utf8')) as { cases: ParityCase[] };

  it('has the trainer\'s cases', () => assert.ok(cases.length >= 8));
  for (const c of cases) {
    it(`gives the trainer's bins and ECE: ${c.name}`, () => {
      const samples = c.probs.map((p, i) => ({ p_correct: p ?? NaN, psi: 0, reward: c.labels[i] }));
      const rel = reliability(samples, c.n_bins);
      assert.deepEqual(rel.bins, c.bins);
      assert.equal(rel.ece, c.ece);
    });
  }
});

describe('configDiff', () => {
  const a = { name: 'a', optim: { lr: 0.001, betas: [0.9, 0.999] }, rollout: { n: 8 }, pacs: { beta: 1 } };
  const b = { name: 'b', optim: { lr: 0.001, betas: [0.9, 0.99] }, rollout: { n: 8, top_p: 1 }, pacs: { beta: 1 } };

  it('lists only the nested keys whose values differ, a missing key included', () => {
    const diff = configDiff(['ra', 'rb'], [a, b]);
    assert.deepEqual(diff.rows, [
      { key: 'name', values: ['a', 'b'] },
      { key: 'optim.betas', values: ['[0.9,0.999]', '[0.9,0.99]'] },
      { key: 'rollout.top_p', values: [null, '1'] },
    ]);
    assert.equal(diff.keyCount, 6);
  });

  it('shows nothing for one run and treats an unreadable config as missing every key', () => {
    assert.deepEqual(configDiff(['ra'], [a]).rows, []);
    assert.equal(configDiff(['ra', 'rb'], [a, null]).rows.length, 5);
  });

  it('flattens to dotted keys with arrays as leaves', () => {
    assert.deepEqual([...flattenConfig({ x: { y: { z: 1 } }, l: [1, { a: 2 }], e: {} })], [
      ['x.y.z', '1'],
      ['l', '[1,{"a":2}]'],
      ['e', '{}'],
    ]);
  });
});

describe('runScore', () => {
  const series = (entries: Record<string, [number[], number[]]>) =>
    new Map(Object.entries(entries).map(([metric, [steps, values]]) => [metric, { steps, values }]));

  it('takes the best and the newest eval accuracy, the newest pass@k of the largest k, and means over the last tenth of steps', () => {
    const steps = Array.from({ length: 20 }, (_, i) => i + 1);
    const score = runScore('r', series({
      'eval/accuracy': [[0, 10, 20], [0.3, 0.7, 0.6]],
      'eval/pass@1': [[0, 10, 20], [0.2, 0.5, 0.55]],
      'eval/pass@8': [[0, 10, 20], [0.6, 0.8, 0.9]],
      'reward/mean': [steps, steps.map((s) => s / 100)],
      'critic/auc': [steps, steps.map((s) => (s > 18 ? 0.9 : 0.1))],
      'critic/accuracy': [[20, 19], [0.8, 0.6]],
    }));
    assert.deepEqual(score.bestAccuracy, { step: 10, value: 0.7 });
    assert.deepEqual(score.lastAccuracy, { step: 20, value: 0.6 });
    assert.deepEqual(score.lastPassAtK, { step: 20, value: 0.9, metric: 'eval/pass@8' });
    assert.deepEqual(score.window, [19, 20], 'the last 2 of 20 steps');
    assert.ok(Math.abs((score.reward as number) - 0.195) < 1e-12);
    assert.ok(Math.abs((score.criticAuc as number) - 0.9) < 1e-12);
    assert.ok(Math.abs((score.criticAccuracy as number) - 0.7) < 1e-12, 'steps logged out of order are sorted first');
  });

  it('ties keep the earliest best step, non-finite values are skipped, and a run without data has nulls', () => {
    const score = runScore('r', series({ 'eval/accuracy': [[0, 5, 9], [0.5, NaN, 0.5]], 'reward/mean': [[1, 2, 3], [0.1, Infinity, 0.3]] }));
    assert.deepEqual(score.bestAccuracy, { step: 0, value: 0.5 });
    assert.deepEqual(score.lastAccuracy, { step: 9, value: 0.5 });
    assert.deepEqual(score.window, [3, 3]);
    assert.equal(score.reward, 0.3);
    assert.equal(score.criticAuc, null);
    assert.deepEqual(runScore('empty', new Map()), {
      runId: 'empty', bestAccuracy: null, lastAccuracy: null, lastPassAtK: null, window: null, reward: null, criticAuc: null, criticAccuracy: null,
      evalSets: [],
    });
  });

  it('ranks runs by the same last-tenth reward everywhere: a spike at the newest step does not win', () => {
    const steps = Array.from({ length: 20 }, (_, i) => i + 1);
    const steady = series({ 'reward/mean': [steps, steps.map(() => 0.6)] });
    const spiky = series({ 'reward/mean': [steps, steps.map((s) => (s === 20 ? 0.9 : 0.2))] });
    assert.equal(recentReward(steady), 0.6);
    assert.ok(Math.abs((recentReward(spiky) as number) - 0.55) < 1e-12, 'mean of steps 19 and 20');
    assert.equal(recentReward(spiky), runScore('r', spiky).reward);
    assert.equal(recentReward(new Map()), null);
  });

  it('scores each named eval set by its best and newest accuracy, leaving per-source metrics out', () => {
    const score = runScore('r', series({
      'eval/math500/accuracy': [[0, 10, 20], [0.2, 0.5, 0.4]],
      'eval/math500/pass@8': [[0, 10, 20], [0.5, 0.7, 0.8]],
      'eval/math500/source=math/accuracy': [[0, 10, 20], [0.1, 0.1, 0.1]],
      'eval/aime24/accuracy': [[20, 0], [0.1, 0.0]],
    }));
    assert.deepEqual(score.evalSets, [
      { name: 'aime24', best: { step: 20, value: 0.1 }, last: { step: 20, value: 0.1 } },
      { name: 'math500', best: { step: 10, value: 0.5 }, last: { step: 20, value: 0.4 } },
    ]);
    assert.equal(score.bestAccuracy, null, 'eval/accuracy is the task\'s own held-out split only');
  });
});

describe('chart series for the comparison features', () => {
  const steps = Array.from({ length: 5000 }, (_, i) => i + 1);
  // A spiky metric: mostly 0, a spike of 10 every 50 steps.
  const values = steps.map((s) => (s % 50 === 0 ? 10 : 0));
  const times = steps.map((s) => 1_800_000_000 + 2 * s);
  const run = { runId: 'a', series: new Map([['optim/grad_norm', { steps, values, times }], ['eval/accuracy', { steps, values, times }]]), lossMetric: 'pacs/loss' };

  it('smooths every raw point before decimating: the EMA is not biased by the kept min/max pairs', () => {
    const families = buildFamilies([run], 100, 0.9);
    const grad = families.find((f) => f.id === 'grad-norm')?.series[0];
    assert.ok(grad && grad.smoothed);
    let avg = 0;
    let k = 0;
    const ema = values.map((y) => { avg = 0.9 * avg + 0.1 * y; k++; return avg / (1 - 0.9 ** k); });
    grad.xs.forEach((x, i) => assert.ok(Math.abs((grad.smoothed?.[i] as number) - ema[x - 1]) < 1e-9, `step ${x}`));
    // Smoothing the decimated points instead (each bucket's 0 and its spike of 10) lifts the curve.
    const biased = smooth(grad.ys, 0.9).at(-1) as number;
    assert.ok(biased > 3 && (grad.smoothed.at(-1) as number) < 1.1, `decimated-then-smoothed ${biased}, smoothed-then-decimated ${grad.smoothed.at(-1)}`);
    assert.equal(families.find((f) => f.id === 'eval')?.series[0].smoothed, null, 'evaluations are not smoothed');
    assert.equal(buildFamilies([run], 100, 0)[0].series[0].smoothed, null, 'weight 0 sends no smoothed values');
  });

  it('keeps each kept point\'s time, and marks constant series', () => {
    const [family] = buildFamilies([run], 100);
    const series = family.series[0];
    series.xs.forEach((x, i) => assert.equal(series.ts[i], 1_800_000_000 + 2 * x));
    const flat = buildFamilies([{ runId: 'a', series: new Map([['pacs/weight_mean', { steps: [1, 2, 3], values: [1, 1, 1.0000000000000002] }]]), lossMetric: 'pacs/loss' }]);
    assert.equal(flat[0].series[0].constant, 1);
    assert.equal(constantValue([0.69, 0.7]), null);
    assert.equal(constantValue([0.69]), null, 'one point is no constant series');
    assert.equal(constantValue([0, null, 0]), 0);
    const untimed = buildFamilies([{ runId: 'a', series: new Map([['reward/mean', { steps: [1], values: [1] }]]), lossMetric: 'pacs/loss' }]);
    assert.deepEqual(untimed[0].series[0].ts, [null]);
  });

  it('writes CSV in long form with every raw point; text from run files cannot become a formula or break a row', () => {
    const csv = seriesCsv([
      { runId: 'run,1', metric: '=HYPERLINK("x")', series: { steps: [2, 1], values: [0.5, NaN], times: [1800000002, null] } },
      { runId: 'r2', metric: 'reward/mean', series: { steps: [1], values: [-1] } },
    ]);
    assert.equal(csv, [
      'run,metric,step,t,value',
      '"run,1","\'=HYPERLINK(""x"")",1,,',
      '"run,1","\'=HYPERLINK(""x"")",2,1800000002,0.5',
      'r2,reward/mean,1,,-1',
      '',
    ].join('\n'));
  });
});

describe('export files', () => {
  it('takes only a real PNG from the webview, and makes file names from run text safe', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    assert.deepEqual(pngBytes(`data:image/png;base64,${png.toString('base64')}`), new Uint8Array(png));
    assert.equal(pngBytes(`data:image/png;base64,${Buffer.from('<svg onload=x>').toString('base64')}`), null);
    assert.equal(pngBytes(`data:image/svg+xml;base64,${png.toString('base64')}`), null);
    assert.equal(safeFileName('../../etc/passwd'), 'etc-passwd');
    assert.equal(safeFileName('arith-pacs 0.5b'), 'arith-pacs-0.5b');
    assert.equal(safeFileName('...'), 'chart');
  });
});
