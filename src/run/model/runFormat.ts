// The run directory contract (docs/run-format.md) as TypeScript types.
// Readers stay tolerant: unknown fields are kept, never rejected.

/** 2: evaluations are `eval` events (format 1 logged them as `metrics` events; still read), and the
 * `queued` status (a batch job submitted, its trainer not started yet). 3: rollout files are Parquet
 * (`rollouts/step-NNNNNN.parquet`, rolloutRecords.ts); the JSONL files of runs before still read. */
export const RUN_FORMAT_VERSION = 3;

export const RUN_STATUSES = [
  'queued',
  'starting',
  'running',
  'paused',
  'suspended',
  'finished',
  'stopped',
  'failed',
  'crashed',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses in which a trainer process is expected to be alive. */
export const LIVE_STATUSES: readonly RunStatus[] = ['starting', 'running', 'paused'];

/** Statuses from which `--resume` continues a run. */
export const RESUMABLE_STATUSES: readonly RunStatus[] = ['suspended', 'stopped', 'crashed', 'failed'];

export const ALGORITHMS = ['pacs', 'grpo', 'rloo'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export interface RunGitInfo {
  /** Sha of HEAD at launch; null in a repository with no commits yet (then `snapshot` holds the work). */
  commit: string | null;
  branch: string | null;
  remote?: string | null;
  dirty: boolean;
  /** Sha of a commit holding the working tree (untracked files included) when dirty, else null. */
  snapshot: string | null;
  /** `refs/pacs/runs/<run id>`: keeps the snapshot (or the commit) alive. */
  ref: string | null;
}

export interface RunVersions {
  pacslab?: string;
  python?: string;
  torch?: string;
  transformers?: string;
  cuda?: string | null;
  device?: string;
  [key: string]: unknown;
}

export interface RunError {
  message: string;
  traceback?: string;
}

/** run.json */
export interface RunInfo {
  format: number;
  id: string;
  name: string;
  algorithm: Algorithm | string;
  status: RunStatus;
  pid: number | null;
  pid_start_time: string | null;
  host: string | null;
  created_at: string;
  updated_at: string;
  step: number;
  total_steps: number;
  config_path: string | null;
  seed: number;
  git: RunGitInfo | null;
  versions: RunVersions;
  error: RunError | null;
  /** The metric holding the loss, e.g. `pacs/loss` (written by the trainer; see runModel.lossMetric). */
  loss_metric?: string;
  [key: string]: unknown;
}

// The events as readers get them from runModel.parseEvent (validated; see docs/run-format.md).
interface EventBase {
  /** Unix seconds; null when the line has none. */
  t: number | null;
  step?: number;
}

export interface RunStartedEvent extends EventBase {
  type: 'run_started';
  config: Record<string, unknown>;
  total_steps: number;
}
/** One training step. The file holds null for a metric undefined at that step; readers drop it. */
export interface MetricsEvent extends EventBase {
  type: 'metrics';
  step: number;
  values: Record<string, number>;
}
/** One held-out evaluation of the policy at `step`: `eval/*` and `perf/eval_s`. */
export interface EvalEvent extends EventBase {
  type: 'eval';
  step: number;
  values: Record<string, number>;
}
export interface RolloutsEvent extends EventBase {
  type: 'rollouts';
  step: number;
  /** Relative to the run directory, e.g. `rollouts/step-000012.jsonl`. */
  file: string;
  count: number;
}
export interface CheckpointEvent extends EventBase {
  type: 'checkpoint';
  step: number;
  path: string;
}
export interface StateEvent extends EventBase {
  type: 'state';
  status: RunStatus;
  reason?: string;
}
export interface ControlAckEvent extends EventBase {
  type: 'control_ack';
  seq: number;
  command: ControlCommandName | string;
  result: string;
}
export interface LogEvent extends EventBase {
  type: 'log';
  level: 'debug' | 'info' | 'warning' | 'error' | string;
  message: string;
}
export interface ErrorEvent extends EventBase {
  type: 'error';
  message: string;
  traceback?: string;
}
export interface RunFinishedEvent extends EventBase {
  type: 'run_finished';
  status: RunStatus;
}
/** A health rule of the config's `alerts:` section fired (docs/run-format.md, docs/diagnostics.md). */
export interface AlertEvent extends EventBase {
  type: 'alert';
  step: number;
  rule: string;
  /** The measured value: null when not finite (the trainer writes "nan"/"inf" as text). */
  value: number | null;
  threshold: number | null;
  action: 'warn' | 'pause' | 'stop' | string;
  message: string;
}
/** An event of a type this reader does not know: kept, not rejected. */
export interface UnknownEvent extends EventBase {
  type: string;
  [key: string]: unknown;
}

export type KnownRunEvent =
  | RunStartedEvent
  | MetricsEvent
  | EvalEvent
  | RolloutsEvent
  | CheckpointEvent
  | StateEvent
  | ControlAckEvent
  | LogEvent
  | ErrorEvent
  | AlertEvent
  | RunFinishedEvent;

export type RunEvent = KnownRunEvent | UnknownEvent;

/**
 * launcher.json: written once by the launcher (extension or CLI) right after it spawns the
 * trainer, never by the trainer. It identifies the process before the trainer has written its
 * own pid to run.json (so a trainer that dies while starting is noticed) and records how the run
 * was launched, so it can be reproduced. A Slurm launch records the job instead of a process
 * (`backend: slurm`, `job_id`, `pid: null`).
 */
export interface LauncherInfo {
  /** Null for a Slurm launch: the trainer's pid is in run.json once the job runs. */
  pid: number | null;
  pid_start_time: string | null;
  host: string;
  python: string;
  /** The trainer's argv after the interpreter. */
  args: string[];
  cwd: string;
  /** Absolute path of the config file launched. */
  config_abs_path: string;
  /** The config's path relative to the repository root, when in a repository. */
  config_repo_path: string | null;
  sets: string[];
  device: string | null;
  launched_at: string;
  /** Set for launches that continue a run (`--resume`). */
  resume?: boolean;
  /** `local` when absent. */
  backend?: 'local' | 'slurm';
  /** The Slurm job (backend slurm). */
  job_id?: string;
  /** The batch script, relative to the run directory (backend slurm). */
  script?: string;
}

/** One line of rollouts/step-NNNNNN.jsonl. Text fields are untrusted model output. */
export interface RolloutSample {
  step: number;
  group: number;
  index: number;
  prompt_id: string;
  prompt: string;
  response: string;
  answer: string;
  reward: number;
  verifier?: { parsed?: string | null; detail?: string | null; error?: string | null; [key: string]: unknown };
  logratio: number;
  psi: number;
  p_correct: number;
  grad_weight: number;
  weight: number;
  length: number;
  truncated: boolean;
  tokens?: string[];
  token_logratio?: number[];
  /** task.audit_verifier's verdict of this sample (a second checker; never the reward). */
  audit?: { label?: unknown; parsed?: string | null; detail?: string | null; error?: string | null; [key: string]: unknown };
  /** Added by the host, never read from the record: this sample's label flipped in the run's newest re-verification. */
  reverified?: { before: ReverifyVerdict; after: ReverifyVerdict; verifier: string };
  /** Set instead of `tokens` on a sample read from a Parquet step: its token details are read when shown (rolloutRecords.ts). */
  token_details?: boolean;
  /**
   * Set on a sample read from a Parquet step whose `response` is only its preview (the first 400
   * characters): the whole response is read when the sample is shown (rolloutRecords.ts).
   */
  response_cut?: boolean;
  [key: string]: unknown;
}

/** A sample's tokens and, on a step with the critic pass, their log-ratios. */
export interface TokenDetails {
  tokens: string[];
  token_logratio?: number[];
}

/** A verdict of a re-verification (reverify/*.json), checked by src/core/reverify.ts. */
export interface ReverifyVerdict {
  label: 0 | 1;
  parsed?: string | null;
  detail?: string | null;
  error?: string | null;
}

export const CONTROL_COMMANDS = ['pause', 'resume', 'stop', 'suspend', 'checkpoint'] as const;
export type ControlCommandName = (typeof CONTROL_COMMANDS)[number];

/** One line of control.jsonl. */
export interface ControlCommand {
  seq: number;
  command: ControlCommandName;
  t: number;
}

export const RUN_FILES = {
  info: 'run.json',
  events: 'events.jsonl',
  control: 'control.jsonl',
  config: 'config.yaml',
  gitPatch: 'git.patch',
  log: 'trainer.log',
  launcher: 'launcher.json',
  jobScript: 'job.sbatch',
  rolloutsDir: 'rollouts',
  checkpointsDir: 'checkpoints',
  onnxDir: 'onnx',
  ledger: 'ledger.jsonl',
  heldoutDir: 'heldout',
  reverifyDir: 'reverify',
} as const;

/** A step's rollout file: `.parquet` as the trainer writes it, `.jsonl` for runs written before and imported runs. */
export function rolloutFileName(step: number, suffix: '.jsonl' | '.parquet' = '.jsonl'): string {
  return `rollouts/step-${String(step).padStart(6, '0')}${suffix}`;
}

export function isRunStatus(value: unknown): value is RunStatus {
  return typeof value === 'string' && (RUN_STATUSES as readonly string[]).includes(value);
}
