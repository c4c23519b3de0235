// Where runs live: `pacs.runsDir` resolved against each workspace folder.
import { isAbsolute, join, resolve } from 'node:path';
import * as vscode from 'vscode';
import type { RunState } from '../core/runStore';
import { Disposer } from '../vscode/disposer';

const DEFAULT_RUNS_DIR = '.pacs/runs';

export class RunRoots extends Disposer {
  private readonly changed = this.track(new vscode.EventEmitter<void>());
  /** Fires when workspace folders or pacs.runsDir change. */
  readonly onDidChange = this.changed.event;

  constructor() {
    super();
    this.track(vscode.workspace.onDidChangeWorkspaceFolders(() => this.changed.fire()));
    this.track(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('pacs.runsDir')) this.changed.fire();
      }),
    );
  }

  /** Every workspace folder's runs root, without duplicates. */
  roots(): string[] {
    return [...new Set((vscode.workspace.workspaceFolders ?? []).map((folder) => this.rootOf(folder)))];
  }

  /** The runs root for a new run of `configUri`: its workspace folder's (else the first folder's, else beside the config). */
  rootFor(configUri: vscode.Uri): string {
    const folder = this.folderOf(configUri);
    return folder ? this.rootOf(folder) : resolve(configUri.fsPath, '..', DEFAULT_RUNS_DIR);
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

  /** The workspace folder whose runs root is `root`. */
  workspaceFolderOfRoot(root: string): vscode.WorkspaceFolder | undefined {
    return (vscode.workspace.workspaceFolders ?? []).find((folder) => this.rootOf(folder) === root);
  }

  private rootOf(folder: vscode.WorkspaceFolder): string {
    const setting = vscode.workspace.getConfiguration('pacs', folder).get<string>('runsDir')?.trim() || DEFAULT_RUNS_DIR;
    return isAbsolute(setting) ? resolve(setting) : join(folder.uri.fsPath, setting);
  }
}
