// What every feature that runs the trainer's Python on the workspace's runs is built from (the run
// store, the runs roots, the trainer's Python and the log), and how a failure it cannot act on
// reaches the user: in the log and as an error message.
import * as vscode from 'vscode';
import type { TrainerPython } from '../python/trainerPython';
import { Disposer } from '../vscode/disposer';
import type { RunStore } from './model/runStore';
import type { RunRoots } from './runRoots';

export interface TrainerServices {
  readonly store: RunStore;
  readonly roots: RunRoots;
  readonly python: TrainerPython;
  readonly log: vscode.LogOutputChannel;
}

export abstract class TrainerFeature extends Disposer {
  protected readonly store: RunStore;
  protected readonly roots: RunRoots;
  protected readonly python: TrainerPython;
  protected readonly log: vscode.LogOutputChannel;

  constructor({ store, roots, python, log }: TrainerServices) {
    super();
    this.store = store;
    this.roots = roots;
    this.python = python;
    this.log = log;
  }

  /** Logs the failure and shows its message. */
  protected showFailure(err: unknown): void {
    const message = (err as Error).message;
    this.log.error(message);
    void vscode.window.showErrorMessage(`PACS Lab: ${message}`);
  }
}
