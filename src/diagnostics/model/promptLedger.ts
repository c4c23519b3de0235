/**
 * The prompt ledger (`ledger.jsonl`, docs/run-format.md) read into rows, and what the Prompts view
 * and the dashboard show of it: each prompt's pass rates and status, and the share of prompts in
 * each status and of groups all correct / all wrong / mixed over steps. Pure: no VS Code, no I/O.
 *
 * A prompt is *solved* at a step when at least half its group is correct. Its status over the steps
 * that sampled it: `always solved` / `never solved` (no change), `learned` (one change, unsolved to
 * solved), `forgotten` (one change, solved to unsolved), `unstable` (two changes or more).
 */

import { parseBoundedJson } from '../../run/model/boundedJson';

export const STATUSES = ['always solved', 'never solved', 'learned', 'forgotten', 'unstable'] as const;
export type PromptStatus = (typeof STATUSES)[number];

export interface LedgerRow {
  step: number;
  id: string;
  source: string | null;
  correct: number;
  n: number;
}

export interface ParsedLedger {
  rows: LedgerRow[];
  /** Lines skipped: not JSON, or fields of the wrong type (named by line number). */
  bad: string[];
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

/** The ledger's rows in file order; a last line cut short (a writer mid-append) is left out, not reported. */
export function parseLedger(text: string): ParsedLedger {
  const rows: LedgerRow[] = [];
  const bad: string[] = [];
  const names: Array<[string, string | null]> = [];
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  complete.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let obj: unknown;
    try {
      obj = parseBoundedJson(line);
    } catch {
      bad.push(`line ${i + 1}: not JSON`);
      return;
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      bad.push(`line ${i + 1}: not a JSON object`);
      return;
    }
    const o = obj as Record<string, unknown>;
    const added = o.new ?? [];
    const p = o.p, c = o.c, n = o.n;
    if (!isCount(o.step) || !Array.isArray(added) || !Array.isArray(p) || !Array.isArray(c) || p.length !== c.length
      || !(isCount(n) || (Array.isArray(n) && n.length === p.length))) {
      bad.push(`line ${i + 1}: needs a whole step and lists p, c (and n) of one length`);
      return;
    }
    for (const entry of added) {
      const ok = Array.isArray(entry) && typeof entry[0] === 'string' && (entry[1] === null || typeof entry[1] === 'string');
      names.push(ok ? [entry[0] as string, entry[1] as string | null] : [String(names.length), null]);
    }
    p.forEach((index, k) => {
      const size = Array.isArray(n) ? n[k] : n;
      if (!isCount(index) || index >= names.length || !isCount(c[k]) || !isCount(size)) return;
      rows.push({ step: o.step as number, id: names[index][0], source: names[index][1], correct: c[k], n: size });
    });
  });
  return { rows, bad };
}

export interface PromptSummary {
  id: string;
  source: string | null;
  seen: number;
  /** Pass rate (correct / n) at the first and at the last step that sampled it. */
  first: number;
  last: number;
  /** last − first. */
  trend: number;
  firstSolvedStep: number | null;
  status: PromptStatus;
  /** The steps that sampled it, in order. */
  steps: number[];
}

const solved = (row: LedgerRow): boolean => row.n > 0 && 2 * row.correct >= row.n;

class PromptState {
  seen = 0;
  first = 0;
  last = 0;
  wasSolved = false;
  firstSolvedStep: number | null = null;
  startedSolved = false;
  changes = 0;
  steps: number[] = [];
  constructor(readonly id: string, readonly source: string | null) {}

  add(row: LedgerRow): void {
    const rate = row.n > 0 ? row.correct / row.n : 0;
    const now = solved(row);
    if (this.seen === 0) {
      this.first = rate;
      this.startedSolved = now;
    } else if (now !== this.wasSolved) {
      this.changes += 1;
    }
    if (now && this.firstSolvedStep === null) this.firstSolvedStep = row.step;
    this.wasSolved = now;
    this.last = rate;
    this.seen += 1;
    this.steps.push(row.step);
  }

  get status(): PromptStatus {
    if (this.changes === 0) return this.startedSolved ? 'always solved' : 'never solved';
    if (this.changes === 1) return this.startedSolved ? 'forgotten' : 'learned';
    return 'unstable';
  }
}

/** One summary per prompt seen, in order of first appearance. */
export function summarizePrompts(rows: readonly LedgerRow[]): PromptSummary[] {
  const states = new Map<string, PromptState>();
  for (const row of rows) {
    let s = states.get(row.id);
    if (!s) states.set(row.id, (s = new PromptState(row.id, row.source)));
    s.add(row);
  }
  return [...states.values()].map((s) => ({
    id: s.id, source: s.source, seen: s.seen, first: s.first, last: s.last, trend: s.last - s.first,
    firstSolvedStep: s.firstSolvedStep, status: s.status, steps: s.steps,
  }));
}

export interface StepShares {
  step: number;
  /** The share of the prompts seen so far in each status, as of this step. */
  status: Record<PromptStatus, number>;
  /** The share of this step's groups all correct, all wrong and mixed. */
  allCorrect: number;
  allWrong: number;
  mixed: number;
}

/** A run's shares over steps as the dashboard charts them (promptHealth.ts reads them from its ledger). */
export interface PromptHealth {
  runId: string;
  runName: string;
  /** The steps of the ledger (before thinning). */
  steps: number;
  /** At most MAX_SHARE_POINTS of them, evenly spaced, the first and the last included. */
  shares: StepShares[];
  /** Ledger lines skipped (not JSON, or fields of the wrong type). */
  badLines: number;
}

/** The dashboard's prompt chart: per step, status shares of the prompts seen so far and group shares. */
export function sharesOverSteps(rows: readonly LedgerRow[]): StepShares[] {
  const states = new Map<string, PromptState>();
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<PromptStatus, number>;
  const out: StepShares[] = [];
  let i = 0;
  while (i < rows.length) {
    const step = rows[i].step;
    let right = 0, wrong = 0, groups = 0;
    for (; i < rows.length && rows[i].step === step; i++) {
      const row = rows[i];
      let s = states.get(row.id);
      if (s) counts[s.status] -= 1;
      else states.set(row.id, (s = new PromptState(row.id, row.source)));
      s.add(row);
      counts[s.status] += 1;
      groups += 1;
      if (row.correct === row.n) right += 1;
      else if (row.correct === 0) wrong += 1;
    }
    const seen = states.size;
    out.push({
      step,
      status: Object.fromEntries(STATUSES.map((s) => [s, counts[s] / seen])) as Record<PromptStatus, number>,
      allCorrect: right / groups, allWrong: wrong / groups, mixed: (groups - right - wrong) / groups,
    });
  }
  return out;
}
