// PACS: New Training Config — a commented starter *.pacs.yaml in the workspace.
import { writeFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import { Disposer } from '../vscode/disposer';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function starterConfig(name: string): string {
  return `# PACS Lab training config. Hover a key for its documentation; Ctrl+Space lists the keys.
# Launch it with "▶ Train" above or "PACS: Start Training Run".
name: ${name}
algorithm: pacs          # pacs | grpo | rloo
seed: 0
device: auto             # auto | cpu | cuda | cuda:N
total_steps: 100
eval_every: 25
checkpoint_every: 50
model:
  path: builtin:arith-tiny   # or a local Hugging Face model folder, relative to this file
task:
  type: arith                # arith | jsonl | parquet
  arith: {digits: 3, ops: ["+"]}
  verifier: exact            # exact | math | python:module:function
rollout:
  prompts_per_step: 16
  n: 8
  max_new_tokens: 8
pacs:
  beta: 1.0
optim:
  lr: 1.0e-3
`;
}

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
