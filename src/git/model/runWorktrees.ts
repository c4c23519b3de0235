// The git worktrees PACS Lab makes under the extension's global storage: `worktrees/<run id>` for
// Check Out Run's Code, and `worktrees/<run id>-repro-<hex>` for Reproduce Run, where the new
// run's config lives. Deleting a run removes the worktrees it owns. No vscode here.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';

export class RunWorktrees {
  readonly root: string;

  constructor(globalStorageDir: string) {
    this.root = join(globalStorageDir, 'worktrees');
  }

  /** Where Check Out Run's Code puts a run's code (and finds it again). */
  checkoutDir(runId: string): string {
    return join(this.root, runId);
  }

  /** A fresh folder for reproducing a run. */
  reproduceDir(runId: string): string {
    return join(this.root, `${runId}-repro-${randomBytes(2).toString('hex')}`);
  }

  /**
   * The existing worktrees a run owns: its checkout, and the worktree its config lies in (a
   * reproduction). `inUse` paths (other runs' folders and configs) keep a worktree that holds them.
   */
  ownedBy(runId: string, configPath: string | null, inUse: readonly string[] = []): string[] {
    const dirs = new Set([this.checkoutDir(runId)]);
    const fromConfig = configPath ? this.worktreeOf(configPath) : undefined;
    if (fromConfig) dirs.add(fromConfig);
    return [...dirs].filter((dir) => existsSync(dir) && !inUse.some((path) => this.worktreeOf(path) === dir));
  }

  /** `git worktree remove --force`, run from the worktree itself: its `.git` file names the repository. */
  async remove(dir: string): Promise<void> {
    await promisify(execFile)('git', ['worktree', 'remove', '--force', dir], { cwd: dir });
  }

  /** The top folder under `root` that holds `path`, if any. */
  private worktreeOf(path: string): string | undefined {
    const rel = relative(this.root, path);
    if (!rel || rel.startsWith('..') || isAbsolute(rel)) return undefined;
    return join(this.root, rel.split(sep)[0]);
  }
}
