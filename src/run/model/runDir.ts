// Reading and writing the files of one run directory (docs/run-format.md).
import { randomBytes } from 'node:crypto';
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isRecord } from './events';
import { createRunFile, openRunFile, openRunFileForAppend, readRunFile, RunFileError, statRunFile } from './runFiles';
import { RUN_FILES, RUN_FORMAT_VERSION, isRunStatus } from './runFormat';
import type { LauncherInfo, RunInfo, RunStatus } from './runFormat';

/** Writes a file atomically: a unique temp file in the same folder, fsync, rename over the target. */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  const handle = await createRunFile(tmp);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

export { RunFileError };

/**
 * Reads run.json, filling defaults for missing fields so callers can rely on the RunInfo shape.
 * Unknown fields are kept. Throws RunFileError when the file is missing or not a JSON object.
 */
export async function readRunInfo(runDir: string): Promise<RunInfo> {
  const path = join(runDir, RUN_FILES.info);
  let text: string;
  try {
    text = await readRunFile(path);
  } catch (err) {
    if (err instanceof RunFileError) throw err;
    throw new RunFileError(`No run.json in ${runDir} (${(err as Error).message}). Is this a PACS run directory?`, path);
  }
  return parseRunInfo(text, path, runDir);
}

export function parseRunInfo(text: string, path: string, runDir: string): RunInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RunFileError(`${path} is not valid JSON: ${(err as Error).message}`, path);
  }
  if (!isRecord(raw)) throw new RunFileError(`${path} does not hold a JSON object.`, path);
  const id = typeof raw.id === 'string' && raw.id ? raw.id : (runDir.split(/[\\/]/).filter(Boolean).pop() ?? '');
  return {
    ...raw,
    format: num(raw.format, RUN_FORMAT_VERSION),
    id,
    name: str(raw.name) ?? nameFromRunId(id),
    algorithm: str(raw.algorithm) ?? 'pacs',
    status: isRunStatus(raw.status) ? raw.status : 'starting',
    pid: typeof raw.pid === 'number' ? raw.pid : null,
    pid_start_time: raw.pid_start_time == null ? null : String(raw.pid_start_time),
    host: str(raw.host),
    created_at: str(raw.created_at) ?? '',
    updated_at: str(raw.updated_at) ?? str(raw.created_at) ?? '',
    step: num(raw.step, 0),
    total_steps: num(raw.total_steps, 0),
    config_path: str(raw.config_path),
    seed: num(raw.seed, 0),
    git: isRecord(raw.git) ? (raw.git as unknown as RunInfo['git']) : null,
    versions: isRecord(raw.versions) ? (raw.versions as RunInfo['versions']) : {},
    error: isRecord(raw.error) ? (raw.error as unknown as RunInfo['error']) : null,
  };
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function num(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/** `20261127-030000-arith-1a2b` → `arith`. */
export function nameFromRunId(id: string): string {
  const m = /^\d{8}-\d{6}-(.+)-[0-9a-f]{4}$/.exec(id);
  return m ? m[1] : id;
}

/** Reads launcher.json (written by the launcher beside run.json), or null (also for a link or special file). */
export async function readLauncherInfo(runDir: string): Promise<LauncherInfo | null> {
  try {
    const raw: unknown = JSON.parse(await readRunFile(join(runDir, RUN_FILES.launcher)));
    return isRecord(raw) ? (raw as unknown as LauncherInfo) : null;
  } catch {
    return null;
  }
}

/**
 * Appends one event line to events.jsonl. Only for writers other than the trainer (the
 * extension recording `crashed`), i.e. when no trainer is writing. A torn last line is closed
 * first so the new event stays on its own line.
 */
export async function appendEvent(runDir: string, event: Record<string, unknown>): Promise<void> {
  const path = join(runDir, RUN_FILES.events);
  let prefix = '';
  const info = await statRunFile(path);
  // No events file yet: the append creates it.
  if (info && info.size > 0) {
    const handle = await openRunFile(path);
    try {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, info.size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    } finally {
      await handle.close();
    }
  }
  await appendLine(path, prefix + JSON.stringify(event));
}

/** Appends one line with O_APPEND so concurrent appenders never overwrite each other; never through a link. */
export async function appendLine(path: string, line: string): Promise<void> {
  const handle = await openRunFileForAppend(path);
  try {
    await handle.write(`${line}\n`);
  } finally {
    await handle.close();
  }
}

/**
 * Records a status that only a launcher or watcher can know (`crashed`, or `failed` when the
 * trainer exited before writing anything): rewrites run.json atomically and appends a `state`
 * event. Call only when the trainer process is known to be gone.
 */
export async function recordRunEnd(
  runDir: string,
  status: RunStatus,
  reason: string,
  error: { message: string; traceback?: string } | null,
): Promise<RunInfo> {
  const info = await readRunInfo(runDir);
  const now = new Date();
  const updated: RunInfo = {
    ...info,
    status,
    updated_at: now.toISOString(),
    error: info.error ?? error,
  };
  await writeJsonAtomic(join(runDir, RUN_FILES.info), updated);
  await appendEvent(runDir, { t: now.getTime() / 1000, type: 'state', status, reason });
  return updated;
}

/**
 * The last `maxLines` lines of trainer.log (at most the last 64 KiB), or '' when there is none; a
 * log that is a link or special file is not read, and the result says why.
 */
export async function trainerLogTail(runDir: string, maxLines = 20): Promise<string> {
  const path = join(runDir, RUN_FILES.log);
  try {
    const handle = await openRunFile(path);
    try {
      const info = await handle.stat();
      const length = Math.min(info.size, 64 * 1024);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, info.size - length);
      return buf.toString('utf8').trimEnd().split('\n').slice(-maxLines).join('\n');
    } finally {
      await handle.close();
    }
  } catch (err) {
    return err instanceof RunFileError ? `(not read: ${err.message})` : '';
  }
}
