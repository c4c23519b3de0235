// One model of every run under a set of runs roots, kept current by polling (file watchers drop
// events on remote file systems). Opening a run reads run.json and events.jsonl; rollout files are
// only listed, and read one step at a time on request.
import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { RUN_LIMITS } from '../../run/model/boundedJson';
import { Emitter } from './emitter';
import type { Disposable, Event } from './emitter';
import { JsonlTail } from '../../run/model/events';
import type { JsonlReadResult } from '../../run/model/events';
import { parseRunInfo } from '../../run/model/runDir';
import { readStepRecords, stepRecordsFile, type StepRecords, type TokenDetails } from '../../run/model/rolloutRecords';
import { isRealFolder, readRunFile, RunFileError } from '../../run/model/runFiles';
import { RUN_FILES, type RolloutSample } from '../../run/model/runFormat';
import { Liveness, versionKey } from './liveness';
import type { LiveEntry } from './liveness';
import { applyEvents, emptyState } from './runFold';
import type { FoldEntry, MetricSeries, RunState } from './runFold';

export type { CheckpointRef, EventStats, MetricSeries, RunState, RunWarning } from './runFold';
export { MAX_WARNINGS } from './runFold';

export interface RunStoreOptions {
  roots: string[];
  pollIntervalMs?: number;
  /** Mark live runs whose process is gone as crashed (default true). */
  detectCrashes?: boolean;
  /**
   * A live run on another host is lost when run.json has not changed for this long (default
   * 120 s), or for three of its trainer's heartbeat intervals when that is longer.
   */
  lostAfterMs?: number;
  /** How often Slurm is asked about each queued or running job (default 10 s). */
  slurmPollMs?: number;
}

export interface RunStoreChange {
  /** Runs added, changed or removed (a removed id is no longer returned by `get`). */
  runIds: string[];
}

/** A run folder whose run.json cannot be read (not JSON, too deep or large, a field of the wrong type, a link). */
export interface UnreadableRun {
  /** The store's key the run would have. */
  id: string;
  dir: string;
  /** Why, naming the file and the field. */
  reason: string;
}

export interface RunStoreError {
  path: string;
  message: string;
}

const ROLLOUT_CACHE_SIZE = 8;
const ROLLOUT_FILE = /^step-(\d+)\.(?:jsonl|parquet)$/;

/** One run as the store keeps it: what the fold keeps (runFold.ts), what liveness keeps (liveness.ts), and the events tail. */
interface RunEntry extends FoldEntry, LiveEntry {
  tail: JsonlTail;
}

export class RunStore implements Disposable {
  private roots: string[];
  private pollIntervalMs: number;
  private readonly detectCrashes: boolean;
  private readonly liveness: Liveness;
  private readonly entries = new Map<string, RunEntry>();
  /** run.json files that failed to parse, by path: the version (inode:size:mtime) that failed, and why. */
  private readonly brokenInfo = new Map<string, { key: string; run: UnreadableRun }>();
  private readonly rolloutCache = new Map<string, StepRecords>();
  private readonly changeEmitter = new Emitter<RunStoreChange>();
  private readonly errorEmitter = new Emitter<RunStoreError>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private disposed = false;

  /** Fires after a refresh with the ids of runs that were added, changed or removed. */
  readonly onDidChange: Event<RunStoreChange> = this.changeEmitter.event;
  /** Fires for a run directory that cannot be read (bad run.json, I/O error). */
  readonly onDidError: Event<RunStoreError> = this.errorEmitter.event;

  constructor(options: RunStoreOptions) {
    this.roots = [...options.roots];
    this.pollIntervalMs = validInterval(options.pollIntervalMs ?? 1000);
    this.detectCrashes = options.detectCrashes ?? true;
    this.liveness = new Liveness(options.lostAfterMs ?? 120_000, options.slurmPollMs ?? 10_000, (error) => this.errorEmitter.fire(error));
  }

  /** Loads every run now, then polls every `pollIntervalMs`. */
  start(): Promise<void> {
    if (!this.timer && !this.disposed) this.startTimer();
    return this.refresh();
  }

  /** Polls every `ms` from now on (a running poll timer is restarted; a stopped store stays stopped). */
  setPollInterval(ms: number): void {
    this.pollIntervalMs = validInterval(ms);
    if (!this.timer || this.disposed) return;
    clearInterval(this.timer);
    this.startTimer();
  }

  /** Changes the heartbeat age after which a live run on another host is lost (from the next poll). */
  setLostAfter(ms: number): void {
    this.liveness.lostAfterMs = ms;
  }

  getPollInterval(): number {
    return this.pollIntervalMs;
  }

  private startTimer(): void {
    // A poll that finds a pass still running skips its turn, so a slow file system is not polled back to back.
    this.timer = setInterval(() => {
      if (!this.refreshing) void this.refresh();
    }, this.pollIntervalMs);
  }

  /** Replaces the runs roots; runs under roots no longer listed are removed on the next refresh. */
  setRoots(roots: string[]): Promise<void> {
    this.roots = [...roots];
    return this.refresh();
  }

  getRoots(): readonly string[] {
    return this.roots;
  }

  /** Every run, newest first. */
  runs(): RunState[] {
    return [...this.entries.values()].map((e) => e.state).sort(newestFirst);
  }

  /**
   * Run folders whose run.json cannot be read, with the reason (each is also reported once by
   * onDidError); a run read before keeps its last good state instead, among `runs()`.
   */
  unreadableRuns(): UnreadableRun[] {
    return [...this.brokenInfo.values()].map((b) => b.run).filter((run) => !this.entries.has(run.id)).sort((a, b) => b.id.localeCompare(a.id));
  }

  get(id: string): RunState | undefined {
    return this.entries.get(id)?.state;
  }

  /**
   * Every metric's (step, value) series, `eval/*` included, in step order. The map is the
   * store's own: read it, do not change it.
   */
  metricSeries(id: string): Map<string, MetricSeries> {
    return this.entries.get(id)?.series ?? new Map();
  }

  /** Steps that have a rollouts file, ascending. */
  rolloutSteps(id: string): number[] {
    const entry = this.entries.get(id);
    if (!entry) return [];
    entry.rolloutStepsSorted ??= [...entry.rolloutSteps].sort((a, b) => a - b);
    return entry.rolloutStepsSorted;
  }

  /** Bad lines seen in the run's events.jsonl. */
  badLineCount(id: string): number {
    return this.entries.get(id)?.state.events.badLines ?? 0;
  }

  /** The token details of one sample of a step, read from its file when shown (null when it has none). */
  async loadTokenDetails(id: string, step: number, group: number, index: number): Promise<TokenDetails | null> {
    return (await this.loadRollouts(id, step)).tokenDetails(group, index);
  }

  /** One sample of a step whole (its whole response and token details), read from its file; null when the step has no such sample. */
  async loadSample(id: string, step: number, group: number, index: number): Promise<RolloutSample | null> {
    return (await this.loadRollouts(id, step)).sample(group, index);
  }

  /** Reads one step's rollout samples, light fields only for a Parquet step (a small cache keeps the last few steps). */
  async loadRollouts(id: string, step: number): Promise<StepRecords> {
    const entry = this.entries.get(id);
    if (!entry) throw new Error(`Unknown run ${id}.`);
    const key = `${id}\u0000${step}`;
    const cached = this.rolloutCache.get(key);
    if (cached) {
      this.rolloutCache.delete(key);
      this.rolloutCache.set(key, cached);
      return cached;
    }
    const loaded = await readStepRecords(await stepRecordsFile(entry.state.dir, step));
    this.rolloutCache.set(key, loaded);
    if (this.rolloutCache.size > ROLLOUT_CACHE_SIZE) {
      this.rolloutCache.delete(this.rolloutCache.keys().next().value as string);
    }
    return loaded;
  }

  /** Re-reads run.json files and new events now. Concurrent calls coalesce into at most one more pass. */
  refresh(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          await this.refreshOnce();
        } while (this.refreshAgain && !this.disposed);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.changeEmitter.dispose();
    this.errorEmitter.dispose();
    this.entries.clear();
    this.brokenInfo.clear();
    this.rolloutCache.clear();
  }

  private async refreshOnce(): Promise<void> {
    const changed = new Set<string>();
    const seen = new Set<string>();
    /** Run id → how many roots hold it. */
    const holders = new Map<string, number>();
    for (const [index, root] of this.roots.entries()) {
      for (const id of await listRunDirs(root)) {
        const key = seen.has(id) ? `${id}@${index + 1}` : id;
        if (seen.has(key)) continue;
        seen.add(key);
        holders.set(id, (holders.get(id) ?? 0) + 1);
        try {
          if (await this.refreshRun(root, id, key)) changed.add(key);
        } catch (err) {
          changed.add(key);
          this.errorEmitter.fire({ path: join(root, id), message: (err as Error).message });
        }
        if (this.disposed) return;
      }
    }
    for (const [key, entry] of this.entries) {
      const shared = (holders.get(basename(entry.state.dir)) ?? 0) > 1;
      if (entry.state.idInOtherRoot === shared) continue;
      entry.state = { ...entry.state, idInOtherRoot: shared };
      changed.add(key);
    }
    for (const id of [...this.entries.keys()]) {
      if (!seen.has(id)) {
        this.entries.delete(id);
        changed.add(id);
      }
    }
    for (const [path, { run }] of this.brokenInfo) {
      if (seen.has(run.id) && this.roots.some((root) => run.dir.startsWith(root))) continue;
      this.brokenInfo.delete(path);
      changed.add(run.id);
    }
    if (changed.size) this.changeEmitter.fire({ runIds: [...changed] });
  }

  /** Returns true when the run is new or changed. */
  private async refreshRun(root: string, id: string, key: string): Promise<boolean> {
    const dir = join(root, id);
    let entry = this.entries.get(key);
    if (entry && entry.state.root !== root) entry = undefined;
    let changed = false;

    const infoPath = join(dir, RUN_FILES.info);
    const infoStat = await lstat(infoPath).catch(() => null);
    if (!infoStat) return false;
    const infoKey = versionKey(infoStat);
    let info = entry?.state.info;
    if (!entry || entry.infoKey !== infoKey) {
      // A run.json that failed to parse is read again only once it changes (its error was reported).
      if (this.brokenInfo.get(infoPath)?.key === infoKey) return false;
      try {
        info = parseRunInfo(await readRunFile(infoPath, RUN_LIMITS.maxInfoBytes), infoPath, dir);
      } catch (err) {
        this.brokenInfo.set(infoPath, { key: infoKey, run: { id: key, dir, reason: (err as Error).message } });
        throw err;
      }
      this.brokenInfo.delete(infoPath);
      changed = true;
    }
    if (!info) return false;

    if (!entry) {
      entry = {
        state: emptyState(key, dir, root, info),
        infoKey,
        tail: new JsonlTail(join(dir, RUN_FILES.events)),
        series: new Map(),
        rolloutSteps: new Set(await listRolloutSteps(dir)),
        rolloutStepsSorted: null,
        recent: [],
        beatMs: Math.min(Date.now(), Date.parse(info.updated_at) || 0),
        slurmAskedMs: 0,
      };
      this.entries.set(key, entry);
    } else if (entry.infoKey !== infoKey) entry.beatMs = Date.now();
    entry.infoKey = infoKey;
    let unreadable: RunFileError | null = null;
    let state: RunState = { ...entry.state, info, status: info.status, configName: info.name, crashed: info.status === 'crashed' };
    state.lastError = state.lastError ?? info.error;

    let read: JsonlReadResult;
    try {
      read = await entry.tail.read();
    } catch (err) {
      if (!(err instanceof RunFileError)) throw err;
      // Still watch the run's status (crash detection below), and show why its events are not read.
      unreadable = err;
      read = { records: [], badLines: [], restarted: false };
    }
    if (read.restarted) {
      entry.series = new Map();
      entry.recent = [];
      entry.rolloutSteps = new Set(await listRolloutSteps(dir));
      entry.rolloutStepsSorted = null;
      state = { ...emptyState(key, dir, root, info), idInOtherRoot: entry.state.idInOtherRoot };
      changed = true;
    }
    if (read.records.length || read.badLines.length) {
      state = applyEvents(entry, state, read.records, read.badLines);
      changed = true;
    }
    if (unreadable && state.lastError?.message !== unreadable.message) {
      state = { ...state, lastError: { message: unreadable.message } };
      changed = true;
    }
    // Keep the same object while nothing changed, so callers can compare states by identity.
    if (changed) entry.state = { ...state, events: { ...state.events, lines: entry.tail.lineCount, bytes: entry.tail.position } };

    if (this.detectCrashes && (await this.liveness.check(entry))) changed = true;
    if (unreadable) this.errorEmitter.fire({ path: unreadable.path, message: unreadable.message });
    return changed;
  }

}

/** A poll interval the timer can use: the setting's range, 100 ms to 60 s (1 s when not a number). */
function validInterval(ms: number): number {
  return Number.isFinite(ms) ? Math.min(60_000, Math.max(100, ms)) : 1000;
}

function newestFirst(a: RunState, b: RunState): number {
  const byTime = b.info.created_at.localeCompare(a.info.created_at);
  return byTime !== 0 ? byTime : b.id.localeCompare(a.id);
}

/** Names of the subdirectories of `root` that hold a run.json. */
async function listRunDirs(root: string): Promise<string[]> {
  let names;
  try {
    names = await readdir(root, { withFileTypes: true });
  } catch {
    return [];
  }
  const ids: string[] = [];
  for (const d of names) {
    if (!d.isDirectory() || d.name.startsWith('.')) continue;
    ids.push(d.name);
  }
  return ids;
}

async function listRolloutSteps(dir: string): Promise<number[]> {
  try {
    const folder = join(dir, RUN_FILES.rolloutsDir);
    // A link in place of rollouts/ is not listed; reading a step from it says why (loadRollouts).
    if (!(await isRealFolder(folder))) return [];
    const names = await readdir(folder);
    const steps: number[] = [];
    for (const name of names) {
      const m = ROLLOUT_FILE.exec(name);
      if (m) steps.push(Number(m[1]));
    }
    return steps;
  } catch {
    return [];
  }
}
