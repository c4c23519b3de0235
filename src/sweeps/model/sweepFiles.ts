// Reading sweep folders (`.pacs/sweeps/<id>/`) from disk: sweep.json, trials.json, importance.json,
// through the run-file readers (no links, bounded), tolerant of a half-written or missing file.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { isSameProcess } from '../../runs/model/process';
import { parseBoundedJson, RUN_LIMITS } from '../../run/model/boundedJson';
import { isRealFolder, readRunFile } from '../../run/model/runFiles';
import { parseImportance, parseSweepInfo, parseTrials, SWEEP_FILES, type SweepImportance, type SweepInfo, type TrialInfo } from './sweepFormat';
import { shownSweepStatus } from './sweepModel';

/** A sweep file's value; null when absent, a link, over the cap, nested too deep or not JSON (being written). */
async function readJson(path: string): Promise<unknown> {
  try {
    return parseBoundedJson(await readRunFile(path, RUN_LIMITS.maxResultFileBytes));
  } catch {
    return null;
  }
}

/** The sweep of one folder with its status as shown (`crashed` when its local controller is gone), or null. */
export async function readSweep(dir: string): Promise<SweepInfo | null> {
  const info = parseSweepInfo(await readJson(join(dir, SWEEP_FILES.info)), dir);
  if (!info) return null;
  const c = info.controller;
  const alive = c !== null && (c.host === null || c.host === hostname()) && isSameProcess(c.pid, c.startTime);
  return { ...info, status: shownSweepStatus(info, alive || (c !== null && c.host !== null && c.host !== hostname())) };
}

export async function readTrials(dir: string): Promise<TrialInfo[]> {
  return parseTrials(await readJson(join(dir, SWEEP_FILES.trials)));
}

export async function readImportance(dir: string): Promise<SweepImportance> {
  return parseImportance(await readJson(join(dir, SWEEP_FILES.importance)));
}

/** Every sweep under a sweeps root, newest first. */
export async function readSweeps(sweepsRoot: string): Promise<SweepInfo[]> {
  let names: string[];
  try {
    names = await readdir(sweepsRoot);
  } catch {
    return [];
  }
  const out: SweepInfo[] = [];
  for (const name of names.sort().reverse()) {
    const dir = join(sweepsRoot, name);
    if (!(await isRealFolder(dir).catch(() => false))) continue;
    const sweep = await readSweep(dir);
    if (sweep) out.push(sweep);
  }
  return out;
}
