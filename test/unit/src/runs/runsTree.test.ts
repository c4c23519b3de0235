// The Runs tree against the in-memory `vscode`: the Rollouts side view follows its selection (the
// Extension wires RunsTree.onDidSelectRun to RolloutsFeature.followRun), tooltips are built on
// hover with trainer-written text escaped, and config files are checked once, then watched.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RolloutsState } from '../../../../webview/rollouts/contract';
import { RunStore } from '../../../../src/runs/model/runStore';
import type { RunState } from '../../../../src/runs/model/runStore';
import type { RunRoots } from '../../../../src/runs/runRoots';
import { RUN_A, RUN_B, writeRun } from '../../../webview/fixtures';
import { EventEmitter, FakeTreeView, FakeWebview, installFakeVscode, MarkdownString, recorded, TreeItemCheckboxState, Uri } from '../../helpers/fakeVscode';
import { until } from '../../helpers/until';

installFakeVscode();
/* eslint-disable @typescript-eslint/no-require-imports */
const { RolloutsFeature } = require('../../../../src/rollouts/rolloutsFeature') as typeof import('../../../../src/rollouts/rolloutsFeature');
const { ConfigGroupItem, RunItem, RunsTree } = require('../../../../src/runs/runsTree') as typeof import('../../../../src/runs/runsTree');
/* eslint-enable @typescript-eslint/no-require-imports */

type Node = InstanceType<typeof ConfigGroupItem> | InstanceType<typeof RunItem>;

const shownRun = (webview: FakeWebview) => (webview.posted.filter((m) => m.type === 'state').at(-1)?.state as RolloutsState | undefined)?.run?.id;

describe('the Runs tree', () => {
  let root: string;
  let store: RunStore;
  let tree: InstanceType<typeof RunsTree>;
  let rollouts: InstanceType<typeof RolloutsFeature>;
  let view: FakeTreeView<Node>;
  const webview = new FakeWebview();
  const context = { extensionUri: Uri.file('/ext'), subscriptions: [] } as unknown as import('vscode').ExtensionContext;
  const configPathOf = (run: RunState) => join(root, `${run.info.name}.pacs.yaml`);
  const roots = { configPathOf } as unknown as RunRoots;
  const groupOf = (id: string) => {
    const group = tree.getChildren().find((g) => g instanceof ConfigGroupItem && g.runIds.includes(id));
    assert.ok(group instanceof ConfigGroupItem, `a group holds ${id}`);
    return group;
  };

  const runItem = (id: string) => {
    const item = tree.getChildren(groupOf(id)).find((node) => node instanceof RunItem && node.runId === id);
    assert.ok(item, `the tree shows ${id}`);
    return item;
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pacs-follow-'));
    writeRun(root, RUN_A, 40);
    writeRun(root, RUN_B, 40);
    store = new RunStore({ roots: [root], detectCrashes: false });
    await store.refresh();
    rollouts = new RolloutsFeature(context, store);
    tree = new RunsTree(store, roots);
    tree.onDidSelectRun((runId) => rollouts.followRun(runId));
    view = recorded.treeViews.get('pacs.runs') as FakeTreeView<Node>;
    const host = { visible: true, webview, onDidChangeVisibility: () => ({ dispose() {} }), onDidDispose: () => ({ dispose() {} }) };
    recorded.viewProviders.get('pacs.rollouts')?.resolveWebviewView(host);
    webview.send({ type: 'ready' });
  });
  after(() => {
    tree.dispose();
    rollouts.dispose();
    store.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it('starts on the newest run', async () => {
    assert.equal(await until('the first state', () => shownRun(webview)), RUN_B.id);
  });

  it('shows the run selected in the tree', async () => {
    view.select([runItem(RUN_A.id)]);
    await until('run A', () => shownRun(webview) === RUN_A.id);
  });

  it('keeps its run when only a config group is selected, and takes the last run of a multi-selection', async () => {
    view.select([groupOf(RUN_B.id)]);
    writeRun(root, RUN_B, 60);
    await store.refresh();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(shownRun(webview), RUN_A.id);
    view.select([runItem(RUN_A.id), runItem(RUN_B.id)]);
    await until('run B', () => shownRun(webview) === RUN_B.id);
  });

  it('follows a run revealed after a launch', async () => {
    await tree.reveal(RUN_A.id);
    await until('run A again', () => shownRun(webview) === RUN_A.id);
  });

  it('keeps the step picked in the view when its run is selected again', async () => {
    const shownStep = () => (webview.posted.filter((m) => m.type === 'state').at(-1)?.state as RolloutsState | undefined)?.step;
    webview.send({ type: 'selectStep', step: 20 });
    await until('step 20', () => shownStep() === 20);
    view.select([groupOf(RUN_A.id)]);
    view.select([runItem(RUN_A.id)]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(shownStep(), 20);
  });

  it('builds a run tooltip on hover, with trainer-written text escaped and nothing trusted', () => {
    const item = runItem(RUN_A.id);
    assert.equal(item.tooltip, undefined, 'no tooltip is built before a hover');
    const run = store.get(RUN_A.id);
    assert.ok(run);
    const payload = '[open](command:workbench.action.terminal.new) <img src=x onerror=alert(1)> $(zap)';
    run.info.host = payload;
    const tooltip = tree.resolveTreeItem(item, item).tooltip;
    assert.ok(tooltip instanceof MarkdownString);
    assert.equal(tooltip.isTrusted, false);
    assert.equal(tooltip.supportHtml, false);
    assert.ok(tooltip.value.includes(new MarkdownString(undefined, true).appendText(payload).value), 'the host line is escaped text');
    assert.ok(!tooltip.value.includes('[open](command:'), 'no link survives');
    assert.match(tooltip.value, /\*\*Run:\*\* 20261127/);
  });

  it('checks a config file once, and again when the watcher sees it created or deleted', () => {
    assert.equal(groupOf(RUN_A.id).contextValue, 'config.orphan');
    const path = join(root, `${RUN_A.name}.pacs.yaml`);
    writeFileSync(path, 'name: arith\n');
    tree.refreshNow();
    assert.equal(groupOf(RUN_A.id).contextValue, 'config.orphan', 'the first answer is kept until the watcher reports a change');
    const watcher = recorded.watchers.find((w) => w.glob === '**/*.pacs.yaml');
    assert.ok(watcher);
    watcher.fire('create', path);
    tree.refreshNow();
    assert.equal(groupOf(RUN_A.id).contextValue, 'config');
    assert.equal(groupOf(RUN_A.id).configPath, path);
    rmSync(path);
    watcher.fire('delete', path);
    tree.refreshNow();
    assert.equal(groupOf(RUN_A.id).contextValue, 'config.orphan');
  });

  it('says when its welcome content shows: visible and without runs', async () => {
    let welcomes = 0;
    tree.onDidShowWelcome(() => welcomes++);
    tree.refreshNow();
    assert.equal(welcomes, 0, 'a tree with runs shows no welcome');
    const emptyRoot = mkdtempSync(join(tmpdir(), 'pacs-empty-'));
    const emptyStore = new RunStore({ roots: [emptyRoot], detectCrashes: false });
    await emptyStore.refresh();
    const empty = new RunsTree(emptyStore, roots);
    const emptyView = recorded.treeViews.get('pacs.runs') as FakeTreeView<Node>;
    empty.onDidShowWelcome(() => welcomes++);
    emptyView.setVisible(false);
    empty.refreshNow();
    assert.equal(welcomes, 0, 'a hidden view shows nothing');
    emptyView.setVisible(true);
    assert.equal(welcomes, 1);
    empty.dispose();
    emptyStore.dispose();
    rmSync(emptyRoot, { recursive: true, force: true });
  });

  it('run checkboxes show the open comparison, and ticking or clearing one adds or removes the run', async () => {
    const changed = new EventEmitter<void>();
    let compared: string[] = [RUN_A.id];
    const calls: [string[], boolean][] = [];
    tree.useComparison({
      comparedRuns: () => compared,
      setCompared: (ids, on) => calls.push([[...ids], on]),
      onDidChangeComparison: changed.event,
    });
    await until('the compared run is checked', () => runItem(RUN_A.id).checkboxState !== undefined && (runItem(RUN_A.id).checkboxState as { state: number }).state === TreeItemCheckboxState.Checked);
    assert.equal((runItem(RUN_B.id).checkboxState as { state: number }).state, TreeItemCheckboxState.Unchecked);
    view.check([[runItem(RUN_B.id), TreeItemCheckboxState.Checked]]);
    view.check([[runItem(RUN_A.id), TreeItemCheckboxState.Unchecked], [groupOf(RUN_A.id), TreeItemCheckboxState.Unchecked]]);
    assert.deepEqual(calls, [[[RUN_B.id], true], [[RUN_A.id], false]], 'only run items count');
    compared = [RUN_B.id];
    const [itemA, itemB] = [runItem(RUN_A.id), runItem(RUN_B.id)];
    const refreshed: unknown[] = [];
    const listening = tree.onDidChangeTreeData((node) => refreshed.push(node));
    changed.fire();
    listening.dispose();
    assert.equal((runItem(RUN_B.id).checkboxState as { state: number }).state, TreeItemCheckboxState.Checked, 'the tree follows the comparison');
    assert.equal((runItem(RUN_A.id).checkboxState as { state: number }).state, TreeItemCheckboxState.Unchecked, 'the tree follows the comparison');
    // A whole-tree refresh (undefined) would make VS Code forget the run items a next tick names until it fetched them again.
    assert.equal(refreshed.length, 2, 'only the two items that changed are refreshed');
    assert.ok(refreshed.includes(itemA) && refreshed.includes(itemB), 'each by itself');
    assert.equal(runItem(RUN_A.id), itemA, 'the same items stay in the tree');
  });

  it('disposes its tree view', () => {
    tree.dispose();
    assert.equal(view.disposed, true);
  });
});
