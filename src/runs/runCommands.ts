// Pause, resume, suspend, stop and checkpoint through control.jsonl (src/runs/model/control.ts); delete a
// run; open its log; refresh the view.
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { ControlError, sendControl } from './model/control';
import { deleteRunRef, repoRootOf, runRef } from '../git/model/git';
import { readLauncherInfo } from '../run/model/runDir';
import { LIVE_STATUSES, RESUMABLE_STATUSES, RUN_FILES } from '../run/model/runFormat';
import type { ControlCommandName, RunStatus } from '../run/model/runFormat';
import type { RunState, RunStore } from './model/runStore';
import type { RunWorktrees } from '../git/model/runWorktrees';
import { Disposer } from '../vscode/disposer';
import type { RunLauncher } from './launch';
import { pickRun } from './pickRun';
import type { RunRoots } from './runRoots';
import { inertLinks } from './model/runText';

const ACK_TIMEOUT_MS = 15000;
const DELETABLE: readonly RunStatus[] = ['finished', 'stopped', 'suspended', 'failed', 'crashed'];

interface ControlSpec {
  command: ControlCommandName;
  statuses: readonly RunStatus[];
  /** "Pausing" … */
  progress: string;
  /** … "paused" */
  done: string;
}

const CONTROLS: Record<string, ControlSpec> = {
  'pacs.pauseRun': { command: 'pause', statuses: ['running', 'starting'], progress: 'Pausing', done: 'paused' },
  'pacs.suspendRun': { command: 'suspend', statuses: ['running', 'paused', 'starting'], progress: 'Suspending', done: 'suspended (checkpoint saved, process exited)' },
  'pacs.stopRun': { command: 'stop', statuses: ['running', 'paused', 'starting', 'queued'], progress: 'Stopping', done: 'stopped (checkpoint saved)' },
  'pacs.checkpointRun': { command: 'checkpoint', statuses: ['running', 'paused'], progress: 'Saving a checkpoint of', done: 'checkpointed' },
};
const RESUME: ControlSpec = { command: 'resume', statuses: ['paused'], progress: 'Resuming', done: 'resumed' };

export class RunCommands extends Disposer {
  constructor(
    private readonly store: RunStore,
    private readonly roots: RunRoots,
    private readonly launcher: RunLauncher,
    private readonly worktrees: RunWorktrees,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    for (const [id, spec] of Object.entries(CONTROLS)) {
      this.track(vscode.commands.registerCommand(id, (arg?: unknown) => this.control(spec, arg)));
    }
    this.track(vscode.commands.registerCommand('pacs.resumeRun', (arg?: unknown) => this.resume(arg)));
    this.track(vscode.commands.registerCommand('pacs.deleteRun', (arg?: unknown) => this.delete(arg)));
    this.track(vscode.commands.registerCommand('pacs.showLog', (arg?: unknown) => this.showLog(arg)));
    this.track(
      vscode.commands.registerCommand('pacs.refreshRuns', async () => {
        await this.store.setRoots(this.roots.roots());
      }),
    );
  }

  private async control(spec: ControlSpec, arg: unknown): Promise<void> {
    const run = await pickRun(this.store, arg, { statuses: spec.statuses, placeHolder: `Select the run to ${spec.command}` });
    if (run) await this.send(run, spec);
  }

  /** A paused trainer continues in place; a suspended, stopped, crashed or failed run is relaunched from its checkpoint. */
  private async resume(arg: unknown): Promise<void> {
    const run = await pickRun(this.store, arg, { statuses: ['paused', ...RESUMABLE_STATUSES], placeHolder: 'Select the run to resume' });
    if (!run) return;
    if (run.status === 'paused') await this.send(run, RESUME);
    else await this.launcher.relaunch(run);
  }

  private async send(run: RunState, spec: ControlSpec): Promise<void> {
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `PACS Lab: ${spec.progress} ${run.id}…`, cancellable: true },
        (_progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return sendControl(run.dir, spec.command, { timeoutMs: ACK_TIMEOUT_MS, signal: abort.signal });
        },
      );
      await this.store.refresh();
      if (!result.acked) {
        this.log.warn(`${spec.command} (seq ${result.seq}) to ${run.id}: no acknowledgement within ${ACK_TIMEOUT_MS / 1000} s.`);
        void vscode.window.showWarningMessage(
          `PACS Lab: no acknowledgement from the trainer within ${ACK_TIMEOUT_MS / 1000} s for "${spec.command}" (run ${run.id}). ` +
            'The command stays queued in control.jsonl and applies when the trainer finishes its current step; if the trainer is stuck, see its log.',
          'Show Log',
        ).then((choice) => choice && this.showLog(run.id));
        return;
      }
      this.log.info(`${spec.command} (seq ${result.seq}) to ${run.id}: ${result.result ?? 'acknowledged'}.`);
      if (result.result && result.result !== 'ok') {
        void vscode.window.showWarningMessage(`PACS Lab: the trainer of ${run.id} did not apply "${spec.command}": ${inertLinks(result.result)}.`);
        return;
      }
      vscode.window.setStatusBarMessage(`$(check) PACS Lab: run ${run.id} ${spec.done}`, 5000);
    } catch (err) {
      const message = err instanceof ControlError ? err.message : `Could not send "${spec.command}" to ${run.id}: ${(err as Error).message}`;
      this.log.error(message);
      void vscode.window.showErrorMessage(`PACS Lab: ${message}`);
      await this.store.refresh();
    }
  }

  private async delete(arg: unknown): Promise<void> {
    const run = await pickRun(this.store, arg, { statuses: DELETABLE, placeHolder: 'Select the run to delete' });
    if (!run) return;
    if (LIVE_STATUSES.includes(run.status)) {
      void vscode.window.showErrorMessage(`PACS Lab: run ${run.id} is ${run.status}; stop it before deleting it.`);
      return;
    }
    const deleteRun = 'Delete Run';
    const deleteAll = 'Delete Run and Its Code Snapshot';
    const ref = run.info.git?.ref ?? null;
    // run.json is untrusted: only the ref PACS Lab made for this run is ever offered for deletion.
    const foreignRef = ref !== null && ref !== runRef(run.id);
    // git update-ref runs the repository's reference-transaction hook: workspace code.
    const canDeleteRef = ref !== null && !foreignRef && vscode.workspace.isTrusted;
    const worktrees = await this.worktreesOf(run);
    const choice = await vscode.window.showWarningMessage(
      `Delete run ${run.id}?`,
      {
        modal: true,
        detail:
          `This deletes the folder ${run.dir} with its checkpoints, rollouts and logs. It goes to the trash (the recycle bin), where you can restore it.` +
          (worktrees.length ? `\n\nThe git worktree of its code is removed too: ${worktrees.join(', ')}.` : '') +
          (foreignRef
            ? `\n\nIts run.json names the git ref ${JSON.stringify(ref).slice(0, 80)}, which is not this run's own (${runRef(run.id)}): no ref is deleted.`
            : ref
              ? `\n\nThe run's code stays in git under ${ref}${canDeleteRef ? ' unless you also delete that ref' : ' (deleting that ref needs a trusted workspace)'}.`
              : ''),
      },
      ...(canDeleteRef ? [deleteRun, deleteAll] : [deleteRun]),
    );
    if (!choice) return;
    if (!(await this.trash(run.dir))) return;
    this.log.info(`Moved run ${run.id} to the trash (${run.dir}).`);
    await this.removeWorktrees(run, worktrees);
    if (choice === deleteAll && ref) await this.deleteRef(run, ref);
    await this.store.refresh();
  }

  /**
   * Moves a run folder to the trash. Where there is none (a remote file system, a headless
   * machine) it asks before deleting permanently. False when nothing was deleted.
   */
  private async trash(dir: string): Promise<boolean> {
    const uri = vscode.Uri.file(dir);
    try {
      await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: true });
      return true;
    } catch (err) {
      const permanently = 'Delete Permanently';
      const choice = await vscode.window.showWarningMessage(
        `PACS Lab: ${dir} could not be moved to the trash (${(err as Error).message}). Delete it permanently?`,
        { modal: true },
        permanently,
      );
      if (choice !== permanently) return false;
      await rm(dir, { recursive: true, force: true });
      return true;
    }
  }

  /**
   * The worktrees made for this run under global storage (Check Out Run's Code, or the
   * reproduction it was launched from) that no other run uses. None in Restricted Mode, where
   * PACS Lab runs no git in the workspace's repository.
   */
  private async worktreesOf(run: RunState): Promise<string[]> {
    if (!vscode.workspace.isTrusted) return [];
    const configPath = (await readLauncherInfo(run.dir))?.config_abs_path ?? this.roots.configPathOf(run);
    const inUse = this.store
      .runs()
      .filter((other) => other.id !== run.id)
      .flatMap((other) => [other.dir, this.roots.configPathOf(other) ?? other.dir]);
    return this.worktrees.ownedBy(run.id, configPath, inUse);
  }

  private async removeWorktrees(run: RunState, dirs: readonly string[]): Promise<void> {
    for (const dir of dirs) {
      try {
        await this.worktrees.remove(dir);
        this.log.info(`Removed the worktree ${dir} of run ${run.id}.`);
      } catch (err) {
        const message = `the run was deleted, but not its worktree ${dir}: ${(err as Error).message.trim()}. Remove it with: git worktree remove --force "${dir}"`;
        this.log.warn(message);
        void vscode.window.showWarningMessage(`PACS Lab: ${message}`);
      }
    }
  }

  private async deleteRef(run: RunState, ref: string): Promise<void> {
    const configPath = this.roots.configPathOf(run);
    const repoRoot = await repoRootOf(configPath ? dirname(configPath) : run.root);
    if (!repoRoot) {
      void vscode.window.showWarningMessage(`PACS Lab: could not find the git repository holding ${ref}; the ref is kept.`);
      return;
    }
    try {
      await deleteRunRef(repoRoot, run.id, ref);
      this.log.info(`Deleted ${ref} in ${repoRoot}.`);
    } catch (err) {
      void vscode.window.showWarningMessage(`PACS Lab: the run was deleted, but not ${ref}: ${(err as Error).message}`);
    }
  }

  private async showLog(arg: unknown): Promise<void> {
    const run = await pickRun(this.store, arg, { placeHolder: 'Select the run whose trainer log to show' });
    if (!run) return;
    const uri = vscode.Uri.file(join(run.dir, RUN_FILES.log));
    try {
      await vscode.window.showTextDocument(uri, { preview: false });
    } catch {
      void vscode.window.showErrorMessage(`PACS Lab: run ${run.id} has no trainer log yet (${uri.fsPath}).`);
    }
  }
}
