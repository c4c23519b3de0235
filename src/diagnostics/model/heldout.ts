/**
 * Held-out problems one by one (`heldout/step-N.jsonl`, docs/run-format.md): each evaluation's
 * examples, and which problems training fixed or broke between two evaluations. Pure: no VS Code, no I/O.
 */
import { parseBoundedJson } from '../../run/model/boundedJson';

export interface HeldoutResult {
  set: string | null;
  id: string;
  source: string | null;
  greedyCorrect: boolean;
  /** Sampled responses the verifier accepted, of `samples`. */
  correct: number;
  samples: number;
}

/** A result with its responses (untrusted model output: plain text only). */
export interface HeldoutExample extends HeldoutResult {
  greedy: string;
  responses: string[];
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
const textOrNull = (x: unknown): string | null => (typeof x === 'string' ? x : null);

/** One held-out file's examples; lines that are not JSON or lack a field are counted in `bad`. */
export function parseHeldout(text: string): { examples: HeldoutExample[]; bad: number } {
  const examples: HeldoutExample[] = [];
  let bad = 0;
  for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
    if (!line.trim()) continue;
    let o: Record<string, unknown>;
    try {
      o = parseBoundedJson(line) as Record<string, unknown>;
    } catch {
      bad += 1;
      continue;
    }
    if (typeof o !== 'object' || o === null || typeof o.id !== 'string' || typeof o.greedy_correct !== 'boolean' || !isCount(o.correct) || !isCount(o.samples)) {
      bad += 1;
      continue;
    }
    examples.push({
      set: textOrNull(o.set), id: o.id, source: textOrNull(o.data_source), greedyCorrect: o.greedy_correct, correct: o.correct,
      samples: o.samples, greedy: typeof o.greedy === 'string' ? o.greedy : '',
      responses: Array.isArray(o.responses) ? o.responses.filter((r): r is string => typeof r === 'string') : [],
    });
  }
  return { examples, bad };
}

/** The light fields of an example (what the held-out view's table needs). */
export function resultOf(e: HeldoutExample): HeldoutResult {
  return { set: e.set, id: e.id, source: e.source, greedyCorrect: e.greedyCorrect, correct: e.correct, samples: e.samples };
}

export interface Evaluation {
  step: number;
  results: HeldoutResult[];
}

export interface HeldoutChange {
  set: string | null;
  id: string;
  source: string | null;
  change: 'fixed' | 'broken';
  from: HeldoutResult & { step: number };
  to: HeldoutResult & { step: number };
}

const key = (r: HeldoutResult): string => `${r.set ?? ''}\u0000${r.id}`;

/**
 * The problems whose greedy answer turned right (`fixed`) or wrong (`broken`) between the base
 * evaluation (the first, `since: 'start'`, or the one before the last, `'previous'`) and the last;
 * in the last evaluation's order. Fewer than two evaluations: none.
 */
export function heldoutChanges(evaluations: readonly Evaluation[], since: 'start' | 'previous'): HeldoutChange[] {
  if (evaluations.length < 2) return [];
  const last = evaluations[evaluations.length - 1];
  const base = since === 'start' ? evaluations[0] : evaluations[evaluations.length - 2];
  const before = new Map(base.results.map((r) => [key(r), r]));
  const out: HeldoutChange[] = [];
  for (const now of last.results) {
    const then = before.get(key(now));
    if (!then || then.greedyCorrect === now.greedyCorrect) continue;
    out.push({ set: now.set, id: now.id, source: now.source, change: now.greedyCorrect ? 'fixed' : 'broken',
      from: { ...then, step: base.step }, to: { ...now, step: last.step } });
  }
  return out;
}

/** One eval set's problems of one data source: how many, their greedy accuracy at the base and the
 * last evaluation (null where the base evaluation had none of them) and how many were fixed and broken. */
export interface HeldoutGroup {
  set: string | null;
  source: string | null;
  problems: number;
  from: { step: number; accuracy: number | null };
  to: { step: number; accuracy: number };
  fixed: number;
  broken: number;
}

const groupKey = (r: { set: string | null; source: string | null }): string => JSON.stringify([r.set, r.source]);

/**
 * The last evaluation's problems grouped by eval set and data source (in its order), each group's
 * accuracy at the base evaluation (as `heldoutChanges`) and at the last, with its fixed and broken
 * counts. Fewer than two evaluations: none.
 */
export function heldoutGroups(evaluations: readonly Evaluation[], since: 'start' | 'previous'): HeldoutGroup[] {
  if (evaluations.length < 2) return [];
  const last = evaluations[evaluations.length - 1];
  const base = since === 'start' ? evaluations[0] : evaluations[evaluations.length - 2];
  const then = byGroup(base.results);
  const changes = heldoutChanges(evaluations, since);
  return [...byGroup(last.results)].map(([k, results]) => {
    const mine = changes.filter((c) => groupKey(c) === k);
    return {
      set: results[0].set, source: results[0].source, problems: results.length,
      from: { step: base.step, accuracy: accuracyOf(then.get(k) ?? []) }, to: { step: last.step, accuracy: accuracyOf(results) ?? 0 },
      fixed: mine.filter((c) => c.change === 'fixed').length, broken: mine.filter((c) => c.change === 'broken').length,
    };
  });
}

function byGroup(results: readonly HeldoutResult[]): Map<string, HeldoutResult[]> {
  const groups = new Map<string, HeldoutResult[]>();
  for (const r of results) {
    const k = groupKey(r);
    const group = groups.get(k);
    if (group) group.push(r);
    else groups.set(k, [r]);
  }
  return groups;
}

const accuracyOf = (results: readonly HeldoutResult[]): number | null =>
  results.length ? results.filter((r) => r.greedyCorrect).length / results.length : null;

/** The data sources of the last evaluation, in its order (null: rows without one). */
export function heldoutSources(evaluations: readonly Evaluation[]): (string | null)[] {
  const last = evaluations[evaluations.length - 1];
  return [...new Set((last?.results ?? []).map((r) => r.source))];
}
