// Runs `python -m pacslab export-onnx` for a run (the editor offers it when RUN_DIR/onnx is
// missing or stale), reporting its progress lines and keeping the tail of its output for errors.
import { spawn } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { absoluteCommand, pythonEnv, withNeutralCwd } from '../../python/model/python';
import { ScoreError } from './implicitReward';
import { exportOnnxArgs } from './manifest';

export interface ExportOnnxOptions {
  step?: number;
  reference?: string;
  signal?: AbortSignal;
  /** Each line the exporter writes on stderr (its progress). */
  onLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

const KEPT_LINES = 20;

/**
 * Never started in the run folder: it is untrusted data, and Python puts its current folder on
 * sys.path, where a planted `pacslab/` would shadow the trainer.
 */
export function runExportOnnx(python: string, runDir: string, options: ExportOnnxOptions = {}): Promise<void> {
  const args = exportOnnxArgs(resolvePath(runDir), options.step, options.reference);
  return withNeutralCwd((cwd) => new Promise((resolve, reject) => {
    const child = spawn(absoluteCommand(python), args, { cwd, env: pythonEnv(options.env), signal: options.signal, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const lines = (partial + chunk).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const line of lines.filter((l) => l.trim() !== '')) {
        tail.push(line);
        if (tail.length > KEPT_LINES) tail.shift();
        options.onLine?.(line);
      }
    });
    child.stdout.resume();
    child.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new ScoreError(`the trainer's Python (${python}) was not found; set pacs.pythonPath or run "PACS: Set Up Trainer Environment"`));
      } else reject(err);
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      if (partial.trim()) tail.push(partial);
      const why = signal ? `was stopped (${signal})` : `exited with code ${code}`;
      reject(new ScoreError(`\`${python} ${args.join(' ')}\` ${why}:\n${tail.join('\n')}`));
    });
  }));
}
