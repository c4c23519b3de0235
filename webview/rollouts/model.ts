// The inspector's rows: filtering, sorting and grouping of one step's samples. No DOM, so the
// same code is tested in plain Node.

import { isCorrect } from '../../src/run/model/runModel';
import type { LabelFilter, SortKey } from './contract';
import type { RolloutSample, TokenDetails } from '../shared/contract';

export interface Filters {
  sort: SortKey;
  descending: boolean;
  label: LabelFilter;
  text: string;
  criticWrong: boolean;
  /** Only samples whose label flipped in the run's newest re-verification. */
  flipped: boolean;
  /** Only samples where the audit checker (task.audit_verifier) disagrees with the reward's label. */
  disagree: boolean;
}

export const DEFAULT_FILTERS: Filters = {
  sort: 'group', descending: false, label: 'all', text: '', criticWrong: false, flipped: false, disagree: false,
};

/** The audit checker's label when the record has one (0 or 1), else null. */
export const auditLabel = (s: Pick<RolloutSample, 'audit'>): 0 | 1 | null =>
  s.audit?.label === 0 || s.audit?.label === 1 ? s.audit.label : null;

/** The audit checker gave a label, without an error, other than the reward's. */
export const checkersDisagree = (s: Pick<RolloutSample, 'audit' | 'reward'>): boolean => {
  const audit = auditLabel(s);
  return audit !== null && !s.audit?.error && (audit === 1) !== isCorrect(s.reward);
};

export type Row =
  | { kind: 'group'; group: number; correct: number; total: number; prompt: string }
  | { kind: 'sample'; sample: number };

/**
 * The critic predicts "correct" when σ(ψ) > 0.5, as `critic/accuracy` does; wrong when that disagrees
 * with R. Never wrong without a σ(ψ): a step without the critic pass, or an imported run.
 */
export const isCriticWrong = (s: Pick<RolloutSample, 'reward' | 'p_correct'>): boolean =>
  typeof s.p_correct === 'number' && s.p_correct > 0.5 !== isCorrect(s.reward);

/** Fields every record of our own trainer has (null when undefined at a step) and an imported record lacks. */
export const PACS_ONLY_FIELDS = ['psi', 'p_correct', 'grad_weight', 'weight', 'logratio', 'length'] as const;

/** The PACS-only fields a record leaves out (absent, not null: null is a step without the critic pass). */
export const absentFields = (s: RolloutSample): string[] => PACS_ONLY_FIELDS.filter((k) => !(k in s));

export const sampleKey = (s: Pick<RolloutSample, 'group' | 'index'>): string => `${s.group}:${s.index}`;

export class SampleSearch {
  private readonly lowered = new Map<number, string>();

  constructor(private readonly samples: readonly RolloutSample[]) {}

  matches(i: number, needle: string): boolean {
    let text = this.lowered.get(i);
    if (text === undefined) {
      const s = this.samples[i];
      text = `${s.prompt}\u0000${s.response}\u0000${s.answer}`.toLowerCase();
      this.lowered.set(i, text);
    }
    return text.includes(needle);
  }
}

const SORT_VALUE: Record<Exclude<SortKey, 'group'>, (s: RolloutSample) => number> = {
  psi: (s) => s.psi,
  reward: (s) => s.reward,
  length: (s) => s.length,
  grad_weight: (s) => s.grad_weight,
};

export function buildRows(samples: readonly (RolloutSample | undefined)[], filters: Filters, search?: SampleSearch): Row[] {
  const needle = filters.text.trim().toLowerCase();
  const searcher = needle ? (search ?? new SampleSearch(samples as RolloutSample[])) : undefined;
  const kept: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    if (!s) continue;
    if (filters.label === 'correct' && !isCorrect(s.reward)) continue;
    if (filters.label === 'wrong' && isCorrect(s.reward)) continue;
    if (filters.criticWrong && !isCriticWrong(s)) continue;
    if (filters.flipped && !s.reverified) continue;
    if (filters.disagree && !checkersDisagree(s)) continue;
    if (searcher && !searcher.matches(i, needle)) continue;
    kept.push(i);
  }
  const at = (i: number) => samples[i] as RolloutSample;
  const byPosition = (a: number, b: number) => at(a).group - at(b).group || at(a).index - at(b).index;
  if (filters.sort !== 'group') {
    const value = SORT_VALUE[filters.sort];
    const sign = filters.descending ? -1 : 1;
    kept.sort((a, b) => sign * (nanLast(value(at(a)), value(at(b)))) || byPosition(a, b));
    return kept.map((sample) => ({ kind: 'sample', sample }));
  }
  kept.sort(byPosition);
  if (filters.descending) kept.reverse();
  const groupStats = labelCounts(samples);
  const rows: Row[] = [];
  let current: number | undefined;
  for (const i of kept) {
    const s = at(i);
    if (s.group !== current) {
      current = s.group;
      const stats = groupStats.get(s.group) ?? { correct: 0, total: 0 };
      rows.push({ kind: 'group', group: s.group, correct: stats.correct, total: stats.total, prompt: s.prompt });
    }
    rows.push({ kind: 'sample', sample: i });
  }
  return rows;
}

function nanLast(a: number, b: number): number {
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  if (an || bn) return an === bn ? 0 : an ? 1 : -1;
  return a - b;
}

/** Labels over the whole group, filtered or not: a group's mix is what PACS weights by. */
export function labelCounts(samples: readonly (RolloutSample | undefined)[]): Map<number, { correct: number; total: number }> {
  const counts = new Map<number, { correct: number; total: number }>();
  for (const s of samples) {
    if (!s) continue;
    const c = counts.get(s.group) ?? { correct: 0, total: 0 };
    c.total++;
    if (isCorrect(s.reward)) c.correct++;
    counts.set(s.group, c);
  }
  return counts;
}

/** Token heat: each token's log-ratio scaled by the sample's largest magnitude, in [-1, 1]. */
export function tokenHeat(values: readonly number[]): { heat: number[]; scale: number } {
  let scale = 0;
  for (const v of values) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  const heat = values.map((v) => (Number.isFinite(v) && scale > 0 ? v / scale : 0));
  return { heat, scale };
}

/** Index of the next sample row from `from` in direction `delta`, skipping group headers. */
export function nextSampleRow(rows: readonly Row[], from: number, delta: number): number {
  if (rows.length === 0) return -1;
  let i = Math.max(-1, Math.min(rows.length, from));
  const step = delta >= 0 ? 1 : -1;
  let remaining = Math.abs(delta) || 1;
  let last = from >= 0 && from < rows.length && rows[from].kind === 'sample' ? from : -1;
  while (remaining > 0) {
    i += step;
    if (i < 0 || i >= rows.length) break;
    if (rows[i].kind === 'sample') {
      last = i;
      remaining--;
    }
  }
  return last;
}

const INVISIBLE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF\u00AD]/gu;

/**
 * Invisible and bidi control characters in a text (zero-width spaces, RLO/LRO overrides,
 * isolates): shown verbatim they can hide or reorder what a reader sees, so the inspector
 * names them next to the text.
 */
export function invisibleChars(text: string): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(INVISIBLE)) {
    found.add(`U+${(match[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`);
  }
  return [...found].sort();
}

export interface TokensAnswer {
  details: TokenDetails | null;
  /** The whole response, when the host read it. */
  response?: string;
  error: string | null;
}

/**
 * The token details and whole responses of the shown step's samples. A JSONL step's samples hold
 * their own; a Parquet step's are marked `token_details` (and `response_cut` where the response is
 * only its preview) and asked of the host once each, when first shown; the last KEPT answers are kept.
 */
export class TokenRequests {
  static readonly KEPT = 32;
  private readonly got = new Map<string, TokensAnswer>();
  private readonly asked = new Set<string>();

  reset(): void {
    this.got.clear();
    this.asked.clear();
  }

  /** The sample's details, or undefined while they are asked for (`ask` runs once a sample). */
  details(s: RolloutSample, ask: (group: number, index: number) => void): TokensAnswer | undefined {
    if (!s.token_details && !s.response_cut) {
      const details = Array.isArray(s.tokens) ? { tokens: s.tokens, ...(Array.isArray(s.token_logratio) ? { token_logratio: s.token_logratio } : {}) } : null;
      return { details, error: null };
    }
    const key = sampleKey(s);
    const got = this.got.get(key);
    if (got) return got;
    if (!this.asked.has(key)) {
      this.asked.add(key);
      ask(s.group, s.index);
    }
    return undefined;
  }

  receive(group: number, index: number, details: TokenDetails | null, error: string | null, response?: string): void {
    const key = sampleKey({ group, index });
    this.got.delete(key);
    this.got.set(key, response === undefined ? { details, error } : { details, response, error });
    if (this.got.size > TokenRequests.KEPT) {
      const oldest = this.got.keys().next().value as string;
      this.got.delete(oldest);
      this.asked.delete(oldest);
    }
  }
}
