// Importing runs written by other trainers (TensorBoard logs, TRL output, verl rollout dumps):
// the trainer's `python -m pacslab import` does the reading; this runs it for the CLI and the editor.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { absoluteCommand, pythonEnv, withNeutralCwd } from '../../python/model/python';

export class ImportRunsError extends Error {
  override name = 'ImportRunsError';
}

export interface ImportRunsOptions {
  /** The folder to import: a TensorBoard log directory, a TRL output_dir or a verl rollout_data_dir. */
  source: string;
  runsRoot: string;
  python: string;
  /** The name part of the new run id (default: the source folder's name). */
  name?: string;
  timeoutMs?: number;
}

/** Imports `source` into new run directories under `runsRoot`; resolves their paths. */
export function importRuns(options: ImportRunsOptions): Promise<string[]> {
  const args = ['-m', 'pacslab', 'import', resolve(options.source), '--runs-root', resolve(options.runsRoot), '--json'];
  if (options.name) args.push('--name', options.name);
  // started in an empty folder: the source folder is untrusted and must not be on sys.path
  return withNeutralCwd((cwd) => new Promise<string[]>((resolvePromise, reject) => {
    execFile(absoluteCommand(options.python), args, { cwd, env: pythonEnv(), timeout: options.timeoutMs ?? 600000, maxBuffer: 16 << 20, windowsHide: true }, (err, stdout, stderr) => {
      if (err) {
        const why = stderr.trim().split('\n').filter(Boolean).pop()?.replace(/^error: /, '') ?? err.message;
        reject(new ImportRunsError(`import of ${options.source} failed: ${why}`));
        return;
      }
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        const dirs: unknown = JSON.parse(last);
        if (Array.isArray(dirs) && dirs.every((d) => typeof d === 'string')) {
          resolvePromise(dirs);
          return;
        }
      } catch {
        // reported below
      }
      reject(new ImportRunsError(`import of ${options.source}: unexpected output from ${options.python}: ${last.slice(0, 200)}`));
    });
  }));
}
