// PACS: New Training Config — a commented starter *.pacs.yaml in the workspace.
import { writeFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import { Disposer } from '../vscode/disposer';
import { starterConfig } from './model/starterConfig';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export class NewConfigCommand extends Disposer {
  constructor() {
    super();
    this.track(vscode.commands.registerCommand('pacs.newConfig', () => this.create()));
  }

  private async create(): Promise<void> {
    const name = await vscode.window.showInputBox({
      title: 'New Training Config',
      prompt: 'Config name: the file becomes <name>.pacs.yaml and runs are named after it',
      value: 'arith',
      validateInput: (value) => (NAME.test(value) ? undefined : 'Use letters, digits, "_", "-" or "."; start with a letter or digit.'),
    });
    if (!name) return;
    const folder = vscode.workspace.workspaceFolders?.[0];
    const target = folder
      ? vscode.Uri.joinPath(folder.uri, `${name}.pacs.yaml`)
      : await vscode.window.showSaveDialog({ filters: { 'PACS config': ['pacs.yaml'] }, saveLabel: 'Create Config' });
    if (!target) return;
    try {
      await writeFile(target.fsPath, starterConfig(name), { flag: 'wx' });
    } catch (err) {
      const exists = (err as NodeJS.ErrnoException).code === 'EEXIST';
      void vscode.window.showErrorMessage(
        exists ? `PACS Lab: ${target.fsPath} already exists; choose another name.` : `PACS Lab: cannot create ${target.fsPath}: ${(err as Error).message}`,
      );
      if (!exists) return;
    }
    await vscode.window.showTextDocument(target);
  }
}
