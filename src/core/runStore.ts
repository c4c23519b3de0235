// One model of every run under a set of runs roots, kept current by polling (file watchers drop
// events on remote file systems). Opening a run reads run.json and events.jsonl; rollout files are
// only listed, and read one step at a time on request.
import { lstat, readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { Emitter } from './emitter';
import type { Disposable, Event } from './emitter';
import { JsonlTail } from './events';
import type { BadLine, JsonlReadResult } from './events';
import { describeJobEnd, isActiveJobState, isSlurmLaunch, slurmJob } from './launchers/slurm';
import { isSameProcess } from './process';
import { parseRunInfo, readLauncherInfo, readRunInfo, recordRunEnd, trainerLogTail } from './runDir';
import { isRealFolder, readRunFile, RunFileError } from './runFiles';
import { LIVE_STATUSES, RUN_FILES } from './runFormat';
import type { KnownRunEvent, LauncherInfo, RunError, RunInfo, RunStatus } from './runFormat';
import { readStepRecords, stepRecordsFile, type StepRecords, type TokenDetails } from './rolloutRecords';
import { isTrainingStep, parseEvent } from './runModel';

export interface MetricSeries {
  steps: number[];
  values: number[];
  /** Each point's event time (`t`, Unix seconds); null where the event had none. */
  times: (number | null)[];
}

export interface CheckpointRef {
  step: number;
  /** As written in the `checkpoint` event (relative to the run directory). */
  path: string;
}

export interface EventStats {
  /** Complete lines read from events.jsonl. */
  lines: number;
  /** Bytes of events.jsonl consumed. */
  bytes: number;
  /** Lines that were not valid JSON or not an event object. */
  badLines: number;
  /** The first few bad lines, for a message to the user. */
  firstBadLines: BadLine[];
  /** `t` of the newest event (unix seconds), or null. */
  lastEventT: number | null;
}

/** A snapshot of one run. Treat it as read-only: a new object replaces it on every change, and only then. */
export interface RunState {
  /**
   * The store's key of the run: the run directory's name, which is the run id; for a run whose
   * id an earlier runs root also holds, `<run id>@<root number>` (1-based), so both are shown.
   */
  id: string;
  dir: string;
  /** The runs root the run was found under. */
  root: string;
  /** True when another runs root holds a run with the same id (the views then name the root). */
  idInOtherRoot: boolean;
  info: RunInfo;
  /** run.json's `name` (the config's name). */
  configName: string;
  status: RunStatus;
  /** The newest value of every metric seen. */
  latest: Record<string, number>;
  /** The step of the newest `metrics` or `eval` event, or null before the first. */
  lastMetricStep: number | null;
  checkpoints: CheckpointRef[];
  /** The highest `control_ack` seq seen (0 when none). */
  lastAckSeq: number;
  events: EventStats;
  /** `t` of the first `run_started` event (unix seconds). */
  startedAt: number | null;
  /** `t` of the last `run_finished` event (unix seconds). */
  finishedAt: number | null;
  /** Training steps per second over the last few `metrics` events (evaluations excluded), or null. */
  stepsPerSecond: number | null;
  /** The last `error` event, or run.json's error. */
  lastError: RunError | null;
  /** True when the run is `crashed` (found dead by this store or earlier). */
  crashed: boolean;
  /**
   * Why a live run on another host is judged lost (its heartbeat stopped), else null. Not written
   * to run.json: the heartbeat may come back (a file-system hiccup), or Slurm confirm a crash.
   */
  lost: string | null;
  /** The run's warnings (`log` events of level warning or error), oldest first, the newest MAX_WARNINGS. */
  warnings: RunWarning[];
  /** How many warnings the run has logged in all (the list keeps the newest only). */
  warningCount: number;
}

export interface RunWarning {
  step: number | null;
  level: string;
  message: string;
}

/** Warnings a run's state keeps (a verifier that fails every step warns every step). */
export const MAX_WARNINGS = 20;

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

export interface RunStoreError {
  path: string;
  message: string;
}

const ROLLOUT_CACHE_SIZE = 8;
const RATE_WINDOW = 10;
const KEPT_BAD_LINES = 5;
/** How long a run may say `starting` with no process recorded before it counts as never started. */
const NEVER_STARTED_MS = 60_000;
const ROLLOUT_FILE = /^step-(\d+)\.(?:jsonl|parquet)$/;

interface RunEntry {
  state: RunState;
  infoKey: string;
  tail: JsonlTail;
  series: Map<string, MetricSeries>;
  rolloutSteps: Set<number>;
  rolloutStepsSorted: number[] | null;
  /** (step, t) of recent training steps (`metrics` events), for steps/s. */
  recent: Array<[number, number]>;
  /** When run.json last changed (ms, this host's clock; run.json's `updated_at` at first sight). */
  beatMs: number;
  /** When Slurm was last asked about this run's job (ms). */
  slurmAskedMs: number;
}

export class RunStore implements Disposable {
  private roots: string[];
  private pollIntervalMs: number;
  private readonly detectCrashes: boolean;
  private lostAfterMs: number;
  private readonly slurmPollMs: number;
  private readonly entries = new Map<string, RunEntry>();
  /** run.json files that failed to parse, by path: the version (inode:size:mtime) that failed. */
  private readonly brokenInfo = new Map<string, string>();
  private readonly rolloutCache = new Map<string, StepRecords>();
  private readonly changeEmitter = new Emitter<RunStoreChange>();
  private readonly errorEmitter = new Emitter<RunStoreError>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private disposed = false;
  private readonly host = hostname();

  /** Fires after a refresh with the ids of runs that were added, changed or removed. */
  readonly onDidChange: Event<RunStoreChange> = this.changeEmitter.event;
  /** Fires for a run directory that cannot be read (bad run.json, I/O error). */
  readonly onDidError: Event<RunStoreError> = this.errorEmitter.event;

  constructor(options: RunStoreOptions) {
    this.roots = [...options.roots];
    this.pollIntervalMs = validInterval(options.pollIntervalMs ?? 1000);
    this.detectCrashes = options.detectCrashes ?? true;
    this.lostAfterMs = options.lostAfterMs ?? 120_000;
    this.slurmPollMs = options.slurmPollMs ?? 10_000;
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
    this.lostAfterMs = ms;
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
      if (this.brokenInfo.get(infoPath) === infoKey) return false;
      try {
        info = parseRunInfo(await readRunFile(infoPath), infoPath, dir);
      } catch (err) {
        this.brokenInfo.set(infoPath, infoKey);
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

    if (this.detectCrashes && (await this.checkAlive(entry))) changed = true;
    if (unreadable) this.errorEmitter.fire({ path: unreadable.path, message: unreadable.message });
    return changed;
  }

  /**
   * Marks a live run whose trainer is gone as crashed (or its Slurm job's end), and a live run on
   * another host whose heartbeat stopped as lost; returns true when the state changed.
   */
  private async checkAlive(entry: RunEntry): Promise<boolean> {
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
  private async checkJobEnded(entry: RunEntry, jobId: string, now = false): Promise<'marked' | 'active' | 'silent'> {
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
  private checkHeartbeat(entry: RunEntry): boolean {
    const { info } = entry.state;
    const interval = typeof info.heartbeat_s === 'number' && info.heartbeat_s > 0 ? info.heartbeat_s * 1000 : 0;
    const limit = Math.max(this.lostAfterMs, 3 * interval);
    const silent = Date.now() - entry.beatMs;
    return this.setLost(entry, silent > limit ? `no heartbeat from ${info.host ?? 'its host'} for ${Math.round(silent / 1000)} s (run.json unchanged)` : null);
  }

  private setLost(entry: RunEntry, lost: string | null): boolean {
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
  private async checkNeverStarted(entry: RunEntry): Promise<boolean> {
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
  private async markEnded(entry: RunEntry, status: 'crashed' | 'failed' | 'stopped', reason: string, message: string): Promise<void> {
    const { dir } = entry.state;
    const updated = await recordRunEnd(dir, status, reason, { message }).catch(async (err: unknown) => {
      // run.json is written first; an events.jsonl that is a link refuses the state event after it.
      if (!(err instanceof RunFileError)) throw err;
      this.errorEmitter.fire({ path: err.path, message: err.message });
      return readRunInfo(dir);
    });
    entry.infoKey = versionKey(await lstat(join(dir, RUN_FILES.info)));
    entry.state = { ...entry.state, info: updated, status, crashed: status === 'crashed', lost: null, lastError: entry.state.lastError ?? updated.error };
  }
}

/** Which version of a file this is: a rewrite (even by rename) changes the inode, size or mtime. */
function versionKey(s: { ino: number; size: number; mtimeMs: number }): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

/** A poll interval the timer can use: the setting's range, 100 ms to 60 s (1 s when not a number). */
function validInterval(ms: number): number {
  return Number.isFinite(ms) ? Math.min(60_000, Math.max(100, ms)) : 1000;
}

function emptyState(id: string, dir: string, root: string, info: RunInfo): RunState {
  return {
    id,
    dir,
    root,
    idInOtherRoot: false,
    info,
    configName: info.name,
    status: info.status,
    latest: {},
    lastMetricStep: null,
    checkpoints: [],
    lastAckSeq: 0,
    events: { lines: 0, bytes: 0, badLines: 0, firstBadLines: [], lastEventT: null },
    startedAt: null,
    finishedAt: null,
    stepsPerSecond: null,
    lastError: info.error,
    crashed: info.status === 'crashed',
    lost: null,
    warnings: [],
    warningCount: 0,
  };
}

function applyEvents(entry: RunEntry, previous: RunState, records: unknown[], badLines: BadLine[]): RunState {
  const state: RunState = {
    ...previous,
    latest: { ...previous.latest },
    checkpoints: [...previous.checkpoints],
    warnings: [...previous.warnings],
    events: { ...previous.events, firstBadLines: [...previous.events.firstBadLines] },
  };
  const bad = [...badLines];
  for (const record of records) {
    const parsed = parseEvent(record);
    if (parsed.kind === 'bad') {
      bad.push({ line: 0, snippet: JSON.stringify(record).slice(0, 120), error: parsed.error });
      continue;
    }
    if (parsed.event.t !== null) state.events.lastEventT = parsed.event.t;
    if (parsed.kind === 'known') applyEvent(entry, state, parsed.event);
  }
  state.events.badLines += bad.length;
  for (const line of bad) {
    if (state.events.firstBadLines.length < KEPT_BAD_LINES) state.events.firstBadLines.push(line);
  }
  state.stepsPerSecond = rate(entry.recent);
  return state;
}

function applyEvent(entry: RunEntry, state: RunState, event: KnownRunEvent): void {
  const { t } = event;
  switch (event.type) {
    case 'metrics':
    case 'eval': {
      const { step } = event;
      for (const [name, value] of Object.entries(event.values)) {
        appendPoint(entry.series, name, step, value, t);
        state.latest[name] = value;
      }
      state.lastMetricStep = state.lastMetricStep === null ? step : Math.max(state.lastMetricStep, step);
      if (isTrainingStep(event) && t !== null) {
        // A resumed run logs again from its checkpoint: restart the rate window there.
        const last = entry.recent[entry.recent.length - 1];
        if (last && step <= last[0]) entry.recent.length = 0;
        entry.recent.push([step, t]);
        if (entry.recent.length > RATE_WINDOW) entry.recent.shift();
      }
      return;
    }
    case 'rollouts':
      if (!entry.rolloutSteps.has(event.step)) {
        entry.rolloutSteps.add(event.step);
        entry.rolloutStepsSorted = null;
      }
      return;
    case 'checkpoint':
      state.checkpoints = state.checkpoints.filter((c) => c.step !== event.step);
      state.checkpoints.push({ step: event.step, path: event.path });
      state.checkpoints.sort((a, b) => a.step - b.step);
      return;
    case 'control_ack':
      state.lastAckSeq = Math.max(state.lastAckSeq, event.seq);
      return;
    case 'run_started':
      if (state.startedAt === null && t !== null) state.startedAt = t;
      state.finishedAt = null;
      return;
    case 'run_finished':
      state.finishedAt = t;
      return;
    case 'error':
      state.lastError = { message: event.message, traceback: event.traceback };
      return;
    case 'log':
      if (event.level !== 'warning' && event.level !== 'error') return;
      state.warnings.push({ step: event.step ?? null, level: event.level, message: event.message });
      if (state.warnings.length > MAX_WARNINGS) state.warnings.shift();
      state.warningCount += 1;
      return;
    default:
      return;
  }
}

/**
 * Appends a point, first dropping points at or after `step` so a series stays ordered when a
 * resumed run logs steps again from its checkpoint.
 */
function appendPoint(series: Map<string, MetricSeries>, name: string, step: number, value: number, t: number | null): void {
  let s = series.get(name);
  if (!s) {
    s = { steps: [], values: [], times: [] };
    series.set(name, s);
  }
  const n = s.steps.length;
  if (n && s.steps[n - 1] >= step) {
    let keep = n;
    while (keep > 0 && s.steps[keep - 1] >= step) keep--;
    s.steps.length = keep;
    s.values.length = keep;
    s.times.length = keep;
  }
  s.steps.push(step);
  s.values.push(value);
  s.times.push(t);
}

function rate(recent: Array<[number, number]>): number | null {
  if (recent.length < 2) return null;
  const [s0, t0] = recent[0];
  const [s1, t1] = recent[recent.length - 1];
  return t1 > t0 ? (s1 - s0) / (t1 - t0) : null;
}

function newestFirst(a: RunState, b: RunState): number {
  const byTime = b.info.created_at.localeCompare(a.info.created_at);
  return byTime !== 0 ? byTime : b.id.localeCompare(a.id);
}

/** The process that should be running this run: run.json's pid, else the launcher's. */
function processOwner(info: RunInfo, launcher: LauncherInfo | null): { pid: number; startTime: string | null; host: string | null } | null {
  if (info.pid) return { pid: info.pid, startTime: info.pid_start_time, host: info.host };
  if (!launcher || typeof launcher.pid !== 'number') return null;
  return { pid: launcher.pid, startTime: launcher.pid_start_time, host: launcher.host };
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
