// PACS: Set Up Trainer Environment — a venv in global storage with the bundled trainer installed.
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { setupManagedEnv } from './model/python';
import { requireTrust } from '../trust/trust';
import { Disposer } from '../vscode/disposer';
import type { TrainerPython } from './trainerPython';

export class TrainerSetup extends Disposer {
  private running: AbortController | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly python: TrainerPython,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.track(vscode.commands.registerCommand('pacs.setupTrainer', () => this.setUp()));
    this.track({ dispose: () => this.running?.abort() });
  }

  private async setUp(): Promise<void> {
    if (!(await requireTrust('set up the trainer environment'))) return;
    if (this.running) {
      this.log.show(true);
      void vscode.window.showInformationMessage('PACS Lab: the trainer environment is already being set up; its progress is in the PACS Lab output.');
      return;
    }
    const trainerDir = this.context.asAbsolutePath('trainer');
    if (!existsSync(trainerDir)) {
      void vscode.window.showErrorMessage(
        `PACS Lab: this installation has no bundled trainer (${trainerDir}). Set pacs.pythonPath to a Python where pacslab is installed (pip install <repo>/trainer).`,
      );
      return;
    }
    const abort = new AbortController();
    this.running = abort;
    this.log.show(true);
    this.log.info(`Setting up the trainer environment in ${this.python.managedEnvDir}`);
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'PACS Lab: setting up the trainer environment', cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => abort.abort());
          await setupManagedEnv({
            envDir: this.python.managedEnvDir,
            trainerDir,
            signal: abort.signal,
            log: (line) => {
              this.log.info(line);
              if (line.trim()) progress.report({ message: line.slice(0, 100) });
            },
          });
        },
      );
      this.python.invalidate();
      const found = await this.python.resolve();
      if ('error' in found) {
        void vscode.window.showErrorMessage(`PACS Lab: the environment was made, but ${found.error}`);
      } else {
        void vscode.window.showInformationMessage(`PACS Lab: the trainer environment is ready (${found.python}, pacslab ${found.versions.pacslab}).`);
      }
    } catch (err) {
      const message = abort.signal.aborted ? 'Setting up the trainer environment was cancelled.' : (err as Error).message;
      this.log.error(message);
      void vscode.window.showErrorMessage(`PACS Lab: ${message} The full output is in the PACS Lab output.`);
    } finally {
      this.running = undefined;
    }
  }
}
