// The Runs view: runs grouped by config name, newest first, refreshed from the store (debounced).
// Tooltips are built on hover and config files are checked once (then watched), so a refresh
// every poll of a live run reads nothing from disk.
import { statSync } from 'node:fs';
import * as vscode from 'vscode';
import type { RunState, RunStore } from './model/runStore';
import { Disposer } from '../vscode/disposer';
import { CONFIG_GLOB } from './launch';
import { runDescription, runIcon, runTooltip, shownStatus } from './runPresentation';
import type { RunRoots } from './runRoots';
import { shortRunLabel } from './model/runText';

const REFRESH_DEBOUNCE_MS = 150;

export class ConfigGroupItem extends vscode.TreeItem {
  constructor(
    readonly configName: string,
    readonly runIds: string[],
    /** The config file of the newest run, when it is known and still here: the inline "Train" launches it. */
    readonly configPath: string | undefined,
  ) {
    super(configName, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `config:${configName}`;
    this.contextValue = configPath ? 'config' : 'config.orphan';
    this.iconPath = new vscode.ThemeIcon('file-code');
    this.description = runIds.length === 1 ? '1 run' : `${runIds.length} runs`;
    this.tooltip = configPath ?? `Runs named ${configName}`;
  }
}

export class RunItem extends vscode.TreeItem {
  readonly runId: string;
  private inComparison = false;

  constructor(run: RunState, compared: boolean) {
    super(shortRunLabel(run.id), vscode.TreeItemCollapsibleState.None);
    this.runId = run.id;
    this.compared = compared;
    this.id = `run:${run.id}`;
    this.description = runDescription(run);
    this.iconPath = runIcon(run);
    this.contextValue = `run.${run.status}${run.info.git ? '.git' : ''}`;
    this.accessibilityInformation = { label: `${run.id}, ${shownStatus(run)}, ${this.description}` };
  }

  get compared(): boolean {
    return this.inComparison;
  }

  set compared(compared: boolean) {
    this.inComparison = compared;
    this.checkboxState = {
      state: compared ? vscode.TreeItemCheckboxState.Checked : vscode.TreeItemCheckboxState.Unchecked,
      tooltip: compared ? 'Remove from the open comparison' : 'Add to the open comparison (opens one when none is open)',
      accessibilityInformation: { label: compared ? 'In the open comparison' : 'Not in the open comparison' },
    };
  }
}

type Node = ConfigGroupItem | RunItem;

/** The open comparison the run checkboxes add runs to and remove them from (the dashboard feature). */
export interface Comparison {
  comparedRuns(): readonly string[];
  setCompared(runIds: readonly string[], compared: boolean): void;
  readonly onDidChangeComparison: vscode.Event<void>;
}

export class RunsTree extends Disposer implements vscode.TreeDataProvider<Node> {
  private readonly changed = this.track(new vscode.EventEmitter<Node | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private readonly selectedRun = this.track(new vscode.EventEmitter<string>());
  /** Fires with the run id when the user selects a run (the last run of a multi-selection). */
  readonly onDidSelectRun = this.selectedRun.event;
  private readonly welcome = this.track(new vscode.EventEmitter<void>());
  /** Fires when the view is visible with no runs, so VS Code shows its welcome content. */
  readonly onDidShowWelcome = this.welcome.event;
  private readonly view: vscode.TreeView<Node>;
  private timer: NodeJS.Timeout | undefined;
  private groups: ConfigGroupItem[] = [];
  private items = new Map<string, RunItem>();
  /** Whether each config file exists; entries are dropped when the file watcher sees it come or go. */
  private readonly configExists = new Map<string, boolean>();
  private comparison: Comparison | undefined;

  constructor(
    private readonly store: RunStore,
    private readonly roots: RunRoots,
  ) {
    super();
    this.view = this.track(
      vscode.window.createTreeView('pacs.runs', { treeDataProvider: this, canSelectMany: true, showCollapseAll: true, manageCheckboxStateManually: true }),
    );
    this.track(this.view.onDidChangeSelection(({ selection }) => this.selectionChanged(selection)));
    this.track(this.view.onDidChangeVisibility(() => this.checkWelcome()));
    this.track(this.view.onDidChangeCheckboxState(({ items }) => this.checkboxesChanged(items)));
    this.track(store.onDidChange(() => this.scheduleRefresh()));
    const configs = this.track(vscode.workspace.createFileSystemWatcher(CONFIG_GLOB, false, true, false));
    this.track(configs.onDidCreate((uri) => this.configChanged(uri)));
    this.track(configs.onDidDelete((uri) => this.configChanged(uri)));
    this.track({ dispose: () => clearTimeout(this.timer) });
    this.rebuild();
  }

  getTreeItem(node: Node): vscode.TreeItem {
    return node;
  }

  /** Builds a run's tooltip when it is hovered, from the store's current state. */
  resolveTreeItem(item: vscode.TreeItem, node: Node): vscode.TreeItem {
    const run = node instanceof RunItem ? this.store.get(node.runId) : undefined;
    if (run) item.tooltip = runTooltip(run);
    return item;
  }

  getChildren(node?: Node): Node[] {
    if (!node) return this.groups;
    if (node instanceof ConfigGroupItem) return node.runIds.map((id) => this.items.get(id)).filter((item) => item !== undefined);
    return [];
  }

  getParent(node: Node): Node | undefined {
    if (node instanceof RunItem) return this.groups.find((group) => group.runIds.includes(node.runId));
    return undefined;
  }

  /** Shows a run in the view (after a launch). */
  async reveal(runId: string): Promise<void> {
    this.rebuild();
    const item = this.items.get(runId);
    if (item) await this.view.reveal(item, { select: true, focus: false, expand: true });
  }

  refreshNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.rebuild();
  }

  /** Run checkboxes show and change the runs of the open comparison. */
  useComparison(comparison: Comparison): void {
    this.comparison = comparison;
    this.track(comparison.onDidChangeComparison(() => this.comparisonChanged()));
    this.scheduleRefresh();
  }

  /**
   * The checkboxes follow the comparison item by item: a whole-tree refresh makes VS Code forget
   * every run item until it has fetched them again, and a tick on the next run in that moment was lost.
   */
  private comparisonChanged(): void {
    const compared = new Set(this.comparison?.comparedRuns() ?? []);
    for (const item of this.items.values()) {
      if (item.compared === compared.has(item.runId)) continue;
      item.compared = !item.compared;
      this.changed.fire(item);
    }
  }

  private checkboxesChanged(items: readonly (readonly [Node, vscode.TreeItemCheckboxState])[]): void {
    if (!this.comparison) return;
    const runs = items.filter((entry): entry is readonly [RunItem, vscode.TreeItemCheckboxState] => entry[0] instanceof RunItem);
    const add = runs.filter(([, state]) => state === vscode.TreeItemCheckboxState.Checked).map(([item]) => item.runId);
    const remove = runs.filter(([, state]) => state === vscode.TreeItemCheckboxState.Unchecked).map(([item]) => item.runId);
    if (add.length) this.comparison.setCompared(add, true);
    if (remove.length) this.comparison.setCompared(remove, false);
  }

  private selectionChanged(selection: readonly Node[]): void {
    const runs = selection.filter((node) => node instanceof RunItem);
    if (runs.length > 0) this.selectedRun.fire(runs[runs.length - 1].runId);
  }

  private configChanged(uri: vscode.Uri): void {
    this.configExists.delete(uri.fsPath);
    this.scheduleRefresh();
  }

  private scheduleRefresh(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.refreshNow(), REFRESH_DEBOUNCE_MS);
  }

  private rebuild(): void {
    const all = this.store.runs();
    const byConfig = new Map<string, RunState[]>();
    for (const run of all) {
      const runs = byConfig.get(run.configName) ?? [];
      runs.push(run);
      byConfig.set(run.configName, runs);
    }
    const compared = new Set(this.comparison?.comparedRuns() ?? []);
    this.items = new Map(all.map((run) => [run.id, new RunItem(run, compared.has(run.id))]));
    this.groups = [...byConfig.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, runs]) => new ConfigGroupItem(name, runs.map((run) => run.id), this.existingConfigPath(runs)));
    this.changed.fire(undefined);
    this.checkWelcome();
  }

  private checkWelcome(): void {
    if (this.view.visible && this.groups.length === 0) this.welcome.fire();
  }

  private existingConfigPath(runs: RunState[]): string | undefined {
    for (const run of runs) {
      const path = this.roots.configPathOf(run);
      if (path && this.isConfigFile(path)) return path;
    }
    return undefined;
  }

  private isConfigFile(path: string): boolean {
    let exists = this.configExists.get(path);
    if (exists === undefined) {
      exists = isFile(path);
      this.configExists.set(path, exists);
    }
    return exists;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
