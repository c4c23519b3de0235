// Resolves a run command's argument to runs of the store, asking with a quick pick when the
// argument names none. Every run command (and the webview features) goes through here.
import * as vscode from 'vscode';
import type { RunStatus } from '../run/model/runFormat';
import { showLivePick } from './model/livePick';
import { runIdsFromArgs } from './model/runArgs';
import { runDescription, statusIcon } from './runPresentation';
import type { RunState, RunStore } from './model/runStore';

export interface PickRunsOptions {
  canPickMany: boolean;
  /** Shown in the quick pick; defaults to "Select a run" / "Select runs". */
  placeHolder?: string;
  /** Only these statuses are offered (and accepted from the argument). */
  statuses?: readonly RunStatus[];
  /** The selected tree items VS Code passes as a context-menu command's second argument. */
  selection?: unknown;
}

/** What the picker needs of the store. */
export type RunLookup = Pick<RunStore, 'runs' | 'get' | 'onDidChange'>;

interface RunPickItem extends vscode.QuickPickItem {
  run: RunState;
}

/**
 * The runs a command should act on: those named by `arg` (see runArgs.ts), else the user's pick
 * (the only fitting run when a single run is wanted and only one fits).
 * Resolves to [] when the user cancels or no run fits; says why when the argument names a run
 * that does not exist or is in the wrong state.
 */
export async function pickRuns(store: RunLookup, arg: unknown, options: PickRunsOptions): Promise<RunState[]> {
  const ids = runIdsFromArgs(arg, options.selection);
  if (ids.length > 0) {
    return runsNamed(store, ids, options);
  }
  const candidates = store.runs().filter((run) => fits(run, options.statuses));
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(noRunsMessage(options.statuses));
    return [];
  }
  if (candidates.length === 1 && !options.canPickMany) {
    return candidates;
  }
  const placeHolder = options.placeHolder ?? (options.canPickMany ? 'Select runs' : 'Select a run');
  const picked = await showLivePickOfRuns(store, options, placeHolder);
  // The state as it is now, not as it was when the pick opened.
  return picked.map((run) => store.get(run.id) ?? run);
}

/** A quick pick of the fitting runs whose labels follow the store while it is open. */
async function showLivePickOfRuns(store: RunLookup, options: PickRunsOptions, placeHolder: string): Promise<RunState[]> {
  const pick = vscode.window.createQuickPick<RunPickItem>();
  pick.placeholder = placeHolder;
  pick.canSelectMany = options.canPickMany;
  pick.matchOnDescription = true;
  pick.matchOnDetail = !options.canPickMany;
  const load = () => store.runs().filter((run) => fits(run, options.statuses)).map(toPickItem);
  const picked = await showLivePick(pick, load, (item) => item.run.id, (listener) => store.onDidChange(listener));
  return picked.map((item) => item.run);
}

/** One run, or undefined when cancelled. */
export async function pickRun(
  store: RunLookup,
  arg: unknown,
  options: Omit<PickRunsOptions, 'canPickMany'> = {},
): Promise<RunState | undefined> {
  const [run] = await pickRuns(store, arg, { ...options, canPickMany: false });
  return run;
}

function runsNamed(store: RunLookup, ids: readonly string[], options: PickRunsOptions): RunState[] {
  const runs: RunState[] = [];
  for (const id of ids) {
    const run = store.get(id);
    if (!run) {
      void vscode.window.showErrorMessage(`PACS Lab: no run "${id}" in the runs folders. Refresh the Runs view or check the setting pacs.runsDirs.`);
    } else if (!fits(run, options.statuses)) {
      void vscode.window.showWarningMessage(
        `PACS Lab: run ${id} is ${run.status}; this command needs a run that is ${options.statuses?.join(' or ')}.`,
      );
    } else {
      runs.push(run);
    }
  }
  return options.canPickMany ? runs : runs.slice(0, 1);
}

function fits(run: RunState, statuses: readonly RunStatus[] | undefined): boolean {
  return !statuses || statuses.includes(run.status);
}

function noRunsMessage(statuses: readonly RunStatus[] | undefined): string {
  return statuses ? `PACS Lab: no run is ${statuses.join(' or ')}.` : 'PACS Lab: no runs yet. Start one from a *.pacs.yaml config.';
}

function toPickItem(run: RunState): RunPickItem {
  return {
    label: `$(${statusIcon(run.status).id}) ${run.info.name}`,
    description: run.id,
    detail: runDescription(run),
    run,
  };
}
