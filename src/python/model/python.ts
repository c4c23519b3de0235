// Finding a Python interpreter that can run the trainer, and creating a managed one.
import { execFile, spawn } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export type PythonSource = 'setting' | 'python-extension' | 'managed' | 'PACS_PYTHON' | 'PATH';

export interface PythonFound {
  python: string;
  source: PythonSource;
  versions: { python: string; pacslab: string; torch: string; transformers: string };
}

export interface PythonMissing {
  /** Why no candidate works, one line per candidate tried. */
  error: string;
  /** What the user can do. */
  fix: string;
}

export interface ResolvePythonOptions {
  /** `pacs.pythonPath` (or the CLI's --python). */
  configured?: string;
  /** The interpreter selected in the Python extension. */
  fromPythonExtension?: string;
  /** The managed environment's folder (made by setupManagedEnv). */
  managedEnvDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Per candidate (default 60 s: importing torch is slow on a cold disk). */
  timeoutMs?: number;
}

const PROBE = [
  'import json, platform',
  'import pacslab, torch, transformers',
  "print(json.dumps({'python': platform.python_version(), 'pacslab': getattr(pacslab, '__version__', '?'),",
  "  'torch': torch.__version__, 'transformers': transformers.__version__}))",
].join('\n');

/**
 * The environment of every Python child. `python -m` and `python -c` put the current folder first
 * on sys.path, so a `pacslab/` package in a data folder (a crafted run folder) would be imported in
 * place of the trainer; PYTHONSAFEPATH (Python 3.11+, the `-P` flag) leaves it off. Unlike `-I`, it
 * keeps PYTHONPATH and the user site, which an editable or user install of the trainer may need.
 */
export function pythonEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PYTHONSAFEPATH: '1', PYTHONUNBUFFERED: '1' };
}

/**
 * Runs `use` with a new, empty, private folder to start a Python child in, removed afterwards:
 * Python 3.10 ignores PYTHONSAFEPATH, so the folder on sys.path must hold nothing importable.
 */
export async function withNeutralCwd<T>(use: (cwd: string) => Promise<T>): Promise<T> {
  const dir = await neutralDir();
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A new empty folder only this user can write (mode 0700). */
export function neutralDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pacs-python-'));
}

/** A command with a folder part made absolute against the current directory; bare names stay for the PATH. */
export function absoluteCommand(command: string): string {
  return /[\\/]/.test(command) ? resolve(command) : command;
}

/** The interpreter inside a virtual environment folder. */
export function venvPython(envDir: string): string {
  return process.platform === 'win32' ? join(envDir, 'Scripts', 'python.exe') : join(envDir, 'bin', 'python');
}

/**
 * Checks a Python: runs it (no shell) importing pacslab, torch and transformers. Resolves the
 * versions, or an error message naming what is missing.
 */
export function probePython(python: string, timeoutMs = 60000, env: NodeJS.ProcessEnv = process.env): Promise<PythonFound['versions'] | { error: string }> {
  return withNeutralCwd((cwd) => new Promise((resolvePromise) => {
    execFile(absoluteCommand(python), ['-c', PROBE], { cwd, timeout: timeoutMs, env: pythonEnv(env), windowsHide: true }, (err, stdout, stderr) => {
      if (err) {
        const nf = (err as NodeJS.ErrnoException).code === 'ENOENT';
        const lastLine = stderr.trim().split('\n').pop() ?? '';
        const why = nf ? 'not found' : err.killed ? `did not answer within ${timeoutMs / 1000} s` : lastLine || err.message;
        resolvePromise({ error: why });
        return;
      }
      try {
        resolvePromise(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
      } catch {
        resolvePromise({ error: `unexpected output: ${stdout.slice(0, 200)}` });
      }
    });
  }));
}

/**
 * The first working interpreter among, in order: the configured one, the Python extension's,
 * the managed environment's, $PACS_PYTHON, then python3 on the PATH. When the configured one is
 * set but broken, it is reported and the others are still tried.
 */
export async function resolvePython(options: ResolvePythonOptions): Promise<PythonFound | PythonMissing> {
  const env = options.env ?? process.env;
  const candidates: Array<{ python: string; source: PythonSource }> = [];
  if (options.configured) candidates.push({ python: options.configured, source: 'setting' });
  if (options.fromPythonExtension) candidates.push({ python: options.fromPythonExtension, source: 'python-extension' });
  if (options.managedEnvDir) {
    const managed = venvPython(options.managedEnvDir);
    if (await exists(managed)) candidates.push({ python: managed, source: 'managed' });
  }
  if (env.PACS_PYTHON) candidates.push({ python: env.PACS_PYTHON, source: 'PACS_PYTHON' });
  candidates.push({ python: process.platform === 'win32' ? 'python' : 'python3', source: 'PATH' });

  const failures: string[] = [];
  const tried = new Set<string>();
  for (const c of candidates) {
    if (tried.has(c.python)) continue;
    tried.add(c.python);
    const probe = await probePython(c.python, options.timeoutMs, env);
    if (!('error' in probe)) return { ...c, versions: probe };
    failures.push(`${c.python} (${c.source}): ${probe.error}`);
  }
  return {
    error: `No Python with the trainer (pacslab, torch, transformers) was found:\n${failures.join('\n')}`,
    fix: 'Run "PACS: Set Up Trainer Environment" to create one, or set pacs.pythonPath to a Python where `pip install <extension>/trainer` was done.',
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export interface SetupOptions {
  /** The managed environment's folder (created when missing, reused when present). */
  envDir: string;
  /** The bundled trainer folder (with pyproject.toml and requirements.txt). */
  trainerDir: string;
  /** Receives each output line of the commands run. */
  log: (line: string) => void;
  /** The Python that creates the venv (default python3). */
  basePython?: string;
  signal?: AbortSignal;
}

/**
 * Creates (or repairs) a virtual environment with the trainer and its requirements:
 * `python3 -m venv ENV`, then `pip install -r requirements.txt` and `pip install TRAINER_DIR`.
 * Resolves the environment's interpreter; rejects with the failing command and its last output.
 */
export async function setupManagedEnv(options: SetupOptions): Promise<string> {
  const { envDir, trainerDir, log, signal } = options;
  const base = options.basePython ?? (process.platform === 'win32' ? 'python' : 'python3');
  const python = venvPython(envDir);
  if (!(await exists(python))) await runLogged(base, ['-m', 'venv', envDir], log, signal);
  const pip = ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off'];
  const requirements = join(trainerDir, 'requirements.txt');
  if (await exists(requirements)) await runLogged(python, [...pip, '-r', requirements], log, signal);
  await runLogged(python, [...pip, trainerDir], log, signal);
  return python;
}

function runLogged(command: string, args: string[], log: (line: string) => void, signal?: AbortSignal): Promise<void> {
  log(`$ ${command} ${args.join(' ')}`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { shell: false, signal, windowsHide: true, env: pythonEnv() });
    const recent: string[] = [];
    const forward = (chunk: Buffer, buffer: { text: string }) => {
      buffer.text += chunk.toString('utf8');
      const lines = buffer.text.split(/\r?\n/);
      buffer.text = lines.pop() ?? '';
      for (const line of lines) {
        log(line);
        recent.push(line);
        if (recent.length > 20) recent.shift();
      }
    };
    const out = { text: '' };
    const err = { text: '' };
    child.stdout.on('data', (c: Buffer) => forward(c, out));
    child.stderr.on('data', (c: Buffer) => forward(c, err));
    child.on('error', (e) => reject(new Error(`${command} could not run: ${e.message}`)));
    child.on('close', (code) => {
      for (const rest of [out.text, err.text]) if (rest) log(rest);
      if (code === 0) resolvePromise();
      else reject(new Error(`\`${command} ${args.join(' ')}\` failed (exit code ${code}):\n${recent.slice(-10).join('\n')}`));
    });
  });
}
