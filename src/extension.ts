// The composition root: one Extension builds every feature around one RunStore and owns every
// disposable they hold.
import * as vscode from 'vscode';
import { RunStore } from './runs/model/runStore';
import { ConfigLanguage } from './config/configLanguage';
import { ConfigLens } from './config/configLens';
import { NewConfigCommand } from './config/newConfig';
import { DashboardFeature } from './dashboard/dashboardFeature';
import { RunCodeFeature } from './git/runCode';
import { RunWorktrees } from './git/model/runWorktrees';
import { TrainerSetup } from './python/setupTrainer';
import { TrainerPython } from './python/trainerPython';
import { RolloutsFeature } from './rollouts/rolloutsFeature';
import { VerifierCommands } from './rollouts/verifierCommands';
import { RunLauncher } from './runs/launch';
import { RunCommands } from './runs/runCommands';
import { RunImporter } from './runs/importRuns';
import { RunContextKeys } from './runs/runContextKeys';
import { RunNotifications } from './runs/notifications';
import { AlertNotifications } from './diagnostics/alertNotifications';
import { DiagnosticsFeature } from './diagnostics/diagnosticsFeature';
import { RunRoots } from './runs/runRoots';
import { RunsTree } from './runs/runsTree';
import { RunStatusBar } from './runs/statusBar';
import { ScoringFeature } from './scoring/scoringFeature';
import { SweepsFeature } from './sweeps/sweepsFeature';
import { Disposer } from './vscode/disposer';

export class Extension extends Disposer {
  constructor(context: vscode.ExtensionContext) {
    super();
    const log = this.track(vscode.window.createOutputChannel('PACS Lab', { log: true }));
    const roots = this.track(new RunRoots());
    const store = this.track(new RunStore({ roots: roots.roots(), pollIntervalMs: pollIntervalMs(), lostAfterMs: lostAfterMs() }));
    this.track(logStoreErrors(store, log));
    this.track(roots.onDidChange(() => void store.setRoots(roots.roots())));
    this.track(vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('pacs.pollIntervalMs') && store.setPollInterval(pollIntervalMs())));
    this.track(vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('pacs.lostAfterSeconds') && store.setLostAfter(lostAfterMs())));

    const python = this.track(new TrainerPython(context, log));
    this.track(new RunContextKeys(store));
    const tree = this.track(new RunsTree(store, roots));
    this.track(new RunStatusBar(store));
    this.track(new RunNotifications(store, log));
    this.track(new AlertNotifications(store, log));
    const worktrees = new RunWorktrees(context.globalStorageUri.fsPath);
    const services = { store, roots, python, log };
    const launcher = this.track(new RunLauncher(services, worktrees));
    this.track(launcher.onDidLaunch((runId) => void tree.reveal(runId)));
    this.track(new RunCommands(store, roots, launcher, worktrees, log));
    const importer = this.track(new RunImporter(services));
    this.track(importer.onDidImport((runId) => void tree.reveal(runId)));
    this.track(new RunCodeFeature(store, roots, worktrees));
    this.track(new ConfigLanguage(context, log));
    this.track(new ConfigLens(store, roots));
    this.track(new NewConfigCommand());
    this.track(new TrainerSetup(context, python, log));
    const dashboard = this.track(new DashboardFeature(context, store));
    tree.useComparison(dashboard);
    const rollouts = this.track(new RolloutsFeature(context, store));
    this.track(new VerifierCommands(services, rollouts));
    this.track(new DiagnosticsFeature(context, store));
    this.track(dashboard.onDidFocusRun((runId) => rollouts.followRun(runId)));
    this.track(tree.onDidSelectRun((runId) => rollouts.followRun(runId)));
    this.track(new ScoringFeature(context, store, python));
    tree.useSweeps(this.track(new SweepsFeature(services)));

    this.track(tree.onDidShowWelcome(() => void python.refreshContext()));
    void store.start().then(() => tree.refreshNow());
  }
}

/** A broken run folder fails every poll: log each of its errors once, not every second. */
function logStoreErrors(store: RunStore, log: vscode.LogOutputChannel): vscode.Disposable {
  const logged = new Map<string, string>();
  return store.onDidError(({ path, message }) => {
    if (logged.get(path) === message) return;
    logged.set(path, message);
    log.warn(`Cannot read ${path}: ${message}`);
  });
}

function lostAfterMs(): number {
  return Math.max(10, vscode.workspace.getConfiguration('pacs').get<number>('lostAfterSeconds', 120)) * 1000;
}

function pollIntervalMs(): number {
  return vscode.workspace.getConfiguration('pacs').get<number>('pollIntervalMs', 1000);
}

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(new Extension(context));
}
