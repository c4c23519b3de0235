// Sweeps in the editor: ▶ Sweep on a config with a `sweep:` section or a *.sweep.yaml, PACS: Start
// Sweep, the sweeps the Runs view shows as nodes (read from `.pacs/sweeps/` beside each runs root),
// pause / resume / stop of a whole sweep, and Compare Sweep (the dashboard on its runs, with the
// parallel-coordinates chart and Optuna's parameter importance). The controller is a detached
// process: closing or reloading the window leaves the sweep running.
import * as vscode from 'vscode';
import type { GitMode } from '../git/model/git';
import type { SweepSource } from '../runs/runsTree';
import { TrainerFeature, type TrainerServices } from '../runs/trainerFeature';
import { requireTrust } from '../trust/trust';
import { readSweeps } from './model/sweepFiles';
import { runSweepTag, sweepsRootOf, type SweepInfo } from './model/sweepFormat';
import { SweepItem } from './sweepItem';
import { controlSweep, declaresSweep, resumeSweep, startSweep, type SweepCommand } from './model/sweepLaunch';
import { progressText } from './model/sweepModel';

const POLL_MS = 2000;
export const SWEEP_SELECTOR: vscode.DocumentSelector = [{ pattern: '**/*.pacs.yaml' }, { pattern: '**/*.sweep.{yaml,yml}' }];

export class SweepsFeature extends TrainerFeature implements SweepSource, vscode.CodeLensProvider {
  private list: SweepInfo[] = [];
  private readonly changed = this.track(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;
  private readonly lensesChanged = this.track(new vscode.EventEmitter<void>());
  readonly onDidChangeCodeLenses = this.lensesChanged.event;
  private reading = false;

  constructor(services: TrainerServices) {
    super(services);
    this.track(vscode.commands.registerCommand('pacs.startSweep', (arg?: unknown) => this.start(arg)));
    for (const command of ['pause', 'resume', 'stop'] as const) {
      this.track(vscode.commands.registerCommand(`pacs.${command}Sweep`, (arg?: unknown) => this.control(arg, command)));
    }
    this.track(vscode.commands.registerCommand('pacs.compareSweep', (arg?: unknown) => this.compare(arg)));
    this.track(vscode.languages.registerCodeLensProvider(SWEEP_SELECTOR, this));
    this.track(vscode.workspace.onDidChangeTextDocument((e) => vscode.languages.match(SWEEP_SELECTOR, e.document) && this.lensesChanged.fire()));
    const timer = setInterval(() => void this.refresh(), POLL_MS);
    this.track({ dispose: () => clearInterval(timer) });
    this.track(this.roots.onDidChange(() => void this.refresh()));
    void this.refresh();
  }

  sweeps(): readonly SweepInfo[] {
    return this.list;
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    if (!declaresSweep(document.uri.fsPath, document.getText())) return [];
    const top = new vscode.Range(0, 0, 0, 0);
    return [new vscode.CodeLens(top, { title: '▶ Sweep', tooltip: 'Start a sweep of this config (its sweep: section)', command: 'pacs.startSweep', arguments: [document.uri] })];
  }

  /** Reads every sweep folder again; fires when anything shown changed. */
  async refresh(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const roots = [...new Set(this.roots.roots().map(sweepsRootOf))];
      const next = (await Promise.all(roots.map(readSweeps))).flat();
      if (JSON.stringify(next) !== JSON.stringify(this.list)) {
        this.list = next;
        this.changed.fire();
      }
    } finally {
      this.reading = false;
    }
  }

  private async start(arg: unknown): Promise<void> {
    if (!(await requireTrust('start a sweep'))) return;
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri ?? (await pickSweepConfig());
    if (!uri) return;
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (open?.isDirty) await open.save();
    const python = await this.python.require(uri);
    if (!python) return;
    const settings = vscode.workspace.getConfiguration('pacs', uri);
    try {
      const started = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `PACS Lab: Starting the sweep of ${vscode.workspace.asRelativePath(uri)}…` },
        () => startSweep({ configPath: uri.fsPath, runsRoot: this.roots.rootFor(uri), python, gitMode: settings.get<GitMode>('git.onDirty') ?? 'snapshot', workspaceRoot: this.roots.folderOf(uri)?.uri.fsPath }),
      );
      this.log.info(`Started sweep ${started.sweepId}: ${started.output.trim()}`);
      if (started.gitWarning) this.log.warn(started.gitWarning);
      await this.refresh();
      void vscode.window.showInformationMessage(`PACS Lab: sweep ${started.sweepId} started; its runs appear under it in the Runs view.`);
    } catch (err) {
      this.showFailure(err);
    }
  }

  private async control(arg: unknown, command: SweepCommand): Promise<void> {
    const sweep = await this.sweepOf(arg, command);
    if (!sweep) return;
    const python = await this.python.require(vscode.Uri.file(sweep.dir));
    if (!python) return;
    try {
      const said = command === 'resume' && sweep.status === 'crashed' ? await resumeSweep(python, sweep.dir) : await controlSweep(python, sweep.dir, command);
      this.log.info(`Sweep ${sweep.id}: ${said}`);
    } catch (err) {
      void vscode.window.showErrorMessage(`PACS Lab: ${(err as Error).message}`);
    }
    await this.refresh();
  }

  private async compare(arg: unknown): Promise<void> {
    const sweep = await this.sweepOf(arg, 'compare');
    if (!sweep) return;
    const runIds = this.store.runs().filter((run) => runSweepTag(run.info)?.id === sweep.id).map((run) => run.id);
    if (runIds.length === 0) {
      void vscode.window.showInformationMessage(`PACS Lab: sweep ${sweep.id} has no runs yet.`);
      return;
    }
    await vscode.commands.executeCommand('pacs.compareRuns', { runIds });
  }

  private async sweepOf(arg: unknown, verb: string): Promise<SweepInfo | undefined> {
    if (arg instanceof SweepItem) return this.list.find((s) => s.dir === arg.sweep.dir) ?? arg.sweep;
    if (typeof arg === 'string') return this.list.find((s) => s.id === arg || s.dir === arg);
    const picked = await vscode.window.showQuickPick(
      this.list.map((s) => ({ label: s.id, description: `${s.status} · ${progressText(s)}`, sweep: s })),
      { placeHolder: `Select the sweep to ${verb}` },
    );
    return picked?.sweep;
  }
}

async function pickSweepConfig(): Promise<vscode.Uri | undefined> {
  const files = [...(await vscode.workspace.findFiles('**/*.sweep.{yaml,yml}', '**/node_modules/**', 200)), ...(await vscode.workspace.findFiles('**/*.pacs.yaml', '**/node_modules/**', 500))];
  const withSweep: vscode.Uri[] = [];
  for (const uri of files) {
    const text = Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
    if (declaresSweep(uri.fsPath, text)) withSweep.push(uri);
  }
  if (withSweep.length === 0) {
    void vscode.window.showInformationMessage('PACS Lab: no config declares a sweep. Add a `sweep:` section to a *.pacs.yaml (docs/sweeps.md).');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(withSweep.map((uri) => ({ label: vscode.workspace.asRelativePath(uri), uri })), { placeHolder: 'Select the config to sweep' });
  return picked?.uri;
}
