// PACS: Import Runs… — TensorBoard logs, TRL output directories and verl rollout dumps become run
// directories in the workspace's runs root (src/runs/model/importer.ts runs the trainer's importer).
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { importRuns } from './model/importer';
import { requireTrust } from '../trust/trust';
import { TrainerFeature, type TrainerServices } from './trainerFeature';

export class RunImporter extends TrainerFeature {
  private readonly imported = this.track(new vscode.EventEmitter<string>());
  /** The id of each run an import made. */
  readonly onDidImport = this.imported.event;

  constructor(services: TrainerServices) {
    super(services);
    this.track(vscode.commands.registerCommand('pacs.importRuns', (arg?: unknown) => this.importFrom(arg)));
  }

  /** Imports the folders given (a Uri or Uris, as the explorer passes them) or picked. */
  private async importFrom(arg?: unknown): Promise<string[]> {
    if (!(await requireTrust('import runs (it starts the trainer Python)'))) return [];
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder) {
      void vscode.window.showErrorMessage('PACS Lab: open a folder first; imported runs go to its runs folder (setting pacs.runsDir).');
      return [];
    }
    const sources = urisOf(arg) ?? (await vscode.window.showOpenDialog({
      canSelectFolders: true, canSelectFiles: false, canSelectMany: true, openLabel: 'Import',
      title: 'Import runs: a TensorBoard log directory, a TRL output directory or a verl rollout_data_dir',
    }));
    if (!sources?.length) return [];
    const python = await this.python.require(folder.uri);
    if (!python) return [];
    const runsRoot = this.roots.rootFor(folder.uri);
    const made: string[] = [];
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'PACS Lab: importing runs' }, async (progress) => {
      for (const source of sources) {
        progress.report({ message: basename(source.fsPath) });
        try {
          const dirs = await importRuns({ source: source.fsPath, runsRoot, python });
          dirs.forEach((dir) => this.log.info(`Imported ${source.fsPath} as ${dir}`));
          made.push(...dirs);
        } catch (err) {
          this.showFailure(err);
        }
      }
    });
    if (!made.length) return [];
    await this.store.refresh();
    const ids = made.map((dir) => basename(dir));
    ids.forEach((id) => this.imported.fire(id));
    void vscode.window.showInformationMessage(`PACS Lab: imported ${ids.length === 1 ? ids[0] : `${ids.length} runs`}.`);
    return ids;
  }
}

function urisOf(arg: unknown): vscode.Uri[] | undefined {
  if (arg instanceof vscode.Uri) return [arg];
  if (Array.isArray(arg) && arg.length && arg.every((a) => a instanceof vscode.Uri)) return arg as vscode.Uri[];
  return undefined;
}
