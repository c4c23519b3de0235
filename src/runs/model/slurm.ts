// The Slurm side of a run launched with `launch.backend: slurm` (docs/clusters.md). Submission
// itself is the trainer's (`python -m pacslab train`, trainer/pacslab/launchers/slurm.py), so the
// editor, pacs-lab and `python -m pacslab train` write the same job.sbatch; this file asks Slurm
// what became of a job and cancels one.
import { execFile } from 'node:child_process';

/** States in which the job may still run (or start) the trainer. */
const ACTIVE_STATES = new Set([
  'PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'RESIZING', 'SIGNALING',
  'STAGE_OUT', 'RESV_DEL_HOLD', 'REQUEUE_FED', 'REQUEUE_HOLD',
]);

export interface SlurmJob {
  id: string;
  /** Slurm's job state, e.g. `PENDING`, `RUNNING`, `CANCELLED`, `TIMEOUT`, `NODE_FAIL`. */
  state: string;
  /** Slurm's reason (`Priority`, `TimeLimit`, `None`, ...), when it gives one. */
  reason: string | null;
}

/** The launcher.json fields of a Slurm launch. */
export interface SlurmLaunch {
  backend: 'slurm';
  job_id: string;
}

export function isSlurmLaunch(launcher: unknown): launcher is SlurmLaunch {
  const l = launcher as Partial<SlurmLaunch> | null;
  return !!l && l.backend === 'slurm' && typeof l.job_id === 'string' && l.job_id !== '';
}

export function isActiveJobState(state: string): boolean {
  return ACTIVE_STATES.has(state);
}

/**
 * What Slurm says of the job: `squeue` while it is queued or running, else `scontrol show job`
 * (which keeps an ended job for MinJobAge, 300 s by default; `sacct` needs accounting, which many
 * clusters lack). `unknown` when Slurm no longer knows the job; null when Slurm cannot be asked
 * (no squeue on PATH, the controller not answering): then nothing may be concluded.
 */
export async function slurmJob(jobId: string): Promise<SlurmJob | 'unknown' | null> {
  const queued = await run('squeue', ['-h', '-j', jobId, '-o', '%T|%r']);
  const line = queued.ok ? queued.stdout.split('\n').find((l) => l.includes('|')) : undefined;
  if (line) {
    const [state, reason] = line.trim().split('|');
    return { id: jobId, state, reason: reason && reason !== 'None' ? reason : null };
  }
  const shown = await run('scontrol', ['show', 'job', '-o', jobId]);
  if (!shown.ok) return /invalid job id/i.test(shown.stderr) ? 'unknown' : null;
  const state = /\bJobState=(\S+)/.exec(shown.stdout)?.[1];
  if (!state) return null;
  const reason = /\bReason=(\S+)/.exec(shown.stdout)?.[1];
  return { id: jobId, state, reason: reason && reason !== 'None' ? reason : null };
}

/** `scancel JOB`; throws with scancel's own message when it refuses. */
export async function cancelJob(jobId: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('scancel', [jobId], { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new Error(missing
        ? `Cannot cancel Slurm job ${jobId}: \`scancel\` is not on PATH (open the editor on the cluster's login node).`
        : `scancel ${jobId} failed: ${stderr.trim() || err.message}`));
    });
  });
}

/** One sentence for the user about a job that ended: its state and Slurm's reason. */
export function describeJobEnd(job: SlurmJob): string {
  return `Slurm job ${job.id} ended ${job.state}${job.reason ? ` (reason: ${job.reason})` : ''}`;
}

function run(command: string, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 30_000 }, (err, stdout, stderr) => resolve({ ok: !err, stdout: stdout.trim(), stderr: stderr.trim() }));
  });
}
