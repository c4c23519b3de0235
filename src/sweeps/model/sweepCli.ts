// `pacs-lab sweep`: start a sweep and follow its progress, pause, resume or stop one, list them.
import { join, resolve } from 'node:path';
import { GIT_MODES, type GitMode } from '../../git/model/git';
import { readSweep, readSweeps } from './sweepFiles';
import { sweepsRootOf } from './sweepFormat';
import { bestText, progressText } from './sweepModel';
import { controlSweep, resumeSweep, startSweep, type SweepCommand } from './sweepLaunch';

export const SWEEP_USAGE = `usage:
  pacs-lab sweep CONFIG [--runs-dir DIR] [--python PY] [--git snapshot|warn|block|ignore] [--detach]
  pacs-lab sweep pause|resume|stop SWEEP_DIR [--python PY]
  pacs-lab sweep status [RUNS_DIR] [--json]

CONFIG is a *.pacs.yaml with a \`sweep:\` section or a *.sweep.yaml (docs/sweeps.md). The sweep
runs in a detached controller (its folder: .pacs/sweeps/<id>/ beside the runs folder); without
--detach this command follows it, one line per change, until it ends (Ctrl-C leaves it running).
\`resume\` continues a paused sweep, or starts the controller of one whose controller is gone.`;

const TERMINAL = new Set(['finished', 'stopped', 'failed', 'crashed']);

interface Args {
  positional: string[];
  flags: Map<string, string>;
  bools: Set<string>;
}

function parse(argv: string[]): Args {
  const out: Args = { positional: [], flags: new Map(), bools: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) out.positional.push(a);
    else if (a === '--json' || a === '--detach') out.bools.add(a.slice(2));
    else if (['--runs-dir', '--python', '--git'].includes(a) && argv[i + 1] !== undefined) out.flags.set(a.slice(2), argv[++i]);
    else throw new SweepUsageError(`unknown option ${a}`);
  }
  return out;
}

export class SweepUsageError extends Error {}

/** Runs `pacs-lab sweep ...`; returns the exit code (0 ok or finished, 1 failed, 2 usage). */
export async function runSweepCli(argv: string[], out = (s: string) => console.log(s)): Promise<number> {
  const a = parse(argv);
  const python = a.flags.get('python') ?? process.env.PACS_PYTHON ?? 'python3';
  const runsRoot = resolve(a.flags.get('runs-dir') ?? join('.pacs', 'runs'));
  const [first, second] = a.positional;
  if (first === undefined) throw new SweepUsageError('sweep needs a CONFIG');
  if (first === 'status') {
    const sweeps = await readSweeps(sweepsRootOf(second ? resolve(second) : runsRoot));
    if (a.bools.has('json')) out(JSON.stringify(sweeps, null, 2));
    else if (sweeps.length === 0) out('no sweeps');
    else for (const s of sweeps) out(`${s.id}  ${s.status}  ${progressText(s)}  ${bestText(s)}`);
    return 0;
  }
  if (first === 'pause' || first === 'resume' || first === 'stop') {
    if (!second) throw new SweepUsageError(`sweep ${first} needs a SWEEP_DIR`);
    const sweep = await readSweep(resolve(second));
    if (!sweep) throw new SweepUsageError(`${second} is not a sweep folder (no sweep.json)`);
    out(first === 'resume' && sweep.status === 'crashed' ? await resumeSweep(python, sweep.dir) : await controlSweep(python, sweep.dir, first as SweepCommand));
    return 0;
  }
  const gitMode = (a.flags.get('git') ?? 'snapshot') as GitMode;
  if (!GIT_MODES.includes(gitMode)) throw new SweepUsageError(`--git must be one of ${GIT_MODES.join(', ')}`);
  const started = await startSweep({ configPath: first, runsRoot, python, gitMode });
  if (started.gitWarning) out(started.gitWarning);
  out(started.output.trim());
  if (a.bools.has('detach')) return 0;
  return follow(started.sweepDir, out);
}

async function follow(dir: string, out: (s: string) => void): Promise<number> {
  let last = '';
  for (;;) {
    const s = await readSweep(dir);
    if (s) {
      const line = `${s.status}  ${progressText(s)}  ${bestText(s)}`.trim();
      if (line !== last) out(line);
      last = line;
      if (TERMINAL.has(s.status)) return s.status === 'finished' || s.status === 'stopped' ? 0 : 1;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
