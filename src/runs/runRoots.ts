// Where runs live: each folder of `pacs.runsDirs` resolved against each workspace folder (the
// first one is where new runs go), e.g. `.pacs/runs` and a scratch file system the compute nodes
// of a cluster share.
import { isAbsolute, join, resolve } from 'node:path';
import * as vscode from 'vscode';
import type { RunState } from './model/runStore';
import { Disposer } from '../vscode/disposer';

const DEFAULT_RUNS_DIR = '.pacs/runs';

export class RunRoots extends Disposer {
  private readonly changed = this.track(new vscode.EventEmitter<void>());
  /** Fires when workspace folders or pacs.runsDirs change. */
  readonly onDidChange = this.changed.event;

  constructor() {
    super();
    this.track(vscode.workspace.onDidChangeWorkspaceFolders(() => this.changed.fire()));
    this.track(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('pacs.runsDirs')) this.changed.fire();
      }),
    );
  }

  /** Every runs root of every workspace folder, without duplicates. */
  roots(): string[] {
    return [...new Set((vscode.workspace.workspaceFolders ?? []).flatMap((folder) => this.rootsOf(folder)))];
  }

  /** The runs root for a new run of `configUri`: its workspace folder's (else the first folder's, else beside the config). */
  rootFor(configUri: vscode.Uri): string {
    const folder = this.folderOf(configUri);
    return folder ? this.rootsOf(folder)[0] : resolve(configUri.fsPath, '..', DEFAULT_RUNS_DIR);
  }

  /** The folder run.json's relative `config_path` is written against. */
  folderOf(uri: vscode.Uri): vscode.WorkspaceFolder | undefined {
    return vscode.workspace.getWorkspaceFolder(uri) ?? vscode.workspace.workspaceFolders?.[0];
  }

  /** The absolute path of the config a run was launched from, or null when unknown. */
  configPathOf(run: RunState): string | null {
    const configPath = run.info.config_path;
    if (!configPath) return null;
    if (isAbsolute(configPath)) return configPath;
    const folder = this.workspaceFolderOfRoot(run.root);
    return folder ? resolve(folder.uri.fsPath, configPath) : null;
  }

  /** The workspace folder one of whose runs roots is `root`. */
  workspaceFolderOfRoot(root: string): vscode.WorkspaceFolder | undefined {
    return (vscode.workspace.workspaceFolders ?? []).find((folder) => this.rootsOf(folder).includes(root));
  }

  /** The folder's runs roots, in the setting's order (never empty). */
  private rootsOf(folder: vscode.WorkspaceFolder): string[] {
    const setting = vscode.workspace.getConfiguration('pacs', folder).get<unknown>('runsDirs');
    const dirs = (Array.isArray(setting) ? setting : []).filter((d): d is string => typeof d === 'string' && d.trim() !== '').map((d) => d.trim());
    return (dirs.length ? dirs : [DEFAULT_RUNS_DIR]).map((dir) => (isAbsolute(dir) ? resolve(dir) : join(folder.uri.fsPath, dir)));
  }
}
