// The host side of the dashboard and the rollout inspector against an in-memory `vscode`
// (fakeVscode.ts) and a real RunStore over run-format fixtures: commands, panels, the ready
// handshake, whole-state pushes on store changes, messages back, serializers, disposal.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DashboardState } from '../../../webview/dashboard/contract';
import type { RolloutsState } from '../../../webview/rollouts/contract';
import { RunStore } from '../../../src/runs/model/runStore';
import { RUN_A, RUN_B, writeRun } from '../../webview/fixtures';
import { FakePanel, FakeWebview, installFakeVscode, recorded, Uri } from '../helpers/fakeVscode';
import { until } from '../helpers/until';

installFakeVscode();
// Required after the fake is installed (static imports would load `vscode` first).
/* eslint-disable @typescript-eslint/no-require-imports */
const { DashboardFeature } = require('../../../src/dashboard/dashboardFeature') as typeof import('../../../src/dashboard/dashboardFeature');
const { RolloutsFeature } = require('../../../src/rollouts/rolloutsFeature') as typeof import('../../../src/rollouts/rolloutsFeature');
/* eslint-enable @typescript-eslint/no-require-imports */

const states = <S>(webview: FakeWebview) => webview.posted.filter((m) => m.type === 'state').map((m) => m.state as S);
const lastState = <S>(webview: FakeWebview) => states<S>(webview).at(-1);
const rewardPoints = (s: DashboardState | undefined) => s?.families.find((f) => f.id === 'reward')?.series.reduce((n, x) => n + x.rawCount, 0) ?? 0;

describe('dashboard and rollouts features (host side)', () => {
  let root: string;
  let store: RunStore;
  let dashboard: InstanceType<typeof DashboardFeature>;
  let rollouts: InstanceType<typeof RolloutsFeature>;
  const context = { extensionUri: Uri.file('/ext'), subscriptions: [] } as unknown as import('vscode').ExtensionContext;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pacs-features-'));
    writeRun(root, RUN_A, 150);
    writeRun(root, RUN_B);
    store = new RunStore({ roots: [root], detectCrashes: false });
    await store.refresh();
    dashboard = new DashboardFeature(context, store);
    rollouts = new RolloutsFeature(context, store);
    dashboard.onDidFocusRun((runId) => rollouts.followRun(runId));
  });
  after(() => {
    dashboard.dispose();
    rollouts.dispose();
    store.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it('registers its commands, serializers and the Rollouts view', () => {
    for (const id of ['pacs.openDashboard', 'pacs.compareRuns', 'pacs.inspectRollouts']) assert.ok(recorded.commands.has(id), id);
    assert.ok(recorded.serializers.has('pacs.dashboard'));
    assert.ok(recorded.serializers.has('pacs.rolloutInspector'));
    assert.ok(recorded.viewProviders.has('pacs.rollouts'));
  });

  let panel: FakePanel;

  it('opens a dashboard with a strict page and sends nothing before ready', async () => {
    await recorded.commands.get('pacs.openDashboard')?.(RUN_A.id);
    panel = recorded.panels.at(-1) as FakePanel;
    assert.equal(panel.viewType, 'pacs.dashboard');
    assert.match(panel.title, /Dashboard: arith/);
    const options = panel.options as { enableScripts: boolean; retainContextWhenHidden: boolean; localResourceRoots: { path: string }[] };
    assert.equal(options.enableScripts, true);
    assert.equal(options.retainContextWhenHidden, false);
    assert.deepEqual(options.localResourceRoots.map((u) => u.path), ['/ext/dist/webview', '/ext/media']);
    assert.match(panel.webview.html, /default-src 'none'; script-src 'nonce-[\w-]+'/);
    assert.match(panel.webview.html, /src="https:\/\/webview.fake\/ext\/dist\/webview\/dashboard.js"/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(panel.webview.posted.length, 0);
    await recorded.commands.get('pacs.openDashboard')?.({ runId: RUN_A.id });
    assert.equal(recorded.panels.length, 1, 'the same run reveals the open dashboard');
  });

  it('sends whole state after ready, and again when the run grows', async () => {
    panel.webview.send({ type: 'ready' });
    const first = await until('the first state', () => lastState<DashboardState>(panel.webview));
    assert.deepEqual(first.runs.map((r) => r.id), [RUN_A.id]);
    assert.equal(first.critic?.step, 150);
    const before = rewardPoints(first);
    writeRun(root, RUN_A);
    await store.refresh();
    const grown = await until('a state with more points', () => rewardPoints(lastState(panel.webview)) > before && lastState<DashboardState>(panel.webview));
    assert.equal(grown.critic?.step, RUN_A.steps, 'the critic view follows the newest step');
  });

  it('moves the critic view to the step the slider asks for and keeps it there', async () => {
    panel.webview.send({ type: 'selectCriticStep', runId: RUN_A.id, step: 10 });
    await until('the critic at step 10', () => lastState<DashboardState>(panel.webview)?.critic?.step === 10);
    panel.webview.send({ type: 'selectCriticStep', runId: 'not-this-panels-run', step: 20 });
    panel.webview.send({ type: 'bogus' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(lastState<DashboardState>(panel.webview)?.critic?.step, 10);
  });

  it('pushes nothing to a hidden dashboard; a shown one says ready again and gets everything', async () => {
    panel.setVisible(false);
    const count = panel.webview.posted.length;
    await store.refresh();
    writeRun(root, RUN_A);
    await store.refresh();
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(panel.webview.posted.length, count);
    panel.setVisible(true);
    panel.webview.send({ type: 'ready' });
    await until('a state after showing again', () => panel.webview.posted.length > count);
  });

  let inspector: FakePanel;

  it('"Inspect rollouts" opens the inspector at that step, which loads it after ready', async () => {
    panel.webview.send({ type: 'inspectRollouts', runId: RUN_A.id, step: 10 });
    inspector = await until('the inspector panel', () => recorded.panels.find((p) => p.viewType === 'pacs.rolloutInspector'));
    assert.ok(recorded.executed.some(([id, args]) => id === 'pacs.inspectRollouts' && JSON.stringify(args) === JSON.stringify([{ runId: RUN_A.id, step: 10 }])));
    inspector.webview.send({ type: 'ready' });
    const state = await until('the inspector state', () => {
      const last = lastState<RolloutsState>(inspector.webview);
      return last && last.total > 0 ? last : undefined;
    });
    assert.deepEqual([state.run?.id, state.step, state.mode, state.total], [RUN_A.id, 10, 'panel', RUN_A.prompts * RUN_A.n]);
    const chunks = inspector.webview.posted.filter((m) => m.type === 'samples');
    assert.equal(chunks.reduce((n, m) => n + (m.samples as unknown[]).length, 0), state.total);
    assert.ok(chunks.every((m) => m.loadId === state.loadId));
  });

  it('loads another step on request and hands a sample to pacs.scoreResponse', async () => {
    inspector.webview.send({ type: 'selectStep', step: 20 });
    const state = await until('step 20', () => lastState<RolloutsState>(inspector.webview)?.step === 20 && lastState<RolloutsState>(inspector.webview));
    await until('its samples', () => inspector.webview.posted.some((m) => m.type === 'samples' && m.loadId === state.loadId));
    const request = { runId: RUN_A.id, step: 20, group: 1, index: 2, prompt: '<b>1+1=</b>', response: '2' };
    inspector.webview.send({ type: 'rescore', request });
    const scored = recorded.executed.find(([id]) => id === 'pacs.scoreResponse');
    assert.deepEqual(scored, ['pacs.scoreResponse', [request]]);
  });

  it('the Rollouts view shows the run of the last focused dashboard, then the run it is told to follow', async () => {
    const webview = new FakeWebview();
    const view = { visible: true, webview, onDidChangeVisibility: () => ({ dispose() {} }), onDidDispose: () => ({ dispose() {} }) };
    recorded.viewProviders.get('pacs.rollouts')?.resolveWebviewView(view);
    webview.send({ type: 'ready' });
    const first = await until('the view state', () => lastState<RolloutsState>(webview));
    assert.deepEqual([first.mode, first.run?.id, first.step], ['view', RUN_A.id, RUN_A.steps]);
    rollouts.followRun(RUN_B.id);
    const followed = await until('the view on run B', () => lastState<RolloutsState>(webview)?.run?.id === RUN_B.id && lastState<RolloutsState>(webview));
    assert.equal(followed.step, RUN_B.steps);
    panel.setVisible(false);
    panel.setVisible(true);
    await until('the view back on the dashboard run', () => lastState<RolloutsState>(webview)?.run?.id === RUN_A.id);
  });

  it('restores dashboards and inspectors after a reload from their saved state', async () => {
    const restored = new FakePanel('pacs.dashboard', 'Dashboard', {});
    await recorded.serializers.get('pacs.dashboard')?.deserializeWebviewPanel(restored, { runIds: [RUN_A.id, RUN_B.id], criticRunId: RUN_B.id, criticStep: null });
    restored.webview.send({ type: 'ready' });
    const state = await until('the restored state', () => lastState<DashboardState>(restored.webview));
    assert.equal(restored.title, 'Compare 2 runs');
    assert.equal(state.criticRunId, RUN_B.id);
    assert.ok(state.configDiff.rows.some((r) => r.key === 'algorithm'));

    const broken = new FakePanel('pacs.dashboard', 'Dashboard', {});
    await recorded.serializers.get('pacs.dashboard')?.deserializeWebviewPanel(broken, { nonsense: true });
    assert.equal(broken.disposed, true);

    const tab = new FakePanel('pacs.rolloutInspector', 'Rollouts', {});
    await recorded.serializers.get('pacs.rolloutInspector')?.deserializeWebviewPanel(tab, { runId: RUN_B.id, step: 40 });
    tab.webview.send({ type: 'ready' });
    const tabState = await until('the restored inspector', () => lastState<RolloutsState>(tab.webview));
    assert.deepEqual([tabState.run?.id, tabState.step], [RUN_B.id, 40]);
    assert.notEqual(tabState.steps.at(-1), 40, 'the fixture has rollouts after step 40');

    // A tab that showed the newest step when it was saved follows the newest step again.
    const following = new FakePanel('pacs.rolloutInspector', 'Rollouts', {});
    await recorded.serializers.get('pacs.rolloutInspector')?.deserializeWebviewPanel(following, { runId: RUN_B.id, step: 40, following: true });
    following.webview.send({ type: 'ready' });
    const followingState = await until('the restored following inspector', () => lastState<RolloutsState>(following.webview));
    assert.equal(followingState.step, followingState.steps.at(-1));
  });

  it('the Runs tree\'s checkboxes open a comparison and add runs to it, leaving the focus in the tree', async () => {
    // Clearing every run of the open dashboards closes them.
    for (let open = 0; dashboard.comparedRuns().length && open < 10; open++) dashboard.setCompared(dashboard.comparedRuns(), false);
    assert.deepEqual(dashboard.comparedRuns(), [], 'no dashboard is open');
    dashboard.setCompared([RUN_A.id], true);
    const compare = recorded.panels.at(-1) as FakePanel;
    assert.equal(compare.viewType, 'pacs.dashboard');
    assert.equal(compare.preservedFocus, true, 'opened without taking the focus');
    dashboard.setCompared([RUN_B.id], true);
    assert.equal(recorded.panels.at(-1), compare, 'the run joins the open comparison');
    assert.deepEqual(dashboard.comparedRuns(), [RUN_A.id, RUN_B.id]);
    assert.equal(compare.title, 'Compare 2 runs');
    assert.equal(compare.preservedFocus, true, 'revealed without taking the focus');
    dashboard.setCompared([RUN_A.id, RUN_B.id], false);
    assert.equal(compare.disposed, true, 'removing its last run closes it');
  });

  it('disposes its commands and panels', () => {
    dashboard.dispose();
    rollouts.dispose();
    assert.equal(panel.disposed, true);
    assert.equal(inspector.disposed, true);
    for (const id of ['pacs.openDashboard', 'pacs.compareRuns', 'pacs.inspectRollouts']) assert.equal(recorded.commands.has(id), false, id);
    assert.equal(recorded.serializers.size, 0);
    assert.equal(recorded.viewProviders.size, 0);
  });
});
