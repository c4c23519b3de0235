// Browser test of the diagnostics panel (dist/webview/diagnostics.js) on a run the real trainer
// wrote (test/webview/fixtures/diagnostics-run: the embedded default, 120 steps over 96 training
// prompts, evaluations at 0, 40, 80, 120), with a prompt id carrying markup added to its ledger.
// The state comes from the extension's own reader (src/diagnostics/diagnosticsState.ts).
//   node --import tsx test/webview/diagnosticsTests.ts [RUNS_ROOT RUN_ID]   (screenshots to test-results/webview/)
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RunStore } from '../../src/runs/model/runStore';
import { dashboardState } from '../../src/dashboard/model/dashboardState';
import { diagnosticsState } from '../../src/diagnostics/model/diagnosticsState';
import { PromptHealthReader } from '../../src/diagnostics/model/promptHealth';
import { launchChromium } from './browser';
import { PAYLOADS } from './fixtures';
import { THEMES } from './themes';
import { openPage, waitForRenders } from './harness';

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
/* eslint-enable @typescript-eslint/no-explicit-any */

const REPO = resolve(__dirname, '..', '..');
const OUT = join(REPO, 'test-results', 'webview');
const FIXTURE = join(REPO, 'test', 'webview', 'fixtures', 'diagnostics-run');
const RUN_ID = '20261207-133000-arith-diag';

async function main(root: string, runId: string, own: boolean): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const store = new RunStore({ roots: [root], detectCrashes: false });
  await store.refresh();
  const read = await diagnosticsState(store, runId);
  // as DashboardPanel.buildState: the runs' prompt ledgers beside the state
  const run = store.get(runId);
  const dashboard = { ...dashboardState(store, [runId], runId, new Map(), null), prompts: await new PromptHealthReader().charts(run ? [run] : []) };
  store.dispose();
  assert.ok(read, `no run ${runId} under ${root}`);
  const { state } = read;
  const browser = await launchChromium();
  try {
    const page = await openPage(browser, { bundle: 'diagnostics', theme: THEMES[1], width: 1280, height: 1000 });
    await page.send([{ type: 'state', state }]);
    await waitForRenders(page.page, 1);
    await page.page.screenshot({ path: join(OUT, 'diagnostics-prompts.png'), fullPage: false });
    const rows = await page.page.locator('#prompt-table tbody tr').count();
    assert.equal(rows, Math.min(500, state.prompts.length));
    if (!own) {
      // the real run has learned and never-solved prompts, and the markup id stays text
      const statuses = new Set(state.prompts.map((p) => p.status));
      assert.ok(statuses.has('learned') && statuses.has('never solved'), [...statuses].join(', '));
      await page.page.fill('#prompt-search', 'img');
      await page.page.waitForFunction(() => document.querySelectorAll('#prompt-table tbody tr').length === 1);
      assert.equal(await page.page.locator('#prompt-table tbody td').first().textContent(), PAYLOADS.img);
      assert.equal(await page.page.locator('img').count(), 0, 'a prompt id is never markup');
      await page.page.fill('#prompt-search', '');
    }
    // filter by status: only that status's rows
    await page.page.selectOption('#prompt-status', 'learned');
    const learned = state.prompts.filter((p) => p.status === 'learned').length;
    await page.page.waitForFunction((n: number) => document.querySelectorAll('#prompt-table tbody tr').length === n, Math.min(500, learned));
    assert.deepEqual(new Set(await page.page.locator('#prompt-table tbody tr').evaluateAll((trs) => trs.map((tr) => (tr as { dataset: { status?: string } }).dataset.status))),
      new Set(learned ? ['learned'] : []));
    // drill-down: a click asks the host for the prompt's recorded groups, which render side by side
    if (learned) {
      const first = state.prompts.find((p) => p.status === 'learned')!;
      await page.page.locator('#prompt-table tbody tr').first().click();
      const asked = (await page.posted()).filter((m) => m.type === 'prompt');
      assert.equal(asked.length, 1);
      const id = asked[0].id as string;
      assert.ok(state.prompts.some((p) => p.id === id && p.status === 'learned'), `${id} vs ${first.id}`);
      await page.send([{ type: 'promptDetail', detail: { id, unrecorded: [3], groups: [{ step: 5, samples: [
        { index: 0, reward: 1, psi: 0.4, response: PAYLOADS.script }, { index: 1, reward: 0, psi: -0.2, response: '12' }] }] } }]);
      await page.page.waitForSelector('#prompt-detail .prompt-sample');
      assert.equal(await page.page.locator('#prompt-detail .prompt-sample').count(), 2);
      assert.equal(await page.page.locator('#prompt-detail .prompt-sample pre').first().textContent(), PAYLOADS.script);
      await page.page.screenshot({ path: join(OUT, 'diagnostics-prompt-detail.png'), fullPage: true });
    }
    // held-out: fixed and broken since the first evaluation, each row asks for its responses
    await page.page.click('#tab-heldout');
    assert.equal(await page.page.locator('#prompts-pane').isHidden(), true);
    const changes = await page.page.locator('#heldout-table tbody tr').count();
    if (state.evaluations.length >= 2) {
      const [a, b] = [state.evaluations[0], state.evaluations[state.evaluations.length - 1]];
      const before = new Map(a.results.map((r) => [`${r.set}/${r.id}`, r.greedyCorrect]));
      const expected = b.results.filter((r) => before.has(`${r.set}/${r.id}`) && before.get(`${r.set}/${r.id}`) !== r.greedyCorrect).length;
      assert.equal(changes, expected);
      if (!own) assert.ok(changes > 0, 'training fixed or broke some held-out problems');
    }
    if (changes) {
      await page.page.locator('#heldout-table tbody tr').first().click();
      assert.equal((await page.posted()).filter((m) => m.type === 'heldout').length, 1);
    }
    await page.page.screenshot({ path: join(OUT, 'diagnostics-heldout.png'), fullPage: false });
    // a split of two data sources: a row per source with its accuracy, and the filter narrows both tables
    const evaluation = (step: number, rights: boolean[]) => ({ step, results: rights.map((greedyCorrect, i) =>
      ({ set: null, id: `p${i}`, source: i < 2 ? 'AIME' : PAYLOADS.img, greedyCorrect, correct: 0, samples: 1 })) });
    await page.send([{ type: 'state', state: { ...state, evaluations: [evaluation(0, [false, false, true, true]), evaluation(10, [true, false, false, true])] } }]);
    await waitForRenders(page.page, 2);
    const cells = (table: string) => page.page.locator(`#${table} tbody tr`).evaluateAll((trs) => trs.map((tr) => Array.from((tr as { cells: ArrayLike<{ textContent: string }> }).cells, (c) => c.textContent)));
    assert.deepEqual(await cells('heldout-groups'), [['eval', 'AIME', '2', '0% → 50%', '1', '0'], ['eval', PAYLOADS.img, '2', '100% → 50%', '0', '1']]);
    assert.equal(await page.page.locator('#heldout-table tbody tr').count(), 2);
    assert.equal(await page.page.locator('#heldout-source').isVisible(), true);
    await page.page.selectOption('#heldout-source', { label: PAYLOADS.img });
    await page.page.waitForFunction(() => document.querySelectorAll('#heldout-table tbody tr').length === 1);
    assert.deepEqual((await cells('heldout-table'))[0].slice(1, 4), [PAYLOADS.img, 'p2', 'broken']);
    assert.deepEqual((await cells('heldout-groups')).map((row) => row[1]), [PAYLOADS.img]);
    assert.equal(await page.page.locator('#heldout-summary').textContent(), 'Step 0 → 10: 0 fixed, 1 broken.');
    assert.equal(await page.page.locator('img').count(), 0, 'a data source is never markup');
    await page.page.screenshot({ path: join(OUT, 'diagnostics-heldout-sources.png'), fullPage: false });
    assert.deepEqual(page.problems, []);
    await page.close();
    // the dashboard marks each alert's step on every metric chart (the step axis)
    const board = await openPage(browser, { bundle: 'dashboard', theme: THEMES[1], width: 1280, height: 900 });
    await board.send([{ type: 'state', state: dashboard }]);
    await waitForRenders(board.page, 1);
    const marked = await board.page.locator('canvas[data-alerts]').evaluateAll((cs) => cs.map((c) => (c as { dataset: { alerts: string } }).dataset.alerts));
    assert.equal(marked.length, dashboard.families.length);
    assert.deepEqual(new Set(marked), new Set([String(dashboard.alerts?.length ?? 0)]));
    if (!own) assert.equal(dashboard.alerts?.length, 1);
    await board.page.screenshot({ path: join(OUT, 'diagnostics-dashboard-markers.png') });
    // the dashboard's Prompts section: the same status and group shares as the panel's, over the ledger's steps
    const [ledger] = dashboard.prompts.ledgers;
    assert.ok(ledger, 'the run has a prompt ledger');
    assert.equal(await board.page.locator('#prompt-health').isVisible(), true);
    assert.match(await board.page.locator('#prompt-health-summary').innerText(), new RegExp(`${ledger.steps} steps of its prompt ledger`));
    for (const id of ['chart-prompt-status', 'chart-group-shares']) {
      const canvas = board.page.locator(`#${id}`);
      assert.equal(await canvas.getAttribute('data-points'), String(state.shares.length), id);
      assert.equal(await canvas.getAttribute('data-last-step'), String(state.shares.at(-1)?.step), id);
      const painted = await canvas.evaluate((c) => {
        const { width, height } = c as { width: number; height: number };
        const data = (c as { getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } })
          .getContext('2d').getImageData(0, 0, width, height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
        return n;
      });
      assert.ok(painted > 2000, `${id} is drawn (${painted} painted pixels)`);
    }
    // the dashboard charts the shares the Diagnostics panel charts (under 400 steps: none thinned)
    const ys = (family: string, metric: string) => dashboard.prompts.families.find((f) => f.id === family)?.series.find((s) => s.metric === metric)?.ys;
    assert.deepEqual(ys('prompt-status', 'learned'), state.shares.map((s) => s.status.learned));
    assert.deepEqual(ys('group-shares', 'all wrong'), state.shares.map((s) => s.allWrong));
    await board.page.locator('#prompt-health').scrollIntoViewIfNeeded();
    await board.page.screenshot({ path: join(OUT, 'dashboard-prompt-health.png') });
    // a run without a ledger: no Prompts section
    await board.send([{ type: 'state', state: { ...dashboard, prompts: { families: [], ledgers: [], withoutLedger: [runId] } } }]);
    await waitForRenders(board.page, 2);
    assert.equal(await board.page.locator('#prompt-health').isHidden(), true);
    assert.deepEqual(board.problems, []);
    await board.close();
  } finally {
    await browser.close();
  }
}

const [rootArg, runArg] = process.argv.slice(2);
let cleanup = (): void => undefined;
let root = rootArg;
if (!rootArg) {
  root = mkdtempSync(join(tmpdir(), 'pacs-diag-'));
  cleanup = () => rmSync(root, { recursive: true, force: true });
  cpSync(join(FIXTURE, RUN_ID), join(root, RUN_ID), { recursive: true });
  // a prompt whose id is markup, solved once and never again
  appendFileSync(join(root, RUN_ID, 'ledger.jsonl'), `${JSON.stringify({ step: 120, new: [[PAYLOADS.img, null]], p: [96], c: [0], n: 8 })}\n`);
  // and an alert, for the dashboard's markers
  appendFileSync(join(root, RUN_ID, 'events.jsonl'), `${JSON.stringify({ t: 1796650000, type: 'alert', step: 60, rule: 'no_signal', value: 0.95, threshold: 0.9, action: 'pause', message: 'groups agree' })}\n`);
}
main(root, runArg ?? RUN_ID, Boolean(rootArg))
  .then(() => console.log('diagnostics webview: ok'))
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
