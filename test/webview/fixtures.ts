// Writes run directories in the run format (docs/run-format.md) for the webview tests: two
// training runs to compare (PACS and GRPO, different configs, one from a dirty tree), a step
// whose samples carry HTML and script payloads, and a step of 100k samples. The numbers follow
// what a PACS run on the tiny arithmetic task looks like: reward climbing from ~0.3, ψ_post of
// right and wrong answers separating, the critic's AUC rising and its ECE falling.
// Seeded, so the recorded host messages are the same on every run.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RolloutSample, RunInfo } from '../../src/run/model/runFormat';

/** Payloads that would run, or change the page, if model output ever became markup. */
export const PAYLOADS = {
  img: '<img src=x onerror="window.__pacsPwned = \'img\'">',
  script: '<script>window.__pacsPwned = "script"</script>',
  textarea: '</textarea><svg onload="window.__pacsPwned = \'svg\'"></svg>',
  link: '<a href="javascript:window.__pacsPwned=\'link\'">click</a> javascript:alert(1)',
  style: '<style>body { display: none !important }</style><iframe src="javascript:parent.__pacsPwned=1"></iframe>',
  bidi: 'total = 1\u202E2 + 3\u202C = 15 and a zero\u200Bwidth space\uFEFF',
} as const;

export const PAYLOAD_PROMPT = `${PAYLOADS.img} What is 12+30? ${PAYLOADS.script}`;
export const PAYLOAD_RESPONSE = `${PAYLOADS.textarea}\n${PAYLOADS.link}\n${PAYLOADS.style}\n${PAYLOADS.bidi}\n42`;
export const PAYLOAD_ANSWER = `42 ${PAYLOADS.img}`;

class Rng {
  constructor(private state: number) {}
  next(): number {
    this.state = (this.state * 1664525 + 1013904223) >>> 0;
    return this.state / 2 ** 32;
  }
  normal(): number {
    const u = Math.max(1e-12, this.next());
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export interface RunSpec {
  id: string;
  name: string;
  algorithm: 'pacs' | 'grpo';
  steps: number;
  seed: number;
  lr: number;
  n: number;
  prompts: number;
  rolloutsEvery: number;
  dirty: boolean;
  /** Step whose rollouts file also holds the payload samples and an unreadable line. */
  payloadStep?: number;
  /** Named eval sets (config eval.sets), logged as eval/<name>/accuracy, pass@1 and per data source. */
  evalSets?: string[];
  /** The config's `seed` (0 unless set); `seed` above seeds the fixture's own random numbers. */
  configSeed?: number;
  /** Writes ledger.jsonl (runs from before the ledger have none). */
  ledger?: boolean;
}

export const RUN_A: RunSpec = {
  id: '20261127-030000-arith-1a2b',
  name: 'arith',
  algorithm: 'pacs',
  steps: 300,
  seed: 1,
  lr: 1e-3,
  n: 8,
  prompts: 16,
  rolloutsEvery: 10,
  dirty: false,
  payloadStep: 300,
  ledger: true,
};

export const RUN_B: RunSpec = {
  id: '20261127-031500-arith-grpo-9f3c',
  name: 'arith-grpo',
  algorithm: 'grpo',
  steps: 200,
  seed: 2,
  lr: 5e-4,
  n: 4,
  prompts: 16,
  rolloutsEvery: 20,
  dirty: true,
  evalSets: ['math500', 'aime24'],
  ledger: true,
};

/** Three runs of RUN_A's config that differ only by seed: a seed group. The third has no ledger. */
export const SEED_RUNS: RunSpec[] = [1, 2, 3].map((k) => ({
  ...RUN_A, id: `20261127-05000${k}-arith-5ee${k}`, steps: 120, seed: 40 + k, configSeed: k, payloadStep: undefined, rolloutsEvery: 60, ledger: k < 3,
}));

export const BIG_RUN_ID = '20261127-040000-big-77aa';
export const BIG_SAMPLES = 100_000;

function config(spec: RunSpec): Record<string, unknown> {
  return {
    name: spec.name,
    algorithm: spec.algorithm,
    seed: spec.configSeed ?? 0,
    device: 'cpu',
    total_steps: spec.steps,
    eval_every: 25,
    checkpoint_every: 50,
    model: { path: 'builtin:arith-tiny', dtype: 'auto', gradient_checkpointing: false },
    task: { type: 'arith', arith: { digits: 2, ops: ['+'], train_size: 20000, eval_size: 200, seed: 1234 }, verifier: 'exact' },
    rollout: { prompts_per_step: spec.prompts, n: spec.n, max_new_tokens: 8, temperature: 1.0, top_p: 1.0 },
    pacs: { beta: 1.0, reward_method: 'logratio', adv_estimator: 'rloo', norm_by_std: true, weight_mode: 'question' },
    grpo: { clip_eps: 0.2, kl_coef: 0.0 },
    optim: { lr: spec.lr, weight_decay: 0.0, betas: [0.9, 0.999], schedule: 'constant', max_grad_norm: 1.0 },
    logging: { log_token_details: true, rollouts_every: spec.rolloutsEvery },
  };
}

function yamlOf(value: unknown, indent = ''): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return JSON.stringify(value);
  return Object.entries(value)
    .map(([k, v]) =>
      typeof v === 'object' && v !== null && !Array.isArray(v) ? `${indent}${k}:\n${yamlOf(v, `${indent}  `)}` : `${indent}${k}: ${JSON.stringify(v)}`,
    )
    .join('\n');
}

function runInfo(spec: RunSpec, step: number, status: RunInfo['status']): RunInfo {
  return {
    format: 2,
    id: spec.id,
    name: spec.name,
    algorithm: spec.algorithm,
    status,
    pid: null,
    pid_start_time: null,
    host: 'fixture-host',
    created_at: `2026-11-27T0${spec.seed + 2}:00:00Z`,
    updated_at: '2026-11-27T04:00:00Z',
    step,
    total_steps: spec.steps,
    config_path: `${spec.name}.pacs.yaml`,
    seed: 0,
    git: {
      commit: spec.dirty ? '9c1d2e3f4a5b6c7d8e9f00112233445566778899' : '3f2a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a',
      branch: 'main',
      dirty: spec.dirty,
      snapshot: spec.dirty ? 'aa11bb22cc33dd44ee55ff6677889900aabbccdd' : null,
      ref: `refs/pacs/runs/${spec.id}`,
    },
    versions: { pacslab: '0.1.0', python: '3.11.2', torch: '2.15.0', transformers: '5.24.0', cuda: null, device: 'cpu' },
    error: null,
  };
}

/** Progress in [0, 1] of "how much the model has learnt" at a step. */
const learnt = (step: number, steps: number) => 1 - Math.exp((-3 * step) / steps);

function samplesOf(spec: RunSpec, step: number, rng: Rng, groups = spec.prompts): RolloutSample[] {
  const skill = learnt(step, spec.steps);
  const samples: RolloutSample[] = [];
  for (let g = 0; g < groups; g++) {
    const a = 10 + rng.int(90);
    const b = 10 + rng.int(90);
    const answer = String(a + b);
    const difficulty = rng.normal() * 0.15;
    const rawScores: number[] = [];
    const rewards: number[] = [];
    const responses: string[] = [];
    for (let i = 0; i < spec.n; i++) {
      const correct = rng.next() < Math.min(0.97, Math.max(0.02, 0.3 + 0.6 * skill + difficulty));
      const response = correct ? answer : String(a + b + (rng.int(2) ? 1 : -1) * (1 + rng.int(10)));
      rewards.push(correct ? 1 : 0);
      responses.push(`${response}$`);
      rawScores.push((correct ? 1 : -1) * (0.1 + 1.4 * skill) + rng.normal() * 1.2);
    }
    const positives = rewards.reduce((x, y) => x + y, 0);
    for (let i = 0; i < spec.n; i++) {
      const others = rawScores.reduce((x, y) => x + y, 0) - rawScores[i];
      const psi = rawScores[i] - others / (spec.n - 1);
      const pCorrect = sigmoid(psi);
      const mixed = positives > 0 && positives < spec.n;
      const weight = mixed ? spec.n / (2 * (rewards[i] ? positives : spec.n - positives)) : 1;
      const tokens = [...responses[i]];
      const perToken = tokens.map(() => rng.normal() * 0.03);
      const shift = (rawScores[i] - perToken.reduce((x, y) => x + y, 0)) / tokens.length;
      samples.push({
        step,
        group: g,
        index: i,
        prompt_id: `train-${String(step * 100 + g).padStart(5, '0')}`,
        prompt: `${a}+${b}=`,
        response: responses[i],
        answer,
        reward: rewards[i],
        verifier: { parsed: responses[i].slice(0, -1), detail: rewards[i] ? 'exact match' : `expected ${answer}` },
        logratio: rawScores[i],
        psi,
        p_correct: pCorrect,
        grad_weight: rewards[i] - pCorrect,
        weight,
        length: tokens.length,
        truncated: false,
        tokens,
        token_logratio: perToken.map((v) => v + shift),
      });
    }
  }
  return samples;
}

function payloadSamples(step: number, group: number): RolloutSample[] {
  const base = { step, group, prompt_id: 'train-payload', answer: PAYLOAD_ANSWER, verifier: { parsed: PAYLOADS.img, detail: PAYLOADS.script } };
  const tokens = ['<img', ' src=x', ' onerror=', '"alert(1)"', '>', '</textarea>', '\u202E', '42'];
  return [
    {
      ...base,
      index: 0,
      prompt: PAYLOAD_PROMPT,
      response: PAYLOAD_RESPONSE,
      reward: 0,
      logratio: 2.1,
      psi: 2.4,
      p_correct: sigmoid(2.4),
      grad_weight: -sigmoid(2.4),
      weight: 1,
      length: tokens.length,
      truncated: true,
      tokens,
      token_logratio: [0.4, -0.2, 0.9, -0.6, 0.1, 0.3, -0.05, 0.7],
    },
    {
      ...base,
      index: 1,
      prompt: PAYLOAD_PROMPT,
      response: '42',
      reward: 1,
      logratio: -1.2,
      psi: -1.5,
      p_correct: sigmoid(-1.5),
      grad_weight: 1 - sigmoid(-1.5),
      weight: 1,
      length: 2,
      truncated: false,
    },
  ];
}

/** What the trainer logs as critic/* for a step (as pacs-algorithm.md defines them). */
function criticMetrics(samples: RolloutSample[]): Record<string, number> {
  const n = samples.length;
  const accuracy = samples.filter((s) => (s.p_correct > 0.5) === (s.reward === 1)).length / n;
  let ece = 0;
  for (let b = 0; b < 10; b++) {
    const inBin = samples.filter((s) => Math.min(9, Math.floor(s.p_correct * 10)) === b);
    if (inBin.length === 0) continue;
    const confidence = inBin.reduce((x, s) => x + s.p_correct, 0) / inBin.length;
    const hit = inBin.filter((s) => s.reward === 1).length / inBin.length;
    ece += (inBin.length / n) * Math.abs(hit - confidence);
  }
  const pos = samples.filter((s) => s.reward === 1).map((s) => s.psi);
  const neg = samples.filter((s) => s.reward === 0).map((s) => s.psi);
  let wins = 0;
  for (const p of pos) for (const q of neg) wins += p > q ? 1 : p === q ? 0.5 : 0;
  const auc = pos.length && neg.length ? wins / (pos.length * neg.length) : 0.5;
  return { 'critic/auc': auc, 'critic/ece': ece, 'critic/accuracy': accuracy };
}

function metricsAt(spec: RunSpec, step: number, samples: RolloutSample[], rng: Rng): Record<string, number> {
  const skill = learnt(step, spec.steps);
  const reward = samples.reduce((s, x) => s + x.reward, 0) / samples.length;
  const values: Record<string, number> = {
    'reward/mean': reward,
    'reward/std': Math.sqrt(reward * (1 - reward)),
    'reward/mixed_group_frac': Math.max(0, 0.8 - 0.5 * skill + rng.normal() * 0.05),
    ...criticMetrics(samples),
    'critic/psi_pos_mean': 0.2 + 2 * skill,
    'critic/psi_neg_mean': -0.2 - 2 * skill,
    'optim/grad_norm': Math.abs(0.8 * Math.exp(-step / 80) + 0.1 + rng.normal() * 0.08) + (step === 137 ? 6 : 0),
    'optim/lr': spec.lr,
    'optim/skipped': 0,
    'policy/entropy': 1.9 * Math.exp(-1.5 * skill) + 0.1 + rng.normal() * 0.02,
    'response/length_mean': 3.4 - 0.4 * skill + rng.normal() * 0.05,
    'response/length_max': 6 + rng.int(3),
    'response/truncated_frac': Math.max(0, 0.05 * (1 - skill) + rng.normal() * 0.01),
    'perf/step_s': 1.2 + rng.normal() * 0.05,
    'perf/rollout_s': 0.7 + rng.normal() * 0.03,
    'perf/update_s': 0.45 + rng.normal() * 0.03,
    'perf/samples_per_s': 105 + rng.normal() * 5,
    'perf/tokens_per_s': 360 + rng.normal() * 15,
  };
  if (spec.algorithm === 'pacs') {
    values['pacs/loss'] = 0.69 * (1 - 0.6 * skill) + rng.normal() * 0.02;
    values['pacs/psi_mean'] = rng.normal() * 0.01;
    values['pacs/psi_abs_mean'] = 0.3 + 1.8 * skill;
    values['pacs/weight_mean'] = 1;
  } else {
    values['grpo/loss'] = -0.02 + rng.normal() * 0.01;
    values['grpo/clip_frac'] = Math.max(0, 0.1 - 0.05 * skill + rng.normal() * 0.01);
    values['grpo/kl'] = 0;
  }
  return values;
}

function writeRolloutFile(dir: string, step: number, samples: RolloutSample[], badLine = false): void {
  const lines = samples.map((s) => JSON.stringify(s));
  if (badLine) lines.splice(3, 0, '{"step": 300, "group": 99, "this line is cut short');
  writeFileSync(join(dir, 'rollouts', `step-${String(step).padStart(6, '0')}.jsonl`), `${lines.join('\n')}\n`);
}

/** Writes the run up to `upTo` steps (a live run is one written further later). */
export function writeRun(root: string, spec: RunSpec, upTo = spec.steps): void {
  const dir = join(root, spec.id);
  mkdirSync(join(dir, 'rollouts'), { recursive: true });
  const rng = new Rng(spec.seed);
  const t0 = 1_795_000_000 + spec.seed * 1000;
  const events: unknown[] = [{ t: t0, type: 'run_started', config: config(spec), total_steps: spec.steps }];
  const ledger = new LedgerWriter(spec);
  for (let step = 1; step <= upTo; step++) {
    const samples = samplesOf(spec, step, rng);
    const t = t0 + step * 1.2;
    events.push({ t, type: 'metrics', step, values: metricsAt(spec, step, samples, rng) });
    ledger.add(step, samples);
    if (step % spec.rolloutsEvery === 0) {
      const withPayload = step === spec.payloadStep;
      writeRolloutFile(dir, step, withPayload ? [...samples, ...payloadSamples(step, spec.prompts)] : samples, withPayload);
      events.push({ t, type: 'rollouts', step, file: `rollouts/step-${String(step).padStart(6, '0')}.jsonl`, count: samples.length });
    }
    if (step === 1 || step % 25 === 0 || step === spec.steps) {
      const skill = learnt(step, spec.steps);
      events.push({
        t,
        type: 'eval',
        step,
        values: { 'eval/accuracy': 0.25 + 0.6 * skill, 'eval/pass@1': 0.22 + 0.6 * skill, 'eval/pass@8': Math.min(1, 0.6 + 0.4 * skill), ...evalSetValues(spec, skill) },
      });
    }
  }
  writeFileSync(join(dir, 'events.jsonl'), `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  if (spec.ledger) writeFileSync(join(dir, 'ledger.jsonl'), ledger.text());
  writeFileSync(join(dir, 'config.yaml'), `${yamlOf(config(spec))}\n`);
  writeFileSync(join(dir, 'run.json'), JSON.stringify(runInfo(spec, upTo, upTo >= spec.steps ? 'finished' : 'running'), null, 2));
}

/**
 * The run's ledger.jsonl (docs/run-format.md), a line per step with each group's correct samples.
 * Its prompts come from a pool of twice a step's prompts, so that each recurs every other step and
 * gets a status (learned, unstable...); the rollout files keep their own per-step prompt ids (no
 * test joins the two).
 */
class LedgerWriter {
  private readonly lines: string[] = [];
  private readonly order = new Map<string, number>();
  constructor(private readonly spec: RunSpec) {}

  add(step: number, samples: readonly RolloutSample[]): void {
    const pool = 2 * this.spec.prompts;
    const added: [string, null][] = [];
    const p: number[] = [];
    const c: number[] = [];
    for (let g = 0; g < this.spec.prompts; g++) {
      const id = `pool-${String((step * this.spec.prompts + g) % pool).padStart(3, '0')}`;
      if (!this.order.has(id)) {
        this.order.set(id, this.order.size);
        added.push([id, null]);
      }
      p.push(this.order.get(id) as number);
      c.push(samples.filter((s) => s.group === g && s.reward > 0).length);
    }
    this.lines.push(JSON.stringify({ step, ...(added.length ? { new: added } : {}), p, c, n: this.spec.n }));
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

/** The metrics of each named eval set at a given skill: the i-th set is harder than the one before. */
function evalSetValues(spec: RunSpec, skill: number): Record<string, number> {
  const values: Record<string, number> = {};
  (spec.evalSets ?? []).forEach((name, i) => {
    const accuracy = (0.2 + 0.5 * skill) / (i + 1);
    values[`eval/${name}/accuracy`] = accuracy;
    values[`eval/${name}/pass@1`] = accuracy * 0.9;
    values[`eval/${name}/source=${name}_src/accuracy`] = accuracy;
  });
  return values;
}

/** A run with one step of `count` samples, for the virtualised list. */
export function writeBigRun(root: string, count = BIG_SAMPLES): void {
  const spec: RunSpec = { ...RUN_A, id: BIG_RUN_ID, name: 'big', steps: 1, n: 8, prompts: count / 8, rolloutsEvery: 1, payloadStep: undefined };
  const dir = join(root, spec.id);
  mkdirSync(join(dir, 'rollouts'), { recursive: true });
  const samples = samplesOf(spec, 1, new Rng(7)).map(({ tokens: _t, token_logratio: _l, ...rest }) => rest as RolloutSample);
  writeRolloutFile(dir, 1, samples);
  writeFileSync(
    join(dir, 'events.jsonl'),
    `${JSON.stringify({ t: 1, type: 'run_started', config: config(spec), total_steps: 1 })}\n${JSON.stringify({ t: 2, type: 'rollouts', step: 1, file: 'rollouts/step-000001.jsonl', count })}\n`,
  );
  writeFileSync(join(dir, 'config.yaml'), `${yamlOf(config(spec))}\n`);
  writeFileSync(join(dir, 'run.json'), JSON.stringify(runInfo(spec, 1, 'finished'), null, 2));
}
