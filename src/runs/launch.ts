// Starting, resuming and reproducing runs. The trainer is spawned detached by src/runs/model/launcher.ts so
// it outlives this window: nothing here kills it on dispose.
import * as vscode from 'vscode';
import { GitDirtyError } from '../git/model/git';
import type { GitMode } from '../git/model/git';
import { launchRun, launchedAs, reproduceRun, resumeRun } from './model/launcher';
import type { LaunchResult } from './model/launcher';
import type { RunState } from './model/runStore';
import type { RunWorktrees } from '../git/model/runWorktrees';
import { requireTrust } from '../trust/trust';
import { pickRun } from './pickRun';
import { TrainerFeature, type TrainerServices } from './trainerFeature';

export const CONFIG_GLOB = '**/*.pacs.yaml';
const CONFIG_SUFFIX = '.pacs.yaml';

export class RunLauncher extends TrainerFeature {
  private readonly launched = this.track(new vscode.EventEmitter<string>());
  /** Fires with the id of each run started or reproduced from this window. */
  readonly onDidLaunch = this.launched.event;

  constructor(
    services: TrainerServices,
    private readonly worktrees: RunWorktrees,
  ) {
    super(services);
    this.track(vscode.commands.registerCommand('pacs.startRun', (arg?: unknown) => this.start(arg)));
    this.track(vscode.commands.registerCommand('pacs.reproduceRun', (arg?: unknown) => this.reproduce(arg)));
  }

  /** Launches a config: a Uri, a path, an object with `configPath`, the active config editor or a pick. */
  async start(arg?: unknown): Promise<string | undefined> {
    if (!(await requireTrust('launch training'))) return undefined;
    const configUri = configUriOf(arg) ?? (await pickConfig());
    if (!configUri) return undefined;
    await saveIfDirty(configUri);
    const python = await this.python.require(configUri);
    if (!python) return undefined;
    const settings = vscode.workspace.getConfiguration('pacs', configUri);
    const folder = this.roots.folderOf(configUri);
    const launched = await this.withLaunchErrors(`Starting ${vscode.workspace.asRelativePath(configUri)}`, () =>
      launchRun({
        configPath: configUri.fsPath,
        runsRoot: this.roots.rootFor(configUri),
        python,
        sets: launchSets(settings),
        device: settings.get<string>('device'),
        gitMode: settings.get<GitMode>('git.onDirty') ?? 'snapshot',
        workspaceRoot: folder?.uri.fsPath,
      }),
    );
    if (!launched) return undefined;
    this.announce(launched, 'Started');
    return launched.runId;
  }

  /** Continues a suspended, stopped, crashed or failed run from its latest checkpoint. */
  async relaunch(run: RunState): Promise<void> {
    if (!(await requireTrust('resume training'))) return;
    const python = await this.python.require(vscode.Uri.file(run.dir));
    if (!python) return;
    const resumed = await this.withLaunchErrors(`Resuming ${run.id}`, () => resumeRun(run.dir, python));
    if (!resumed) return;
    this.log.info(`Resumed ${run.id} (${launchedAs(resumed)}).`);
    this.followExit(run.id, resumed.exited);
    await this.store.refresh();
  }

  private async reproduce(arg: unknown): Promise<void> {
    if (!(await requireTrust('reproduce a run'))) return;
    const run = await pickRun(this.store, arg, { placeHolder: 'Select the run to reproduce from its own code' });
    if (!run) return;
    if (!run.info.git) {
      await this.offerConfigRelaunch(run);
      return;
    }
    const configPath = this.roots.configPathOf(run);
    const configUri = configPath ? vscode.Uri.file(configPath) : vscode.Uri.file(run.dir);
    const python = await this.python.require(configUri);
    if (!python) return;
    const folder = this.roots.folderOf(configUri);
    const worktreeDir = this.worktrees.reproduceDir(run.id);
    const settings = vscode.workspace.getConfiguration('pacs', configUri);
    const launched = await this.withLaunchErrors(`Reproducing ${run.id}`, () =>
      reproduceRun(run.dir, {
        python,
        runsRoot: run.root,
        worktreeDir,
        device: settings.get<string>('device'),
        workspaceRoot: folder?.uri.fsPath,
      }),
    );
    if (!launched) return;
    this.log.info(`Reproducing ${run.id} as ${launched.runId} from the worktree ${launched.worktreeDir}.`);
    this.announce(launched, `Reproducing ${run.id} as`);
  }

  private async offerConfigRelaunch(run: RunState): Promise<void> {
    const configPath = this.roots.configPathOf(run);
    const relaunch = 'Launch Its Config Again';
    const choice = await vscode.window.showWarningMessage(
      `PACS Lab: run ${run.id} was launched outside a git repository, so its code was not recorded and cannot be restored.` +
        (configPath ? ` You can launch its config (${configPath}) with today's code.` : ''),
      ...(configPath ? [relaunch] : []),
    );
    if (choice === relaunch && configPath) await this.start(vscode.Uri.file(configPath));
  }

  private async withLaunchErrors<T>(title: string, launch: () => Promise<T>): Promise<T | undefined> {
    try {
      return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `PACS Lab: ${title}…` }, launch);
    } catch (err) {
      await this.reportLaunchError(err as Error);
      return undefined;
    }
  }

  private async reportLaunchError(err: Error): Promise<void> {
    this.log.error(err.message);
    if (err instanceof GitDirtyError) {
      const settings = 'Change pacs.git.onDirty';
      const changes = 'Show Changes';
      const choice = await vscode.window.showErrorMessage(`PACS Lab: ${err.message}`, changes, settings);
      if (choice === changes) await vscode.commands.executeCommand('workbench.view.scm');
      if (choice === settings) await vscode.commands.executeCommand('workbench.action.openSettings', 'pacs.git.onDirty');
      return;
    }
    void vscode.window.showErrorMessage(`PACS Lab: ${err.message}`);
  }

  private announce(launched: LaunchResult, verb: string): void {
    this.log.info(`${verb} ${launched.runId} (${launchedAs(launched)}) in ${launched.runDir}.`);
    if (launched.gitWarning) {
      this.log.warn(launched.gitWarning);
      void vscode.window.showWarningMessage(`PACS Lab: ${launched.gitWarning}`);
    }
    this.followExit(launched.runId, launched.exited);
    void this.store.refresh().then(() => this.launched.fire(launched.runId));
    void vscode.window.showInformationMessage(`PACS Lab: ${verb.toLowerCase()} run ${launched.runId}.`, 'Open Dashboard', 'Show Log').then((choice) => {
      if (choice === 'Open Dashboard') void vscode.commands.executeCommand('pacs.openDashboard', launched.runId);
      if (choice === 'Show Log') void vscode.commands.executeCommand('pacs.showLog', launched.runId);
    });
  }

  /** Logs the trainer's exit and refreshes at once, so a failed start shows without waiting for a poll. */
  private followExit(runId: string, exited: LaunchResult['exited']): void {
    void exited.then(({ code, signal }) => {
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      if (code === 0) this.log.info(`The trainer of ${runId} exited (${how}).`);
      else this.log.warn(`The trainer of ${runId} exited (${how}).`);
      void this.store.refresh();
    });
  }
}

/** `pacs.logTokenDetails` off → the trainer skips per-token details. */
function launchSets(settings: vscode.WorkspaceConfiguration): string[] {
  return settings.get<boolean>('logTokenDetails', true) ? [] : ['logging.log_token_details=false'];
}

function configUriOf(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === 'string' && arg.endsWith(CONFIG_SUFFIX)) return vscode.Uri.file(arg);
  if (typeof arg === 'object' && arg !== null && 'configPath' in arg) {
    const configPath = (arg as { configPath: unknown }).configPath;
    if (typeof configPath === 'string') return vscode.Uri.file(configPath);
  }
  return undefined;
}

async function saveIfDirty(uri: vscode.Uri): Promise<void> {
  const document = vscode.workspace.textDocuments.find((doc) => doc.uri.toString() === uri.toString());
  if (document?.isDirty) await document.save();
}

/** The workspace's only config, or a quick pick of its configs with the active editor's first. */
async function pickConfig(): Promise<vscode.Uri | undefined> {
  const files = await vscode.workspace.findFiles(CONFIG_GLOB, '**/{node_modules,.git,.pacs}/**');
  if (files.length === 0) {
    const create = 'New Training Config';
    const choice = await vscode.window.showInformationMessage('PACS Lab: no *.pacs.yaml config in this workspace.', create);
    if (choice === create) await vscode.commands.executeCommand('pacs.newConfig');
    return undefined;
  }
  if (files.length === 1) return files[0];
  const active = vscode.window.activeTextEditor?.document.uri.toString();
  const items = files
    .map((uri) => ({ label: vscode.workspace.asRelativePath(uri), uri, picked: uri.toString() === active }))
    .sort((a, b) => Number(b.picked) - Number(a.picked) || a.label.localeCompare(b.label));
  const picked = await vscode.window.showQuickPick(items, { placeHolder: 'Select the training config to launch' });
  return picked?.uri;
}
