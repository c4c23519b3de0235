// Scores (prompt, response) pairs against a run's ONNX export: r̂ = β · Σ_t (log π_step − log π_ref)
// over the response tokens, each token's contribution, and ψ / σ(ψ) against a logged group.
// trainer/pacslab/scoring.py is the same computation; the tests hold the two within 1e-4.
import { join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { groupPsi, ScoreError, sigmoid, tokenLogprobs } from './implicitReward';
import { exportFilePath, exportFiles, exportState, onnxDir, readManifest, referenceSpec } from './manifest';
import type { OnnxManifest } from './manifest';
import { loadOnnxRuntime } from './onnxRuntime';
import type { Ort } from './onnxRuntime';
import { readGroup } from './group';
import type { SampleRef } from './group';
import { ScoringTokenizer } from './tokenizer';
import type { Encoded } from './tokenizer';
import type { RolloutSample } from '../../run/model/runFormat';

export interface ScoreResult {
  run: string;
  step: number;
  /** `base` or `step:M`. */
  reference: string;
  beta: number;
  reward_method: string;
  eos: boolean;
  /** β · Σ_t (log π_step − log π_ref) over the response tokens. */
  logratio: number;
  /** r̂ as the run's reward_method defines it (equal to `logratio` for `logratio`). */
  reward_hat: number;
  tokens: string[];
  token_ids: number[];
  token_logratio: number[];
  token_logp: number[];
  token_ref_logp: number[];
  unknown_chars: string[];
}

export interface GroupMemberScore {
  index: number;
  reward: number | null;
  reward_hat: number;
  logged_logratio: number | null;
}

export interface GroupScoreResult extends ScoreResult {
  sample: SampleRef;
  /** The prompt or response differs from the logged one, so the verifier's label does not apply. */
  edited: boolean;
  label: number | null;
  adv_estimator: string;
  psi: number;
  p_correct: number;
  group: GroupMemberScore[];
}

export interface GroupEdit {
  prompt?: string;
  response?: string;
  /** Default: the logged sample's (not truncated) when unedited, else true. */
  eos?: boolean;
}

type Which = 'policy' | 'reference';

export class RunScorer {
  private constructor(
    readonly runDir: string,
    readonly step: number,
    readonly manifest: OnnxManifest,
    private readonly tokenizer: ScoringTokenizer,
    private readonly ort: Ort,
    private readonly sessions: Record<Which, InferenceSession>,
  ) {}

  /** Opens the export of `step` (the newest exported step when undefined). */
  static async open(runDir: string, step?: number): Promise<RunScorer> {
    const manifest = await readManifest(runDir);
    if (!manifest) {
      throw new ScoreError(`${join(onnxDir(runDir), 'manifest.json')}: missing or of another format; run \`python -m pacslab export-onnx --run ${runDir}\` first`);
    }
    const wanted = step ?? manifest.step;
    const state = await exportState(runDir, wanted);
    if (!state.ready) {
      throw new ScoreError(`${onnxDir(runDir)}: ${state.reason}; run \`python -m pacslab export-onnx --run ${runDir} --step ${wanted} --reference ${referenceSpec(manifest.reference)}\``);
    }
    // exportState checked every file: each a regular file inside the export folder.
    const [policyPath, referencePath, tokenizerPath, tokenizerConfigPath] = await Promise.all(
      exportFiles(state.manifest, wanted).map(([key, file]) => exportFilePath(runDir, file, key)),
    );
    const tokenizer = await ScoringTokenizer.load(tokenizerPath, tokenizerConfigPath, state.manifest.tokenizer);
    const ort = await loadOnnxRuntime();
    const options: InferenceSession.SessionOptions = { executionProviders: ['cpu'], logSeverityLevel: 3 };
    const [policy, reference] = await Promise.all([
      ort.InferenceSession.create(policyPath, options),
      ort.InferenceSession.create(referencePath, options),
    ]);
    return new RunScorer(runDir, wanted, state.manifest, tokenizer, ort, { policy, reference });
  }

  get beta(): number {
    return this.manifest.beta;
  }

  async score(prompt: string, response: string, eos = true): Promise<ScoreResult> {
    return this.scoreEncoded(this.tokenizer.encode(prompt, response, eos), eos);
  }

  /**
   * A logged sample as it was sampled: its logged tokens when they all name vocabulary entries
   * (special tokens inside the response survive), else its text re-tokenized.
   */
  async scoreLogged(record: RolloutSample): Promise<ScoreResult> {
    const ids = this.tokenizer.loggedIds(record.tokens);
    if (ids === null) return this.score(record.prompt, record.response, !record.truncated);
    const encoded: Encoded = { promptIds: this.tokenizer.encodePrompt(record.prompt), responseIds: ids, unknownChars: [] };
    return this.scoreEncoded(encoded, ids[ids.length - 1] === this.manifest.tokenizer.eos_token_id);
  }

  private async scoreEncoded(encoded: Encoded, eos: boolean): Promise<ScoreResult> {
    const ids = [...encoded.promptIds, ...encoded.responseIds];
    const start = encoded.promptIds.length;
    const [policyLogits, referenceLogits] = await Promise.all([this.logits('policy', ids), this.logits('reference', ids)]);
    const logp = tokenLogprobs(policyLogits.data, policyLogits.vocab, encoded.responseIds, start);
    const refLogp = tokenLogprobs(referenceLogits.data, referenceLogits.vocab, encoded.responseIds, start);
    const contributions = logp.map((lp, k) => this.beta * (lp - refLogp[k]));
    const logratio = contributions.reduce((a, b) => a + b, 0);
    const meanLogp = logp.reduce((a, b) => a + b, 0) / logp.length;
    return {
      run: this.runDir,
      step: this.step,
      reference: referenceSpec(this.manifest.reference),
      beta: this.beta,
      reward_method: this.manifest.reward_method,
      eos,
      logratio,
      reward_hat: this.manifest.reward_method === 'logratio' ? logratio : this.beta * meanLogp,
      tokens: encoded.responseIds.map((id) => this.tokenizer.tokenText(id)),
      token_ids: encoded.responseIds,
      token_logratio: contributions,
      token_logp: logp,
      token_ref_logp: refLogp,
      unknown_chars: encoded.unknownChars,
    };
  }

  /** Scores a logged sample (or its edit) and its ψ against the group, every member re-scored here. */
  async scoreInGroup(ref: SampleRef, edit: GroupEdit = {}): Promise<GroupScoreResult> {
    const members = await readGroup(this.runDir, ref);
    const position = members.findIndex((m) => m.index === ref.index);
    const logged = members[position];
    const prompt = edit.prompt ?? logged.prompt;
    const response = edit.response ?? logged.response;
    const edited = response !== logged.response || prompt !== logged.prompt;
    const eos = edit.eos ?? (edit.response === undefined ? !logged.truncated : true);
    const result = !edited && eos === !logged.truncated ? await this.scoreLogged(logged) : await this.score(prompt, response, eos);
    const rewards: number[] = [];
    for (const [k, m] of members.entries()) {
      rewards.push(k === position ? result.reward_hat : (await this.scoreLogged(m)).reward_hat);
    }
    const psi = groupPsi(rewards, position, this.manifest.adv_estimator, this.manifest.norm_by_std);
    return {
      ...result,
      sample: ref,
      edited,
      label: edited ? null : (logged.reward ?? null),
      adv_estimator: this.manifest.adv_estimator,
      psi,
      p_correct: sigmoid(psi),
      group: members.map((m, k) => ({
        index: m.index,
        reward: m.reward ?? null,
        reward_hat: rewards[k],
        logged_logratio: typeof m.logratio === 'number' ? m.logratio : null,
      })),
    };
  }

  async release(): Promise<void> {
    await Promise.all([this.sessions.policy.release(), this.sessions.reference.release()]);
  }

  private async logits(which: Which, ids: readonly number[]): Promise<{ data: Float32Array; vocab: number }> {
    const shape = [1, ids.length];
    const inputIds = new this.ort.Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(id)), shape);
    const mask = new this.ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), shape);
    const out = await this.sessions[which].run({ input_ids: inputIds, attention_mask: mask });
    const logits = out.logits;
    try {
      return { data: logits.data as Float32Array, vocab: logits.dims[2] };
    } finally {
      inputIds.dispose();
      mask.dispose();
    }
  }
}

/** Each open RunScorer holds a policy and a reference session, each the size of the model. */
const MAX_OPEN_SCORERS = 2;

/**
 * One open RunScorer per run directory and step, reopened when the export changes; the least
 * recently used is released beyond MAX_OPEN_SCORERS, and all on `release` / `dispose`.
 */
export class ScorerCache {
  /** In use order: the most recently used last. */
  private readonly open = new Map<string, { stamp: string; scorer: Promise<RunScorer> }>();

  async get(runDir: string, step: number): Promise<RunScorer> {
    const key = `${runDir}\u0000${step}`;
    const stamp = (await readManifest(runDir))?.created_at ?? '';
    const cached = this.open.get(key);
    if (cached) this.open.delete(key);
    if (cached && cached.stamp === stamp) {
      this.open.set(key, cached);
      return cached.scorer;
    }
    if (cached) releaseWhenOpen(cached.scorer);
    const scorer = RunScorer.open(runDir, step);
    this.open.set(key, { stamp, scorer });
    scorer.catch(() => this.open.get(key)?.scorer === scorer && this.open.delete(key));
    for (const [oldest, entry] of this.open) {
      if (this.open.size <= MAX_OPEN_SCORERS) break;
      this.open.delete(oldest);
      releaseWhenOpen(entry.scorer);
    }
    return scorer;
  }

  /** Releases the sessions of `runDir` (every run when undefined). */
  async release(runDir?: string): Promise<void> {
    const keys = [...this.open.keys()].filter((key) => runDir === undefined || key.startsWith(`${runDir}\u0000`));
    const scorers = keys.map((key) => {
      const entry = this.open.get(key)!;
      this.open.delete(key);
      return entry.scorer.then((s) => s.release(), () => undefined);
    });
    await Promise.all(scorers);
  }

  dispose(): void {
    void this.release();
  }
}

function releaseWhenOpen(scorer: Promise<RunScorer>): void {
  void scorer.then((s) => s.release(), () => undefined);
}
