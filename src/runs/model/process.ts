// Is a trainer process still the one that wrote run.json? A pid alone is not enough: pids are
// reused, so run.json also records `pid_start_time`, field 22 of /proc/<pid>/stat.
import { readFileSync } from 'node:fs';

/** True when a process with this pid exists and is not a zombie (signal 0 probe). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return procStatFields(pid)?.state !== 'Z';
}

interface ProcStat {
  state: string;
  startTime: string;
}

function procStatFields(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // Field 2 (comm) is in parentheses and may itself hold spaces or parentheses: split after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const startTime = rest[22 - 3];
  if (rest[0] === undefined || startTime === undefined) return null;
  return { state: rest[0], startTime };
}

/**
 * Field 22 of /proc/<pid>/stat (start time in clock ticks since boot) as a decimal string, exactly
 * as the trainer records it in `pid_start_time`; null when unknown (no such process, not Linux).
 */
export function processStartTime(pid: number): string | null {
  return procStatFields(pid)?.startTime ?? null;
}

/**
 * True when `pid` is alive and, where both start times are known, started at `startTime`.
 * Off Linux (no /proc) only liveness is checked.
 */
export function isSameProcess(pid: number, startTime: string | null | undefined): boolean {
  if (!isProcessAlive(pid)) return false;
  if (!startTime) return true;
  const actual = processStartTime(pid);
  return actual === null || actual === startTime;
}
