// Builds synthetic run directories for the run store and control tests.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { RunInfo } from '../../../src/run/model/runFormat';

export function runInfo(id: string, fields: Partial<RunInfo> = {}): RunInfo {
  return {
    format: 2,
    id,
    name: 'arith',
    algorithm: 'pacs',
    status: 'finished',
    pid: null,
    pid_start_time: null,
    host: hostname(),
    created_at: '2026-11-27T03:00:00.00Z',
    updated_at: '2026-11-27T03:00:00.00Z',
    step: 0,
    total_steps: 10,
    config_path: 'arith.pacs.yaml',
    seed: 0,
    git: null,
    versions: {},
    error: null,
    ...fields,
  };
}

export function makeRun(root: string, id: string, fields: Partial<RunInfo> = {}): string {
  const dir = join(root, id);
  mkdirSync(dir, { recursive: true });
  writeRunJson(dir, runInfo(id, fields));
  writeFileSync(join(dir, 'events.jsonl'), '');
  return dir;
}

export function writeRunJson(dir: string, info: RunInfo): void {
  writeFileSync(join(dir, 'run.json'), JSON.stringify(info, null, 2));
}

export function appendEvents(dir: string, events: object[]): void {
  appendFileSync(join(dir, 'events.jsonl'), events.map((e) => JSON.stringify(e) + '\n').join(''));
}

export function metricsEvent(step: number, values: Record<string, number>, t = 1000 + step): object {
  return { t, type: 'metrics', step, values };
}
