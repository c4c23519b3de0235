#!/usr/bin/env node
// `pacs-lab`: the extension core on the command line. Launches and follows runs, lists them,
// and sends control commands, with the same code the VS Code extension uses.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runScore } from './dashboard/model/charts';
import { ControlError, isControlCommand, sendControl } from './runs/model/control';
import { JsonlTail } from './run/model/events';
import { ImportRunsError, importRuns } from './runs/model/importer';
import { RunFollower, summaryTable } from './runs/model/follow';
import { GIT_MODES } from './git/model/git';
import type { GitMode } from './git/model/git';
import { LaunchError, launchRun, launchedAs, resumeRun } from './runs/model/launcher';
import { readRunInfo, recordRunEnd, trainerLogTail } from './run/model/runDir';
import { CONTROL_COMMANDS, LIVE_STATUSES, RUN_FILES } from './run/model/runFormat';
import type { RunInfo, RunStatus } from './run/model/runFormat';
import { commitLabel, lossMetric } from './run/model/runModel';
import { RunStore } from './runs/model/runStore';
import { alertLine } from './diagnostics/model/alerts';

const USAGE = `pacs-lab: train, watch and control PACS Lab runs

usage:
  pacs-lab train CONFIG [--runs-dir DIR] [--set KEY=VALUE]... [--python PY] [--device DEV]
                        [--git snapshot|warn|block|ignore] [--detach]
  pacs-lab resume RUN_DIR [--python PY] [--detach]
  pacs-lab status [RUNS_DIR] [--json]
  pacs-lab control RUN_DIR ${CONTROL_COMMANDS.join('|')} [--timeout SECONDS]
  pacs-lab import PATH [--runs-dir DIR] [--name NAME] [--python PY]
  pacs-lab score ...        (see \`pacs-lab score --help\`)

train launches CONFIG (a *.pacs.yaml) in a new run directory under --runs-dir (default
.pacs/runs) and follows it: one progress line per step, then a before/after table. Ctrl-C
asks the run to stop (it saves a checkpoint first); a second Ctrl-C leaves it running.
import makes a new run directory (under --runs-dir, default .pacs/runs) for each run in PATH: a
TensorBoard log directory, a TRL output directory or a verl rollout_data_dir (docs/interop.md).
Python: --python, else $PACS_PYTHON, else python3 on the PATH.

exit codes: 0 finished (also stopped or suspended), 1 failed (a config error included) or
crashed, 2 usage errors and refusals (no such config, uncommitted work under --git block, a
command the run cannot take), 3 control command not acknowledged, 130 interrupted by Ctrl-C.`;

const EXIT = { ok: 0, failed: 1, usage: 2, noAck: 3, interrupted: 130 } as const;

interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
  bools: Set<string>;
}

class UsageError extends Error {}

function parseArgs(argv: string[], valued: string[], booleans: string[]): Parsed {
  const parsed: Parsed = { positional: [], flags: new Map(), bools: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') {
      parsed.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (booleans.includes(name)) {
      parsed.bools.add(name);
      continue;
    }
    if (!valued.includes(name)) throw new UsageError(`unknown option --${name}`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    parsed.flags.set(name, [...(parsed.flags.get(name) ?? []), value]);
  }
  return parsed;
}

function one(p: Parsed, name: string): string | undefined {
  const values = p.flags.get(name);
  return values?.[values.length - 1];
}

function pythonFrom(p: Parsed): string {
  return one(p, 'python') ?? process.env.PACS_PYTHON ?? 'python3';
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

async function cmdTrain(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['runs-dir', 'set', 'python', 'device', 'git'], ['detach']);
  if (p.positional.length !== 1) throw new UsageError('train takes one CONFIG file');
  const gitMode = (one(p, 'git') ?? 'snapshot') as GitMode;
  if (!GIT_MODES.includes(gitMode)) throw new UsageError(`--git must be one of ${GIT_MODES.join(', ')}`);
  const runsRoot = resolve(one(p, 'runs-dir') ?? join('.pacs', 'runs'));
  const launched = await launchRun({
    configPath: p.positional[0],
    runsRoot,
    python: pythonFrom(p),
    sets: p.flags.get('set') ?? [],
    device: one(p, 'device'),
    gitMode,
  });
  if (launched.gitWarning) err(`warning: ${launched.gitWarning}`);
  out(`run ${launched.runId} (${launchedAs(launched)})`);
  out(`  dir: ${launched.runDir}`);
  out(`  log: ${join(launched.runDir, RUN_FILES.log)}`);
  const info = await readRunInfo(launched.runDir);
  if (info.git) {
    const snap = info.git.snapshot ? `, uncommitted work in snapshot ${info.git.snapshot.slice(0, 7)} (${info.git.ref})` : '';
    out(`  code: ${commitLabel(info.git) ?? '(no commit)'}${info.git.branch ? ` on ${info.git.branch}` : ''}${snap}`);
  }
  if (launched.jobId !== null) {
    out(`queued in Slurm: the job's trainer writes to the run folder; follow with \`pacs-lab status ${runsRoot}\`, cancel with \`pacs-lab control ${launched.runDir} stop\``);
    return EXIT.ok;
  }
  if (p.bools.has('detach')) {
    out(`detached: follow with \`pacs-lab status ${runsRoot}\`, control with \`pacs-lab control ${launched.runDir} pause|stop|...\``);
    return EXIT.ok;
  }
  out('starting the trainer (loading Python, torch and the model)...');
  return follow(launched.runDir, launched.exited, info);
}

async function cmdResume(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['python'], ['detach']);
  if (p.positional.length !== 1) throw new UsageError('resume takes one RUN_DIR');
  const resumed = await resumeRun(p.positional[0], pythonFrom(p));
  out(`resuming ${resumed.runDir} (${launchedAs(resumed)})`);
  if (p.bools.has('detach') || resumed.jobId !== null) return EXIT.ok;
  const info = await readRunInfo(resumed.runDir);
  return follow(resumed.runDir, resumed.exited, info, true);
}

/**
 * Prints progress until the run ends (run_finished, or the trainer exits), then the summary.
 * Ctrl-C sends `stop` once; a second Ctrl-C leaves the run going.
 */
async function follow(runDir: string, exited: Promise<{ code: number | null }>, run: RunInfo, fromEnd = false): Promise<number> {
  const startedMs = Date.now();
  const tty = process.stdout.isTTY === true;
  const follower = new RunFollower(run.total_steps, lossMetric(run));
  const eventsPath = join(runDir, RUN_FILES.events);
  // A resumed run appends to its events: show only what this launch adds, except the first eval.
  const tail = new JsonlTail(eventsPath);
  let exitCode: number | null | undefined;
  void exited.then((e) => (exitCode = e.code));
  let interrupts = 0;
  const stopWaiting = new AbortController();
  let progressShown = false;
  const clearProgress = () => {
    if (tty && progressShown) process.stdout.write('\r\x1b[K');
    progressShown = false;
  };
  const onSigint = () => {
    interrupts++;
    clearProgress();
    if (interrupts === 1) {
      out('stopping: asked the trainer to save a checkpoint and exit (Ctrl-C again to leave it running)');
      sendControl(runDir, 'stop', { timeoutMs: 120000, signal: stopWaiting.signal }).catch((e: Error) => err(`could not send stop: ${e.message}`));
      return;
    }
    out(`left running: ${runDir} (\`pacs-lab control ${runDir} stop\` stops it)`);
    process.exit(EXIT.interrupted);
  };
  process.on('SIGINT', onSigint);
  let skipping = fromEnd;
  try {
    for (;;) {
      const { records, badLines } = await tail.read();
      for (const b of badLines) {
        clearProgress();
        err(`warning: events.jsonl line ${b.line} is not valid JSON, skipped: ${b.snippet}`);
      }
      for (const record of records) {
        const { stepped, notes } = follower.apply(record);
        if (skipping) continue;
        if (notes.length) {
          clearProgress();
          notes.forEach((n) => out(n));
        }
        if (stepped) {
          const line = follower.progressLine();
          if (tty) {
            process.stdout.write(`\r\x1b[K${line}`);
            progressShown = true;
          } else out(line);
        }
      }
      if (skipping) follower.startSession();
      skipping = false;
      if (follower.finished) break;
      if (exitCode !== undefined) {
        // Read what the trainer wrote last, then stop.
        const rest = await tail.read();
        rest.records.forEach((r) => follower.apply(r));
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    stopWaiting.abort();
    process.off('SIGINT', onSigint);
    clearProgress();
  }

  let info = await readRunInfo(runDir);
  if (LIVE_STATUSES.includes(info.status) && exitCode !== undefined) {
    const code = exitCode;
    const status: RunStatus = code === 2 ? 'failed' : 'crashed';
    const reason = `the trainer exited (code ${code ?? 'unknown'}) without recording an end state`;
    info = await recordRunEnd(runDir, status, reason, { message: `${reason}; see trainer.log` });
  }
  const status = follower.finished ?? info.status;
  const summary = follower.summary(status, info.error?.message ?? null, (Date.now() - startedMs) / 1000);
  // A run that ended before its first evaluation has nothing to tabulate.
  if (summary.lastStep > 0 || summary.evalBeforeStep !== null) {
    out('');
    out(summaryTable(summary));
  }
  out('');
  out(`run ${status}: ${runDir}`);
  if (status === 'failed' || status === 'crashed') {
    const message = summary.error;
    if (message) err(`error: ${message}`);
    const log = await trainerLogTail(runDir, 15);
    if (log) err(`last lines of ${join(runDir, RUN_FILES.log)}:\n${log}`);
    if (/No module named '?(pacslab|torch|transformers)/.test(log)) {
      err('hint: this Python lacks the trainer; pass --python (or set PACS_PYTHON) to one where `pip install ./trainer` was done (`make setup` makes .venv).');
    }
    return EXIT.failed;
  }
  return interrupts > 0 ? EXIT.interrupted : EXIT.ok;
}

async function cmdStatus(argv: string[]): Promise<number> {
  const p = parseArgs(argv, [], ['json']);
  if (p.positional.length > 1) throw new UsageError('status takes at most one RUNS_DIR');
  const root = resolve(p.positional[0] ?? join('.pacs', 'runs'));
  const store = new RunStore({ roots: [root] });
  // A run folder that cannot be read safely (bad run.json, a link in it) is named, not skipped silently.
  const reported = new Set<string>();
  store.onDidError(({ message }) => {
    if (!reported.has(message)) err(`warning: ${message}`);
    reported.add(message);
  });
  try {
    await store.refresh();
    const runs = store.runs();
    if (p.bools.has('json')) {
      out(JSON.stringify(runs.map((r) => ({
        ...r.info, dir: r.dir, latest: r.latest, score: runScore(r.id, store.metricSeries(r.id)), bad_lines: r.events.badLines, alerts: r.alerts,
      })), null, 2));
      return EXIT.ok;
    }
    if (!runs.length) {
      out(`no runs in ${root}${existsSync(root) ? '' : ' (it does not exist)'}`);
      return EXIT.ok;
    }
    // The dashboard's summary numbers: best held-out accuracy, and reward and critic AUC over the last tenth of the steps.
    const rows = [['RUN', 'STATUS', 'STEP', 'BEST ACC', 'REWARD', 'AUC', 'ALERTS', 'CODE']];
    const fixed = (v: number | null) => (v === null ? '-' : v.toFixed(3));
    for (const r of runs) {
      const code = commitLabel(r.info.git) ?? '-';
      const score = runScore(r.id, store.metricSeries(r.id));
      const best = score.bestAccuracy ? `${(100 * score.bestAccuracy.value).toFixed(1)}%@${score.bestAccuracy.step}` : '-';
      rows.push([r.id, r.lost ? 'lost' : r.status, `${r.info.step}/${r.info.total_steps}`, best, fixed(score.reward), fixed(score.criticAuc), String(r.alerts.length), code]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    rows.forEach((row) => out(row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()));
    out('REWARD and AUC: means over the last tenth of each run\'s steps; BEST ACC: best eval/accuracy @ its step.');
    for (const r of runs.filter((run) => run.alerts.length)) out(`${r.id}: last alert at ${alertLine(r.alerts[r.alerts.length - 1])}`);
    if (runs.some((r) => commitLabel(r.info.git)?.endsWith('*'))) out('(* = uncommitted work at launch, saved in a snapshot commit unless --git ignore)');
    return EXIT.ok;
  } finally {
    store.dispose();
  }
}

async function cmdControl(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['timeout'], []);
  const [runDir, command] = p.positional;
  if (!runDir || !command || p.positional.length !== 2) throw new UsageError('control takes RUN_DIR and a command');
  if (!isControlCommand(command)) throw new UsageError(`unknown command "${command}"; use one of ${CONTROL_COMMANDS.join(', ')}`);
  const timeout = Number(one(p, 'timeout') ?? 15);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError('--timeout must be a positive number of seconds');
  const r = await sendControl(resolve(runDir), command, { timeoutMs: timeout * 1000 });
  if (!r.acked) {
    err(`${command} sent (seq ${r.seq}) but not acknowledged within ${timeout} s: the trainer reads commands between steps, so a long step delays it. It will still be applied.`);
    return EXIT.noAck;
  }
  out(`${command} acknowledged (seq ${r.seq}): ${r.result ?? 'ok'}`);
  return EXIT.ok;
}

async function cmdImport(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['runs-dir', 'name', 'python'], []);
  if (p.positional.length !== 1) throw new UsageError('import needs one PATH');
  const made = await importRuns({ source: p.positional[0], runsRoot: one(p, 'runs-dir') ?? join('.pacs', 'runs'), python: pythonFrom(p), name: one(p, 'name') });
  for (const dir of made) out(`imported ${dir}`);
  return EXIT.ok;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'train':
        return await cmdTrain(rest);
      case 'resume':
        return await cmdResume(rest);
      case 'status':
        return await cmdStatus(rest);
      case 'control':
        return await cmdControl(rest);
      case 'import':
        return await cmdImport(rest);
      // `score` belongs to the ONNX scorer (src/scoring/model/); loaded on demand so the other
      // commands never load onnxruntime.
      case 'score': {
        const { runScoreCli } = await import('./scoring/model/scoreCli');
        return await runScoreCli(rest);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`pacs-lab: ${e.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    if (e instanceof LaunchError || e instanceof ControlError || e instanceof ImportRunsError || (e as Error).name === 'GitDirtyError' || (e as Error).name === 'RunFileError') {
      err(`pacs-lab: ${(e as Error).message}`);
      return EXIT.usage;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    err(`pacs-lab: unexpected error: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = EXIT.failed;
  },
);
