// Liveness of a run that says it is queued or live: is its trainer still there? A process on
// this host is checked by pid and start time, one on another host by run.json's heartbeat, a Slurm
// job by asking Slurm. A run found dead is marked crashed, failed or stopped in run.json (with a
// `state` event), a silent one on another host only shown as lost. runStore.ts calls `check` after
// each read of a run.
import { lstat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describeJobEnd, isActiveJobState, isSlurmLaunch, slurmJob } from './slurm';
import { isSameProcess } from './process';
import { readLauncherInfo, readRunInfo, recordRunEnd, trainerLogTail } from '../../run/model/runDir';
import { RunFileError } from '../../run/model/runFiles';
import { LIVE_STATUSES, RUN_FILES } from '../../run/model/runFormat';
import type { LauncherInfo, RunInfo } from '../../run/model/runFormat';
import type { RunState } from './runFold';
import type { RunStoreError } from './runStore';

/** How long a run may say `starting` with no process recorded before it counts as never started. */
const NEVER_STARTED_MS = 60_000;

/** The part of a run store's entry that liveness reads and updates. */
export interface LiveEntry {
  state: RunState;
  /** run.json's version (versionKey) as last read. */
  infoKey: string;
  /** When run.json last changed (ms, this host's clock; run.json's `updated_at` at first sight). */
  beatMs: number;
  /** When Slurm was last asked about this run's job (ms). */
  slurmAskedMs: number;
}

export class Liveness {
  private readonly host = hostname();

  constructor(
    /** A live run on another host is lost when run.json has not changed for this long (ms). */
    public lostAfterMs: number,
    private readonly slurmPollMs: number,
    private readonly onError: (error: RunStoreError) => void,
  ) {}

  /**
   * Marks a live run whose trainer is gone as crashed (or its Slurm job's end), and a live run on
   * another host whose heartbeat stopped as lost; returns true when the state changed.
   */
  async check(entry: LiveEntry): Promise<boolean> {
    const { info, dir } = entry.state;
    const live = LIVE_STATUSES.includes(info.status);
    if (!live && info.status !== 'queued') return this.setLost(entry, null);
    const launcher = await readLauncherInfo(dir);
    if (isSlurmLaunch(launcher) && (await this.checkJobEnded(entry, launcher.job_id)) === 'marked') return true;
    if (!live) return false;
    const owner = processOwner(info, launcher);
    if (!owner) return this.checkNeverStarted(entry);
    if (owner.host !== this.host) return this.checkHeartbeat(entry);
    if (isSameProcess(owner.pid, owner.startTime)) return false;
    // Slurm knows why the process is gone (time limit, preemption): wait for it to end the job, then say so.
    const slurmSaid = isSlurmLaunch(launcher) ? await this.checkJobEnded(entry, launcher.job_id, true) : 'silent';
    if (slurmSaid !== 'silent') return slurmSaid === 'marked';
    // The trainer may have written its final status just before exiting: re-read before judging.
    if (!LIVE_STATUSES.includes((await readRunInfo(dir)).status)) return false;
    const log = await trainerLogTail(dir);
    const reason = `the trainer process (pid ${owner.pid}) is gone without recording an end state`;
    await this.markEnded(entry, 'crashed', reason, `The run crashed: ${reason}.${log ? ` Last lines of trainer.log:\n${log}` : ''}`);
    return true;
  }

  /**
   * Asks Slurm (every slurmPollMs at most, unless `now`) about the job of a queued or live run; one that ended
   * while run.json still says queued or live is marked: `stopped` when cancelled, else `failed`
   * (it never started) or `crashed`, with Slurm's state and reason. Returns `marked` when it
   * marked, `active` while the job is queued or running, `silent` when Slurm was not asked or
   * told nothing that settles it.
   */
  private async checkJobEnded(entry: LiveEntry, jobId: string, now = false): Promise<'marked' | 'active' | 'silent'> {
    if (!now && Date.now() - entry.slurmAskedMs < this.slurmPollMs) return 'silent';
    entry.slurmAskedMs = Date.now();
    const job = await slurmJob(jobId);
    if (job === null) return 'silent';
    if (job !== 'unknown' && isActiveJobState(job.state)) return 'active';
    const { dir } = entry.state;
    // The trainer may have recorded its end (or its start) since this poll read run.json.
    const fresh = await readRunInfo(dir);
    const queued = fresh.status === 'queued';
    if (!queued && !LIVE_STATUSES.includes(fresh.status)) return 'silent';
    if (job === 'unknown') {
      // An ended job Slurm has forgotten: only a queued run is certain never to have started.
      if (!queued) return 'silent';
      const reason = `Slurm no longer knows job ${jobId}, and its trainer never started`;
      await this.markEnded(entry, 'failed', reason, `The run never started: ${reason}. See ${join(dir, RUN_FILES.log)}.`);
      return 'marked';
    }
    const cancelled = job.state.startsWith('CANCELLED');
    const status = cancelled ? 'stopped' : queued ? 'failed' : 'crashed';
    const reason = `${describeJobEnd(job)}${queued ? ' before its trainer started' : ' while run.json said ' + fresh.status}`;
    const log = await trainerLogTail(dir);
    await this.markEnded(entry, status, reason, `${reason}.${log ? ` Last lines of trainer.log:\n${log}` : ''}`);
    return 'marked';
  }

  /** A live run on another host: lost once its heartbeat (run.json rewritten) is too old. */
  private checkHeartbeat(entry: LiveEntry): boolean {
    const { info } = entry.state;
    const interval = typeof info.heartbeat_s === 'number' && info.heartbeat_s > 0 ? info.heartbeat_s * 1000 : 0;
    const limit = Math.max(this.lostAfterMs, 3 * interval);
    const silent = Date.now() - entry.beatMs;
    return this.setLost(entry, silent > limit ? `no heartbeat from ${info.host ?? 'its host'} for ${Math.round(silent / 1000)} s (run.json unchanged)` : null);
  }

  private setLost(entry: LiveEntry, lost: string | null): boolean {
    if ((entry.state.lost === null) === (lost === null)) return false;
    entry.state = { ...entry.state, lost };
    return true;
  }

  /**
   * A run that has said `starting` on this host for NEVER_STARTED_MS with no process recorded
   * anywhere (no pid in run.json, no launcher.json): its launcher stopped between creating the run
   * folder and starting the trainer (the editor closed mid-launch). Marks it failed; returns true
   * when it did.
   */
  private async checkNeverStarted(entry: LiveEntry): Promise<boolean> {
    const { info, dir } = entry.state;
    if (info.status !== 'starting' || info.host !== this.host) return false;
    const since = Date.parse(info.updated_at);
    if (!Number.isFinite(since) || Date.now() - since < NEVER_STARTED_MS) return false;
    // The trainer may have recorded itself since this poll read run.json.
    const fresh = await readRunInfo(dir);
    if (fresh.status !== 'starting' || processOwner(fresh, await readLauncherInfo(dir))) return false;
    const reason = 'no trainer process was ever recorded for this run: its launch was interrupted before the trainer started';
    await this.markEnded(entry, 'failed', reason,
      `The run never started: ${reason} (for example, the editor closed mid-launch). Launch the config again; this folder keeps its config and code snapshot.`);
    return true;
  }

  /** Records the run's end (run.json and a state event) and takes it into the entry without a re-read. */
  private async markEnded(entry: LiveEntry, status: 'crashed' | 'failed' | 'stopped', reason: string, message: string): Promise<void> {
    const { dir } = entry.state;
    const updated = await recordRunEnd(dir, status, reason, { message }).catch(async (err: unknown) => {
      // run.json is written first; an events.jsonl that is a link refuses the state event after it.
      if (!(err instanceof RunFileError)) throw err;
      this.onError({ path: err.path, message: err.message });
      return readRunInfo(dir);
    });
    entry.infoKey = versionKey(await lstat(join(dir, RUN_FILES.info)));
    entry.state = { ...entry.state, info: updated, status, crashed: status === 'crashed', lost: null, lastError: entry.state.lastError ?? updated.error };
  }
}

/** Which version of a file this is: a rewrite (even by rename) changes the inode, size or mtime. */
export function versionKey(s: { ino: number; size: number; mtimeMs: number }): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

/** The process that should be running this run: run.json's pid, else the launcher's. */
function processOwner(info: RunInfo, launcher: LauncherInfo | null): { pid: number; startTime: string | null; host: string | null } | null {
  if (info.pid) return { pid: info.pid, startTime: info.pid_start_time, host: info.host };
  if (!launcher || typeof launcher.pid !== 'number') return null;
  return { pid: launcher.pid, startTime: launcher.pid_start_time, host: launcher.host };
}
