// Launching the trainer: the run directory and run.json are made here, the code is captured with
// git.ts, and `python -m pacslab train` is spawned detached, without a shell, with its output in
// trainer.log, so a run outlives the window or terminal that started it. Under
// `launch.backend: slurm` the same command submits the batch job instead (the trainer's Slurm
// launcher) and returns at once: it is run to its end here, and the job is the run's process.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { captureGit, createRunWorktree, repoRootOf } from '../../git/model/git';
import type { GitMode } from '../../git/model/git';
import { isRecord } from '../../run/model/events';
import { processStartTime } from './process';
import { isSlurmLaunch } from './slurm';
import { absoluteCommand, neutralDir, pythonEnv } from '../../python/model/python';
import { appendLine, readLauncherInfo, readRunInfo, recordRunEnd, writeJsonAtomic } from '../../run/model/runDir';
import { openRunFileForAppend, pathInside } from '../../run/model/runFiles';
import { RESUMABLE_STATUSES, RUN_FILES, RUN_FORMAT_VERSION } from '../../run/model/runFormat';
import type { LauncherInfo, RunInfo } from '../../run/model/runFormat';

export interface LaunchOptions {
  /** The *.pacs.yaml file. */
  configPath: string;
  /** Where the run directory is made (created when missing). */
  runsRoot: string;
  /** The Python interpreter that has pacslab installed. */
  python: string;
  /** `key.sub=value` overrides, passed as `--set`. */
  sets?: string[];
  /** Passed as `--set device=...` unless undefined or "auto". */
  device?: string;
  gitMode: GitMode;
  /** Extra environment for the trainer. */
  env?: Record<string, string>;
  /** Use this run id instead of a new one (the directory must not exist yet). */
  reuseRunId?: string;
  /** `config_path` in run.json is written relative to this folder (default: the current directory). */
  workspaceRoot?: string;
}

export interface LaunchResult {
  runId: string;
  runDir: string;
  /** The trainer's pid; null for a Slurm job (its trainer starts when the job does). */
  pid: number | null;
  /** The Slurm job id under `launch.backend: slurm`, else null. */
  jobId: string | null;
  /** One line for the user about the code capture (not a repository, uncommitted work saved). */
  gitWarning?: string;
  /**
   * Settles when the trainer exits, if it exits while this process lives. The child is detached
   * and unreferenced: it never keeps this process alive. Never settles for a Slurm job.
   */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `pid 1234`, or `Slurm job 56` for a run the trainer submitted as a batch job. */
export function launchedAs(result: { pid: number | null; jobId: string | null }): string {
  return result.jobId !== null ? `Slurm job ${result.jobId}` : `pid ${result.pid ?? 'unknown'}`;
}

/** A launch problem the user can fix; the message names what and how. */
export class LaunchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LaunchError';
  }
}

const CONFIG_SUFFIX = /\.pacs\.ya?ml$|\.ya?ml$/;

/** The run name: the YAML's `name`, else the file name without `.pacs.yaml`. Safe for a folder name. */
export function configNameOf(configPath: string, configText: string): string {
  const name = topLevelFields(configText).name;
  const raw = typeof name === 'string' && name.trim() ? name : basename(configPath).replace(CONFIG_SUFFIX, '');
  return raw.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+|-+$/g, '') || 'run';
}

/** `YYYYMMDD-HHMMSS-<name>-<4 hex>` in UTC, as the trainer makes them. */
export function newRunId(name: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${stamp}-${name}-${randomBytes(2).toString('hex')}`;
}

/** Creates the runs root; one inside a `.pacs` folder gets `.pacs/.gitignore` (`*`) so runs stay out of git. */
export async function ensureRunsRoot(runsRoot: string): Promise<void> {
  const root = resolve(runsRoot);
  await mkdir(root, { recursive: true });
  const parts = root.split(sep);
  const i = parts.lastIndexOf('.pacs');
  if (i < 0) return;
  const ignore = join(parts.slice(0, i + 1).join(sep) || sep, '.gitignore');
  await writeFile(ignore, '*\n', { flag: 'wx' }).catch(() => undefined);
}

/** A config's absolute path and text; a missing file is a LaunchError that says what to pass (`expected`). */
export async function readConfigFile(path: string, expected: string): Promise<{ configPath: string; text: string }> {
  const configPath = resolve(path);
  try {
    return { configPath, text: await readFile(configPath, 'utf8') };
  } catch {
    throw new LaunchError(`Config file not found: ${configPath}. Pass ${expected}.`);
  }
}

/**
 * Launches a new run (see the file comment). Throws LaunchError for a missing config and
 * GitDirtyError (git.ts) under `gitMode: 'block'` with uncommitted work.
 */
export async function launchRun(options: LaunchOptions): Promise<LaunchResult> {
  const { configPath, text: configText } = await readConfigFile(options.configPath, 'the path of a *.pacs.yaml file');
  const name = configNameOf(configPath, configText);
  const runId = options.reuseRunId ?? newRunId(name);
  const runsRoot = resolve(options.runsRoot);
  await ensureRunsRoot(runsRoot);
  const configDir = dirname(configPath);
  const capture = await captureGit(configDir, runId, options.gitMode);

  const runDir = join(runsRoot, runId);
  try {
    await mkdir(runDir);
  } catch {
    throw new LaunchError(`The run directory ${runDir} already exists; launch again for a new run id.`);
  }
  const workspaceRoot = resolve(options.workspaceRoot ?? process.cwd());
  const now = new Date().toISOString();
  const yamlFields = topLevelFields(configText);
  const info: RunInfo = {
    format: RUN_FORMAT_VERSION,
    id: runId,
    name,
    algorithm: typeof yamlFields.algorithm === 'string' ? yamlFields.algorithm : 'pacs',
    status: 'starting',
    pid: null,
    pid_start_time: null,
    host: hostname(),
    created_at: now,
    updated_at: now,
    step: 0,
    total_steps: typeof yamlFields.total_steps === 'number' ? yamlFields.total_steps : 0,
    config_path: toPosix(relative(workspaceRoot, configPath)),
    seed: typeof yamlFields.seed === 'number' ? yamlFields.seed : 0,
    git: capture.git,
    versions: {},
    error: null,
  };
  await writeJsonAtomic(join(runDir, RUN_FILES.info), info);
  await writeFile(join(runDir, RUN_FILES.gitPatch), capture.patch);

  const sets = [...(options.sets ?? [])];
  if (options.device && options.device !== 'auto') sets.push(`device=${options.device}`);
  const args = ['-m', 'pacslab', 'train', configPath, '--run-dir', runDir, ...sets.flatMap((s) => ['--set', s])];
  const repoRoot = capture.repoRoot;
  const record: LaunchRecord = {
    config_abs_path: configPath,
    config_repo_path: repoRoot ? toPosix(relative(repoRoot, configPath)) : null,
    sets,
    device: options.device ?? null,
  };
  if (launchBackendOf(yamlFields, sets) === 'slurm') {
    await writeJsonAtomic(join(runDir, RUN_FILES.launcher), launcherRecord(absoluteCommand(options.python), args, configDir, record));
    const jobId = await submitJob(runDir, options.python, args, configDir, options.env);
    return { runId, runDir, pid: null, jobId, gitWarning: capture.warning, exited: NEVER };
  }
  try {
    const { pid, exited } = await spawnTrainer(runDir, options.python, args, configDir, options.env, record);
    return { runId, runDir, pid, jobId: null, gitWarning: capture.warning, exited };
  } catch (err) {
    // Never leave a run that says "starting" with no process behind it.
    await recordRunEnd(runDir, 'failed', 'the trainer could not be started', { message: (err as Error).message });
    throw err;
  }
}

/** The config's top-level mapping; {} when it does not parse (the trainer reports YAML errors with their position). */
function topLevelFields(configText: string): Record<string, unknown> {
  try {
    const doc: unknown = parseYaml(configText);
    return isRecord(doc) ? doc : {};
  } catch {
    return {};
  }
}

function toPosix(path: string): string {
  return path.split(sep).join('/');
}

type LaunchRecord = Pick<LauncherInfo, 'config_abs_path' | 'config_repo_path' | 'sets' | 'device'> & { resume?: boolean };

/** The `exited` of a Slurm job: the job, not a child of this process, runs the trainer. */
const NEVER: LaunchResult['exited'] = new Promise(() => undefined);

/** `launch.backend` of the config, a `--set launch.backend=...` winning (the trainer validates the value). */
export function launchBackendOf(yamlFields: Record<string, unknown>, sets: readonly string[]): 'local' | 'slurm' {
  const prefix = 'launch.backend=';
  const set = [...sets].reverse().find((s) => s.startsWith(prefix));
  const launch = yamlFields.launch;
  const value = set !== undefined ? set.slice(prefix.length).trim() : isRecord(launch) ? launch.backend : undefined;
  return value === 'slurm' ? 'slurm' : 'local';
}

function launcherRecord(python: string, args: string[], cwd: string, record: LaunchRecord): LauncherInfo {
  return { pid: null, pid_start_time: null, host: hostname(), python, args, cwd, launched_at: new Date().toISOString(), ...record, backend: 'slurm' };
}

/**
 * Runs `python ...args` to its end: under `launch.backend: slurm` it writes job.sbatch, submits
 * it and records the job in launcher.json (trainer/pacslab/launchers/slurm.py). Its output goes to
 * trainer.log; a refusal (no sbatch, a partition or account Slurm refuses) becomes a LaunchError
 * with sbatch's message as is and the key to fix. Returns the job id.
 */
async function submitJob(runDir: string, python: string, args: string[], cwd: string, env: Record<string, string> | undefined): Promise<string> {
  python = absoluteCommand(python);
  const { code, stdout, stderr } = await new Promise<{ code: number | string | null; stdout: string; stderr: string }>((done) => {
    execFile(python, args, { cwd, env: pythonEnv({ ...process.env, ...env }), maxBuffer: 4 * 1024 * 1024 }, (err, out, errOut) => {
      // execFile's error code is the exit status, or a string such as ENOENT when nothing started.
      const code = err ? ((err as { code?: number | string }).code ?? null) : 0;
      done({ code, stdout: out, stderr: typeof code === 'string' && err ? err.message : errOut });
    });
  });
  await appendLine(join(runDir, RUN_FILES.log), `${stdout}${stderr}`.trimEnd());
  if (typeof code === 'string') {
    const message = `Could not start ${python}: ${stderr.trim()}. Set pacs.pythonPath (or --python) to a Python with pacslab installed.`;
    await markFailedIfStarting(runDir, message);
    throw new LaunchError(message);
  }
  const launcher = await readLauncherInfo(runDir);
  if (code === 0 && isSlurmLaunch(launcher) && launcher.job_id) return launcher.job_id;
  const message = stderr.trim().replace(/^error: /, '') || `python -m pacslab train exited with code ${code ?? 'unknown'} without submitting a job; see ${join(runDir, RUN_FILES.log)}.`;
  await markFailedIfStarting(runDir, message);
  throw new LaunchError(message);
}

/** A new run whose submission failed must not stay `starting` (the trainer marks it failed itself, but may not have run). */
async function markFailedIfStarting(runDir: string, message: string): Promise<void> {
  if ((await readRunInfo(runDir)).status === 'starting') await recordRunEnd(runDir, 'failed', 'the batch job could not be submitted', { message });
}

/** Spawns `python ...args` detached, output appended to trainer.log, and records launcher.json. */
async function spawnTrainer(
  runDir: string,
  python: string,
  args: string[],
  cwd: string,
  env: Record<string, string> | undefined,
  record: LaunchRecord,
): Promise<{ pid: number; exited: LaunchResult['exited'] }> {
  // The child starts in `cwd`: a relative interpreter path (`.venv/bin/python`) means relative to ours.
  python = absoluteCommand(python);
  const log = await openRunFileForAppend(join(runDir, RUN_FILES.log));
  let child: ChildProcess;
  let exited: LaunchResult['exited'];
  try {
    child = spawn(python, args, {
      cwd,
      detached: true,
      shell: false,
      stdio: ['ignore', log.fd, log.fd],
      env: pythonEnv({ ...process.env, ...env }),
    });
    // Listened for at once: a trainer that exits at start (a wrong Python, a run another trainer holds)
    // can be gone before the awaits below end, and an 'exit' with no listener yet is never seen again.
    const spawned = child;
    exited = new Promise((resolveExit) => {
      spawned.once('exit', (code, signal) => resolveExit({ code, signal }));
    });
    await new Promise<void>((resolveSpawn, rejectSpawn) => {
      child.once('spawn', resolveSpawn);
      child.once('error', rejectSpawn);
    });
  } catch (err) {
    throw new LaunchError(`Could not start ${python}: ${(err as Error).message}. Set pacs.pythonPath (or --python) to a Python with pacslab installed.`);
  } finally {
    await log.close();
  }
  const pid = child.pid as number;
  child.unref();
  const launcher: LauncherInfo = {
    backend: 'local',
    pid,
    pid_start_time: processStartTime(pid),
    host: hostname(),
    python,
    args,
    cwd,
    launched_at: new Date().toISOString(),
    ...record,
  };
  await writeJsonAtomic(join(runDir, RUN_FILES.launcher), launcher);
  return { pid, exited };
}

export { absoluteCommand };

export interface ResumeResult {
  runDir: string;
  pid: number | null;
  jobId: string | null;
  exited: LaunchResult['exited'];
}

/**
 * Continues a suspended, stopped, crashed or failed run from its latest checkpoint:
 * `python -m pacslab train --resume <runDir>`, output appended to the same trainer.log. A run
 * launched through Slurm is submitted again (the trainer refuses while its last job is still
 * queued or running).
 */
export async function resumeRun(runDir: string, python: string, env?: Record<string, string>): Promise<ResumeResult> {
  const dir = resolve(runDir);
  const info = await readRunInfo(dir);
  if (!RESUMABLE_STATUSES.includes(info.status)) {
    throw new LaunchError(
      `Run ${info.id} is ${info.status}; only ${RESUMABLE_STATUSES.join(', ')} runs can be resumed from a checkpoint` +
        (info.status === 'paused' ? ' (a paused run continues with the resume control command).' : '.'),
    );
  }
  await access(join(dir, RUN_FILES.config)).catch(() => {
    throw new LaunchError(`${dir} has no ${RUN_FILES.config}: the trainer never started, so there is nothing to resume. Launch the config again.`);
  });
  const previous = await readLauncherInfo(dir);
  const cwd = await resumeCwd(dir, [info.config_dir, previous?.cwd]);
  const args = ['-m', 'pacslab', 'train', '--resume', dir];
  if (isSlurmLaunch(previous)) {
    const jobId = await submitJob(dir, python, args, cwd, env);
    return { runDir: dir, pid: null, jobId, exited: NEVER };
  }
  const { pid, exited } = await spawnTrainer(dir, python, args, cwd, env, {
    config_abs_path: previous?.config_abs_path ?? join(dir, RUN_FILES.config),
    config_repo_path: previous?.config_repo_path ?? null,
    sets: previous?.sets ?? [],
    device: previous?.device ?? null,
    resume: true,
  });
  return { runDir: dir, pid, jobId: null, exited };
}

/**
 * The folder a resumed trainer starts in: run.json's config_dir, else launcher.json's cwd, when it
 * is an existing folder outside the run folder; else a new empty one. Both files are untrusted
 * data, and Python's current folder is on sys.path (Python 3.10 ignores PYTHONSAFEPATH).
 */
async function resumeCwd(runDir: string, candidates: unknown[]): Promise<string> {
  const realRun = await realpath(runDir);
  for (const candidate of candidates) {
    if (typeof candidate !== 'string' || !isAbsolute(candidate)) continue;
    const real = await realpath(candidate).catch(() => null);
    if (!real || real === realRun || real.startsWith(realRun + sep)) continue;
    if (await stat(real).then((s) => s.isDirectory(), () => false)) return candidate;
  }
  return neutralDir();
}

/** A `--set` override as the trainer takes it: a dotted key, `=`, a value. */
const SET_ARG = /^[A-Za-z_][A-Za-z0-9_.]*=/;

export interface ReproduceOptions {
  python: string;
  runsRoot: string;
  /** Where the run's code is checked out (a new git worktree); must not exist. */
  worktreeDir: string;
  gitMode?: GitMode;
  device?: string;
  env?: Record<string, string>;
  workspaceRoot?: string;
}

/**
 * Relaunches a run's config with its seed and overrides from the run's own code: a git worktree
 * at the run's snapshot (or commit) is created at `worktreeDir`, and the config inside it is
 * launched as a new run (whose git info then names the same code).
 */
export async function reproduceRun(runDir: string, options: ReproduceOptions): Promise<LaunchResult & { worktreeDir: string }> {
  const dir = resolve(runDir);
  const info = await readRunInfo(dir);
  const launcher = await readLauncherInfo(dir);
  if (!info.git) throw new LaunchError(`Run ${info.id} was launched outside a git repository: its code cannot be restored.`);
  const from = launcher?.config_abs_path ?? (info.config_path ? resolve(options.workspaceRoot ?? process.cwd(), info.config_path) : null);
  const repoRoot = from ? await repoRootOf(dirname(from)) : await repoRootOf(options.workspaceRoot ?? process.cwd());
  if (!repoRoot) throw new LaunchError(`Cannot find the git repository run ${info.id} came from; open its workspace.`);
  const configRepoPath = launcher?.config_repo_path ?? (from ? toPosix(relative(repoRoot, from)) : null);
  if (!configRepoPath) throw new LaunchError(`Run ${info.id} does not record which config it ran.`);
  // launcher.json is untrusted: its config path must stay inside the worktree, its overrides be KEY=VALUE.
  const configPath = pathInside(resolve(options.worktreeDir), configRepoPath, `${join(dir, RUN_FILES.launcher)}: config_repo_path`);
  const recorded = Array.isArray(launcher?.sets) ? launcher.sets : [];
  const sets = recorded.filter((s) => typeof s === 'string' && SET_ARG.test(s) && !s.startsWith('seed=') && !s.startsWith('device='));
  sets.push(`seed=${info.seed}`);
  await createRunWorktree(repoRoot, info, options.worktreeDir);
  const result = await launchRun({
    configPath,
    runsRoot: options.runsRoot,
    python: options.python,
    sets,
    device: options.device ?? launcher?.device ?? undefined,
    gitMode: options.gitMode ?? 'snapshot',
    env: options.env,
    workspaceRoot: options.workspaceRoot,
  });
  return { ...result, worktreeDir: resolve(options.worktreeDir) };
}
