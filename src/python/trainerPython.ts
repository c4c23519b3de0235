// Which Python runs the trainer: pacs.pythonPath, else the Python extension's active
// interpreter (when ms-python.python is installed), else the managed environment that
// "PACS: Set Up Trainer Environment" makes in global storage. src/python/model/python.ts does the probing.
import { join } from 'node:path';
import { PythonExtension } from '@vscode/python-extension';
import * as vscode from 'vscode';
import { resolvePython } from './model/python';
import type { PythonFound, PythonMissing } from './model/python';
import { Disposer } from '../vscode/disposer';

const PYTHON_EXTENSION_ID = 'ms-python.python';
const SET_UP = 'Set Up Trainer Environment';
const OPEN_SETTINGS = 'Open Settings';

export class TrainerPython extends Disposer {
  private resolved: { key: string; result: Promise<PythonFound | PythonMissing> } | undefined;
  private pythonExtensionWatched = false;
  /** Set once the Runs view's welcome content needs pacs.trainerMissing; until then nothing is probed. */
  private contextWanted = false;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.track(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('pacs.pythonPath')) this.invalidate();
      }),
    );
    this.track(vscode.extensions.onDidChange(() => this.invalidate()));
    this.track(vscode.workspace.onDidGrantWorkspaceTrust(() => this.contextWanted && void this.refreshContext()));
  }

  get managedEnvDir(): string {
    return join(this.context.globalStorageUri.fsPath, 'trainer-env');
  }

  invalidate(): void {
    this.resolved = undefined;
    if (this.contextWanted) void this.refreshContext();
  }

  /**
   * Probes in the background so the Runs view's welcome can offer setup before anything is
   * launched. Called when that welcome shows, not at activation: a probe imports torch.
   */
  async refreshContext(): Promise<void> {
    this.contextWanted = true;
    if (!vscode.workspace.isTrusted) return;
    const result = await this.resolve();
    await vscode.commands.executeCommand('setContext', 'pacs.trainerMissing', 'error' in result);
  }

  /** The interpreter for runs of `resource` (a config), probed once per distinct candidate set. */
  async resolve(resource?: vscode.Uri): Promise<PythonFound | PythonMissing> {
    const configured = vscode.workspace.getConfiguration('pacs', resource).get<string>('pythonPath')?.trim() || undefined;
    const fromPythonExtension = await this.pythonExtensionInterpreter(resource);
    const key = JSON.stringify([configured, fromPythonExtension]);
    if (this.resolved?.key !== key) {
      const result = resolvePython({ configured, fromPythonExtension, managedEnvDir: this.managedEnvDir }).then((found) => {
        if ('error' in found) this.log.warn(found.error);
        else this.log.info(`Trainer Python: ${found.python} (${found.source}; pacslab ${found.versions.pacslab}, torch ${found.versions.torch})`);
        return found;
      });
      this.resolved = { key, result };
    }
    return this.resolved.result;
  }

  /**
   * The interpreter path, or undefined after telling the user why none works, with a button for
   * the fix.
   */
  async require(resource?: vscode.Uri): Promise<string | undefined> {
    const found = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'PACS Lab: finding the trainer Python' },
      () => this.resolve(resource),
    );
    if (!('error' in found)) return found.python;
    this.invalidate();
    const choice = await vscode.window.showErrorMessage(`PACS Lab: ${found.error}\n${found.fix}`, SET_UP, OPEN_SETTINGS);
    if (choice === SET_UP) await vscode.commands.executeCommand('pacs.setupTrainer');
    if (choice === OPEN_SETTINGS) await vscode.commands.executeCommand('workbench.action.openSettings', 'pacs.pythonPath');
    return undefined;
  }

  private async pythonExtensionInterpreter(resource?: vscode.Uri): Promise<string | undefined> {
    if (!vscode.extensions.getExtension(PYTHON_EXTENSION_ID)) return undefined;
    try {
      const api = await PythonExtension.api();
      if (!this.pythonExtensionWatched) {
        this.pythonExtensionWatched = true;
        this.track(api.environments.onDidChangeActiveEnvironmentPath(() => this.invalidate()));
      }
      const active = api.environments.getActiveEnvironmentPath(resource);
      const environment = await api.environments.resolveEnvironment(active);
      return environment?.executable.uri?.fsPath ?? active.path;
    } catch (err) {
      this.log.warn(`The Python extension did not give an interpreter: ${(err as Error).message}`);
      return undefined;
    }
  }
}
