// Starting and controlling sweeps from Node (the extension and `pacs-lab sweep`): the code is
// captured once with git.ts into the sweep folder (git.json, git.patch; every trial's run records
// it), then `python -m pacslab sweep` checks the sweep and starts its detached controller (or
// submits its Slurm job array) and returns. Pause, resume and stop go through the trainer too.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { captureGit, type GitMode } from '../../git/model/git';
import { configNameOf, ensureRunsRoot, LaunchError, newRunId, readConfigFile } from '../../runs/model/launcher';
import { absoluteCommand, pythonEnv } from '../../python/model/python';
import { writeJsonAtomic } from '../../run/model/runDir';
import { SWEEP_FILES, sweepsRootOf } from './sweepFormat';

export interface StartSweepOptions {
  configPath: string;
  runsRoot: string;
  python: string;
  gitMode: GitMode;
  /** The folder relative paths of run.json are written against (default: the current directory). */
  workspaceRoot?: string;
}

export interface StartedSweep {
  sweepId: string;
  sweepDir: string;
  gitWarning?: string;
  /** What the trainer printed (the controller's pid, or the Slurm job). */
  output: string;
}

export const SWEEP_CONFIG = /\.sweep\.ya?ml$/;

/** Whether a config's text declares a sweep: a top-level `sweep:` key, or a *.sweep.yaml file. */
export function declaresSweep(path: string, text: string): boolean {
  return SWEEP_CONFIG.test(path) || /^sweep\s*:/m.test(text);
}

function runPython(python: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    execFile(absoluteCommand(python), args, { cwd, env: pythonEnv(), timeout: 180_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolveRun({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === 1 && !stderr ? err.message : '') });
    });
  });
}

export async function startSweep(options: StartSweepOptions): Promise<StartedSweep> {
  const { configPath, text } = await readConfigFile(options.configPath, 'a *.pacs.yaml with a sweep section, or a *.sweep.yaml');
  const name = configNameOf(configPath, text).replace(/\.sweep$/, '');
  const sweepId = newRunId(name);
  const runsRoot = resolve(options.runsRoot);
  await ensureRunsRoot(runsRoot);
  const sweepDir = join(sweepsRootOf(runsRoot), sweepId);
  const capture = await captureGit(dirname(configPath), sweepId, options.gitMode);
  await mkdir(sweepDir, { recursive: true });
  await writeJsonAtomic(join(sweepDir, SWEEP_FILES.gitJson), capture.git);
  await writeFile(join(sweepDir, SWEEP_FILES.gitPatch), capture.patch);
  const cwd = resolve(options.workspaceRoot ?? process.cwd());
  const done = await runPython(options.python, ['-m', 'pacslab', 'sweep', configPath, '--runs-root', runsRoot, '--sweep-dir', sweepDir], cwd);
  if (done.code !== 0) {
    throw new LaunchError(`The sweep of ${basename(configPath)} did not start:\n${(done.stderr || done.stdout).trim()}`);
  }
  // An unfinished sweep of this config whose controller had stopped is resumed instead (the trainer says which).
  const used = /^sweep directory: (.+)$/m.exec(done.stdout)?.[1]?.trim() ?? sweepDir;
  return { sweepId: basename(used), sweepDir: used, gitWarning: capture.warning, output: done.stdout };
}

export type SweepCommand = 'pause' | 'resume' | 'stop';

/** Pauses, resumes or stops a whole sweep (its runs with it); a stopped run saves a checkpoint first. */
export async function controlSweep(python: string, sweepDir: string, command: SweepCommand): Promise<string> {
  const done = await runPython(python, ['-m', 'pacslab', 'sweep', '--control', sweepDir, command], dirname(sweepDir));
  if (done.code !== 0) throw new LaunchError((done.stderr || done.stdout).trim() || `sweep --control ${command} failed`);
  return done.stdout.trim();
}

/** Starts the controller of a sweep whose controller is gone again; finished trials are not run again. */
export async function resumeSweep(python: string, sweepDir: string, workspaceRoot?: string): Promise<string> {
  const done = await runPython(python, ['-m', 'pacslab', 'sweep', '--resume', sweepDir], resolve(workspaceRoot ?? process.cwd()));
  if (done.code !== 0) throw new LaunchError((done.stderr || done.stdout).trim() || 'sweep --resume failed');
  return done.stdout.trim();
}
