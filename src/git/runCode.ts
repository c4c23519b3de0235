// A run's code: check it out in a new window (a git worktree) or diff it with the working tree,
// file by file, through a read-only `pacs-run:` document provider.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { createRunWorktree, listChangedFiles, repoRootOf, showFileAtRun } from './model/git';
import type { ChangedFile } from './model/git';
import type { RunState, RunStore } from '../runs/model/runStore';
import { pickRun } from '../runs/pickRun';
import type { RunRoots } from '../runs/runRoots';
import { commitLabel } from '../run/model/runModel';
import { requireTrust } from '../trust/trust';
import { Disposer } from '../vscode/disposer';
import type { RunWorktrees } from './model/runWorktrees';

export const RUN_CODE_SCHEME = 'pacs-run';

interface RunFileQuery {
  runId: string;
  repoRoot: string;
  /** An empty stand-in for the working-tree side of a file the working tree no longer has. */
  empty?: boolean;
}

/** `pacs-run:/<repo-relative path>?{"runId","repoRoot"}`: the file as the run's code had it ('' when absent). */
export function runFileUri(path: string, query: RunFileQuery): vscode.Uri {
  return vscode.Uri.from({ scheme: RUN_CODE_SCHEME, path: `/${path}`, query: JSON.stringify(query) });
}

export class RunCodeFeature extends Disposer implements vscode.TextDocumentContentProvider {
  constructor(
    private readonly store: RunStore,
    private readonly roots: RunRoots,
    private readonly worktrees: RunWorktrees,
  ) {
    super();
    this.track(vscode.workspace.registerTextDocumentContentProvider(RUN_CODE_SCHEME, this));
    this.track(vscode.commands.registerCommand('pacs.checkoutRunCode', (arg?: unknown) => this.checkout(arg)));
    this.track(vscode.commands.registerCommand('pacs.diffRunCode', (arg?: unknown) => this.diff(arg)));
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const { runId, repoRoot, empty } = JSON.parse(uri.query) as RunFileQuery;
    if (empty) return '';
    // The query names the repository git runs in; a link can carry any query, so only with trust.
    if (!vscode.workspace.isTrusted) throw new Error("PACS Lab does not read a run's code in Restricted Mode: trust the workspace to see this file.");
    const run = this.store.get(runId);
    if (!run) throw new Error(`Run ${runId} is no longer in the runs folders.`);
    return (await showFileAtRun(repoRoot, run.info, uri.path.slice(1))) ?? '';
  }

  private async checkout(arg: unknown): Promise<void> {
    // git worktree add runs the repository's hooks: workspace code.
    const found = await this.pickRunWithCode(arg, "check out a run's code", 'Select the run whose code to open');
    if (!found) return;
    const { run, repoRoot } = found;
    const target = this.worktrees.checkoutDir(run.id);
    try {
      if (!existsSync(target)) {
        await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `PACS Lab: checking out the code of ${run.id}…` },
          () => createRunWorktree(repoRoot, run.info, target),
        );
      }
    } catch (err) {
      void vscode.window.showErrorMessage(`PACS Lab: ${(err as Error).message}`);
      return;
    }
    await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(target), { forceNewWindow: true });
  }

  private async diff(arg: unknown): Promise<void> {
    // Writing a tree of the working copy runs git's clean filters: workspace configuration.
    const found = await this.pickRunWithCode(arg, "diff a run's code", 'Select the run whose code to compare with the working tree');
    if (!found) return;
    const { run, repoRoot } = found;
    let changed: ChangedFile[];
    try {
      changed = await listChangedFiles(repoRoot, run.info);
    } catch (err) {
      void vscode.window.showErrorMessage(`PACS Lab: ${(err as Error).message}`);
      return;
    }
    const label = `run ${run.id} (${commitLabel(run.info.git) ?? ''})`;
    if (changed.length === 0) {
      void vscode.window.showInformationMessage(`PACS Lab: the working tree holds the same code as ${label}.`);
      return;
    }
    const all = { label: `$(diff) All ${changed.length} changed files`, file: undefined };
    const items = [all, ...changed.map((file) => ({ label: file.path, description: file.kind, file }))];
    const picked = await vscode.window.showQuickPick(items, { placeHolder: `Files that differ between ${label} and the working tree` });
    if (!picked) return;
    const files = picked.file ? [picked.file] : changed;
    const pairs = files.map((file) => this.diffPair(run, repoRoot, file));
    if (pairs.length === 1) {
      const [left, right] = pairs[0];
      await vscode.commands.executeCommand('vscode.diff', left, right, `${files[0].path} (${label} ↔ working tree)`, { preview: true });
      return;
    }
    await vscode.commands.executeCommand(
      'vscode.changes',
      `${label} ↔ working tree`,
      pairs.map(([left, right]) => [right, left, right]),
    );
  }

  /** [the run's version, the working tree's]; a side without the file is an empty run document. */
  private diffPair(run: RunState, repoRoot: string, file: ChangedFile): [vscode.Uri, vscode.Uri] {
    const atRun = runFileUri(file.path, { runId: run.id, repoRoot });
    const working = file.kind === 'deleted' ? runFileUri(file.path, { runId: run.id, repoRoot, empty: true }) : vscode.Uri.file(join(repoRoot, file.path));
    return [atRun, working];
  }

  /** With trust for `action`: the run (one that recorded its code) and the repository it came from. */
  private async pickRunWithCode(arg: unknown, action: string, placeHolder: string): Promise<{ run: RunState; repoRoot: string } | undefined> {
    if (!(await requireTrust(action))) return undefined;
    const run = await pickRun(this.store, arg, { placeHolder });
    if (!run) return undefined;
    if (!run.info.git) {
      void vscode.window.showWarningMessage(`PACS Lab: run ${run.id} was launched outside a git repository: its code was not recorded.`);
      return undefined;
    }
    const repoRoot = await this.repoRootOf(run);
    return repoRoot ? { run, repoRoot } : undefined;
  }

  private async repoRootOf(run: RunState): Promise<string | undefined> {
    const configPath = this.roots.configPathOf(run);
    const folder = this.roots.workspaceFolderOfRoot(run.root);
    const repoRoot = (configPath && (await repoRootOf(dirname(configPath)))) || (folder && (await repoRootOf(folder.uri.fsPath)));
    if (!repoRoot) {
      void vscode.window.showErrorMessage(`PACS Lab: cannot find the git repository run ${run.id} came from; open its workspace folder.`);
      return undefined;
    }
    return repoRoot;
  }
}
