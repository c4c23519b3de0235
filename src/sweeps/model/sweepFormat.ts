// The sweep folder as readers see it (docs/run-format.md, "Sweeps"): sweep.json, trials.json and
// importance.json under `.pacs/sweeps/<sweep id>/`, and the `sweep` field of a trial's run.json.
// Everything here is untrusted data: each field is checked, and a bad one is dropped, not trusted.
import { dirname, join } from 'node:path';
import { isRecord } from '../../run/model/events';
import type { RunInfo } from '../../run/model/runFormat';

export const SWEEP_FILES = { info: 'sweep.json', trials: 'trials.json', importance: 'importance.json', control: 'control.jsonl', log: 'controller.log', gitJson: 'git.json', gitPatch: 'git.patch' } as const;
export const SWEEP_STATUSES = ['running', 'paused', 'stopping', 'stopped', 'finished', 'failed', 'queued'] as const;
export type SweepStatus = (typeof SWEEP_STATUSES)[number] | 'crashed';
export const TRIAL_STATES = ['running', 'complete', 'pruned', 'failed'] as const;
export type TrialState = (typeof TRIAL_STATES)[number];
export type ParamValue = number | string | boolean | null;

export interface SweepCounts {
  running: number;
  complete: number;
  pruned: number;
  failed: number;
  total: number;
}

export interface SweepInfo {
  id: string;
  dir: string;
  name: string;
  status: SweepStatus;
  method: string;
  metric: { name: string; goal: 'maximize' | 'minimize'; at: string };
  parameters: string[];
  seeds: number[];
  nTrials: number;
  nRuns: number;
  parallel: number;
  prune: string;
  backend: 'local' | 'slurm';
  counts: SweepCounts | null;
  best: { trial: number; value: number; params: Record<string, ParamValue>; runs: string[] } | null;
  controller: { pid: number; startTime: string | null; host: string | null } | null;
  configPath: string | null;
  source: string | null;
  slurmJobId: string | null;
}

export interface TrialInfo {
  number: number;
  params: Record<string, ParamValue>;
  state: TrialState;
  value: number | null;
  pruned: { step: number; reason: string } | null;
  error: string | null;
  runs: { seed: number; runId: string | null }[];
}

/** A trial's run.json `sweep` field. */
export interface RunSweepTag {
  id: string;
  trial: number;
  seed: number;
  params: Record<string, ParamValue>;
  trialState: TrialState | null;
  pruned: { step: number; reason: string } | null;
}

export interface SweepImportance {
  importance: Record<string, number> | null;
  reason: string | null;
}

/** `.pacs/sweeps` beside a runs root `.pacs/runs`. */
export function sweepsRootOf(runsRoot: string): string {
  return join(dirname(runsRoot), 'sweeps');
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const int = (v: unknown): number | null => (Number.isInteger(v) ? (v as number) : null);

function params(v: unknown): Record<string, ParamValue> {
  if (!isRecord(v)) return {};
  const out: Record<string, ParamValue> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null || typeof x === 'string' || typeof x === 'boolean' || num(x) !== null) out[k] = x as ParamValue;
  }
  return out;
}

function pruned(v: unknown): { step: number; reason: string } | null {
  if (!isRecord(v) || int(v.step) === null || str(v.reason) === null) return null;
  return { step: v.step as number, reason: v.reason as string };
}

function trialState(v: unknown): TrialState | null {
  return (TRIAL_STATES as readonly unknown[]).includes(v) ? (v as TrialState) : null;
}

export function parseSweepInfo(raw: unknown, dir: string): SweepInfo | null {
  if (!isRecord(raw) || str(raw.id) === null) return null;
  const metric = isRecord(raw.metric) ? raw.metric : {};
  const c = isRecord(raw.counts) ? raw.counts : null;
  const b = isRecord(raw.best) ? raw.best : null;
  const ctl = isRecord(raw.controller) ? raw.controller : null;
  const status = (SWEEP_STATUSES as readonly unknown[]).includes(raw.status) ? (raw.status as SweepStatus) : 'running';
  return {
    id: raw.id as string,
    dir,
    name: str(raw.name) ?? (raw.id as string),
    status,
    method: str(raw.method) ?? 'grid',
    metric: { name: str(metric.name) ?? 'eval/accuracy', goal: metric.goal === 'minimize' ? 'minimize' : 'maximize', at: str(metric.at) ?? 'last' },
    parameters: Array.isArray(raw.parameters) ? raw.parameters.filter((p): p is string => typeof p === 'string') : [],
    seeds: Array.isArray(raw.seeds) ? raw.seeds.filter((s): s is number => Number.isInteger(s)) : [],
    nTrials: int(raw.n_trials) ?? 0,
    nRuns: int(raw.n_runs) ?? 0,
    parallel: int(raw.parallel) ?? 1,
    prune: str(raw.prune) ?? 'none',
    backend: raw.backend === 'slurm' ? 'slurm' : 'local',
    counts: c ? { running: int(c.running) ?? 0, complete: int(c.complete) ?? 0, pruned: int(c.pruned) ?? 0, failed: int(c.failed) ?? 0, total: int(c.total) ?? 0 } : null,
    best: b && int(b.trial) !== null && num(b.value) !== null
      ? { trial: b.trial as number, value: b.value as number, params: params(b.params), runs: Array.isArray(b.runs) ? b.runs.filter((r): r is string => typeof r === 'string') : [] }
      : null,
    controller: ctl && int(ctl.pid) !== null ? { pid: ctl.pid as number, startTime: str(ctl.pid_start_time), host: str(ctl.host) } : null,
    configPath: str(raw.config_path),
    source: str(raw.source),
    slurmJobId: str(raw.slurm_job_id),
  };
}

export function parseTrials(raw: unknown): TrialInfo[] {
  if (!isRecord(raw) || !Array.isArray(raw.trials)) return [];
  const out: TrialInfo[] = [];
  for (const t of raw.trials) {
    if (!isRecord(t) || int(t.number) === null) continue;
    const state = trialState(t.state);
    if (!state) continue;
    out.push({
      number: t.number as number,
      params: params(t.params),
      state,
      value: num(t.value),
      pruned: pruned(t.pruned),
      error: str(t.error),
      runs: (Array.isArray(t.runs) ? t.runs : []).filter(isRecord).map((r) => ({ seed: int(r.seed) ?? 0, runId: str(r.run_id) })),
    });
  }
  return out;
}

export function runSweepTag(info: RunInfo): RunSweepTag | null {
  const s = info.sweep;
  if (!isRecord(s) || str(s.id) === null || int(s.trial) === null) return null;
  return { id: s.id as string, trial: s.trial as number, seed: int(s.seed) ?? 0, params: params(s.params), trialState: trialState(s.trial_state), pruned: pruned(s.pruned) };
}

export function parseImportance(raw: unknown): SweepImportance {
  if (!isRecord(raw)) return { importance: null, reason: 'no importance computed yet' };
  const imp = isRecord(raw.importance) ? Object.fromEntries(Object.entries(raw.importance).filter(([, v]) => num(v) !== null)) as Record<string, number> : null;
  return { importance: imp, reason: str(raw.reason) };
}
