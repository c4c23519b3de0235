// Sending control commands to a running trainer through control.jsonl and waiting for the
// trainer's control_ack event (docs/run-format.md).
import { hostname } from 'node:os';
import { join } from 'node:path';
import { JsonlTail, isRecord } from '../../run/model/events';
import { cancelJob, isSlurmLaunch } from './slurm';
import { isSameProcess } from './process';
import { appendLine, readLauncherInfo, readRunInfo, recordRunEnd } from '../../run/model/runDir';
import { readRunFile, statRunFile } from '../../run/model/runFiles';
import { CONTROL_COMMANDS, RUN_FILES } from '../../run/model/runFormat';
import type { ControlCommandName, RunInfo, RunStatus } from '../../run/model/runFormat';

export interface SendControlOptions {
  /** How long to wait for the acknowledgement (default 15 s). */
  timeoutMs?: number;
  /** How often to look for it (default 200 ms). */
  pollMs?: number;
  /** Stops waiting early (resolves with acked: false). */
  signal?: AbortSignal;
}

export interface ControlResult {
  seq: number;
  /** False when no control_ack with this seq came within the timeout. */
  acked: boolean;
  /** The ack's result: "ok" or "ignored: <why>". */
  result?: string;
}

/** An error whose message is meant for the user as is. */
export class ControlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlError';
  }
}

/** Statuses whose trainer reads control.jsonl. */
const LISTENING: readonly RunStatus[] = ['starting', 'running', 'paused'];

export function isControlCommand(value: string): value is ControlCommandName {
  return (CONTROL_COMMANDS as readonly string[]).includes(value);
}

/**
 * Why `command` cannot be sent to a run in `status`, or null when it can. A run that is not
 * live has no trainer reading control.jsonl; `resume` of a suspended or stopped run is a relaunch
 * (`resumeRun` in launcher.ts), not a control command.
 */
export function controlRefusal(status: RunStatus, command: ControlCommandName): string | null {
  if (LISTENING.includes(status)) return null;
  if (status === 'queued') {
    return command === 'stop'
      ? null
      : `Cannot ${command} a queued run: its Slurm job has not started the trainer yet. Stop cancels the job; the other commands work once it runs.`;
  }
  if (command === 'resume' && (status === 'suspended' || status === 'stopped' || status === 'crashed' || status === 'failed')) {
    return `The run is ${status}: no trainer is running to resume. Relaunch it from its last checkpoint instead (PACS: Resume Run, or \`pacs-lab resume RUN_DIR\`).`;
  }
  return `Cannot ${command} a ${status} run: its trainer is no longer running.`;
}

/**
 * Appends `{"seq", "command", "t"}` to the run's control.jsonl (seq = 1 + the highest seq in the
 * file, written with O_APPEND), then waits for the trainer's control_ack with that seq.
 * Throws ControlError when the run's status does not allow the command or its trainer process is
 * gone; resolves `acked: false` when no acknowledgement comes in time. `stop` of a queued run
 * cancels its Slurm job (`scancel`) instead: no trainer reads control.jsonl yet.
 */
export async function sendControl(runDir: string, command: ControlCommandName, options: SendControlOptions = {}): Promise<ControlResult> {
  const { timeoutMs = 15000, pollMs = 200, signal } = options;
  if (!isControlCommand(command)) {
    throw new ControlError(`Unknown control command "${String(command)}"; use one of ${CONTROL_COMMANDS.join(', ')}.`);
  }
  const info = await readRunInfo(runDir);
  const refusal = controlRefusal(info.status, command);
  if (refusal) throw new ControlError(refusal);
  if (info.status === 'queued') return cancelQueued(runDir);
  await assertTrainerAlive(runDir, info);

  const eventsPath = join(runDir, RUN_FILES.events);
  // Only events written after the command can acknowledge it: start reading at today's end.
  const startOffset = (await statRunFile(eventsPath))?.size ?? 0;
  const tail = new JsonlTail(eventsPath, startOffset);
  const controlPath = join(runDir, RUN_FILES.control);
  const seq = (await maxSeq(controlPath)) + 1;
  await appendLine(controlPath, JSON.stringify({ seq, command, t: Date.now() / 1000 }));

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { records } = await tail.read();
    for (const r of records) {
      if (isRecord(r) && r.type === 'control_ack' && r.seq === seq) {
        return { seq, acked: true, result: typeof r.result === 'string' ? r.result : undefined };
      }
    }
    if (Date.now() >= deadline || signal?.aborted) return { seq, acked: false };
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())), signal);
  }
}

/**
 * Cancels the Slurm job of a queued run and records it stopped. A job that started meanwhile gets
 * scancel's SIGTERM: its trainer saves a checkpoint and records `stopped` itself.
 */
async function cancelQueued(runDir: string): Promise<ControlResult> {
  const launcher = await readLauncherInfo(runDir);
  if (!isSlurmLaunch(launcher)) throw new ControlError(`The run is queued, but ${join(runDir, RUN_FILES.launcher)} names no Slurm job to cancel.`);
  try {
    await cancelJob(launcher.job_id);
  } catch (err) {
    throw new ControlError((err as Error).message);
  }
  if ((await readRunInfo(runDir)).status === 'queued') {
    await recordRunEnd(runDir, 'stopped', `Slurm job ${launcher.job_id} cancelled (scancel) before it started`, null);
  }
  return { seq: 0, acked: true, result: 'ok' };
}

async function assertTrainerAlive(runDir: string, info: RunInfo): Promise<void> {
  let owner: { pid: number; startTime: string | null; host: string | null } | null = null;
  if (info.pid) owner = { pid: info.pid, startTime: info.pid_start_time, host: info.host };
  else {
    const launcher = await readLauncherInfo(runDir);
    if (launcher?.pid) owner = { pid: launcher.pid, startTime: launcher.pid_start_time, host: launcher.host };
  }
  if (!owner || owner.host !== hostname()) return;
  if (!isSameProcess(owner.pid, owner.startTime)) {
    throw new ControlError(
      `The run says ${info.status}, but its trainer process (pid ${owner.pid}) is gone: the run crashed. See ${join(runDir, RUN_FILES.log)}.`,
    );
  }
}

/** The highest `seq` in control.jsonl (0 when the file is missing or has none). */
export async function maxSeq(controlPath: string): Promise<number> {
  let text: string;
  try {
    text = await readRunFile(controlPath);
  } catch {
    return 0;
  }
  let max = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (isRecord(value) && typeof value.seq === 'number' && value.seq > max) max = value.seq;
    } catch {
      // A torn or foreign line carries no seq.
    }
  }
  return max;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
