// A run going wrong as a user meets it, in a real VS Code (code-server 4.100.3): a learning rate
// 25× the default (constant 0.01) collapses the embedded default in one update, every group turns
// all wrong, and `no_signal` (2 steps, action pause) pauses the run. The alert pops up naming the
// rule and the step; Open Rollouts opens the inspector at that step; the dashboard marks the step on
// its charts and charts the prompt ledger's shares; the Diagnostics panel lists the prompts seen and
// the held-out problems the collapse broke; after a window reload the panel comes back and the
// paused run's alert is announced again, whose Resume makes the run go on. Run through
// test/e2e/run.sh (`make test-e2e`).
import { before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import {
  env, findFrame, listRuns, openFile, pickFirstIfAsked, readRunJson, runCommand, runsRoot, screenshot, waitFor, waitForWorkbench,
} from './workbench.mjs';
import { baseSettings, openSession, stages, waitForStatus, waitForStepAfter } from './sessions.mjs';

const CONFIG = 'collapse.pacs.yaml';
const jsonLines = (path) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).flatMap((line) => {
  try {
    return [JSON.parse(line)];
  } catch {
    return []; // a line being written
  }
}) : []);
const alertsOf = (runId) => jsonLines(join(runsRoot(), runId, 'events.jsonl')).filter((e) => e.type === 'alert');

/** The prompt ids of the run's ledger (every prompt of every step: docs/run-format.md). */
function ledgerPrompts(runId) {
  return new Set(jsonLines(join(runsRoot(), runId, 'ledger.jsonl')).flatMap((row) => row.new.map(([id]) => id)));
}

/** The steps the run's ledger records. */
const ledgerSteps = (runId) => new Set(jsonLines(join(runsRoot(), runId, 'ledger.jsonl')).map((row) => row.step)).size;

/** The held-out problems whose greedy answer changed between the first and the newest evaluation. */
function heldoutChanges(runId) {
  const dir = join(runsRoot(), runId, 'heldout');
  const files = readdirSync(dir).filter((f) => /^step-\d+\.jsonl$/.test(f)).sort();
  const [first, last] = [files[0], files.at(-1)].map((f) => new Map(jsonLines(join(dir, f)).map((r) => [r.id, r.greedy_correct])));
  return [...last].filter(([id, right]) => first.has(id) && first.get(id) !== right).map(([id]) => id);
}

/** The toast of `alert` (its text names the rule and the step) and its button `label`. */
function alertToastButton(page, alert, label) {
  const toast = page.locator('.notifications-toasts .notification-list-item')
    .filter({ hasText: new RegExp(`alert ${alert.rule} at step ${alert.step}\\b`) }).first();
  return { toast, button: toast.locator('.monaco-button').filter({ hasText: new RegExp(`^${label}$`) }).first() };
}

describe('PACS Lab tells why a run goes wrong, in a real VS Code', () => {
  before(() => {
    const doc = parseDocument(readFileSync(join(env.workspace, 'arith.pacs.yaml'), 'utf8'));
    doc.set('name', 'collapse');
    doc.set('device', 'cpu');
    doc.set('eval_every', 2);
    doc.setIn(['optim', 'schedule'], 'constant');
    doc.setIn(['optim', 'lr'], 0.01);
    doc.set('alerts', doc.createNode({ no_signal: { steps: 2, action: 'pause' } }));
    writeFileSync(join(env.workspace, CONFIG), doc.toString());
  });
  const session = openSession('diagnostics', { ...baseSettings, 'security.workspace.trust.enabled': false });
  const stage = stages(() => session.page);
  let runId;
  let alert;

  stage('▶ Train with a collapsing learning rate: the no_signal alert pauses the run and pops up naming the rule and the step', async () => {
    const { page } = session;
    const before = listRuns();
    await openFile(page, CONFIG);
    const train = page.locator('.codelens-decoration a').filter({ hasText: '▶ Train' }).first();
    await train.waitFor({ timeout: 120_000 });
    await train.click();
    runId = await waitFor('the launched run\'s folder', () => listRuns().find((id) => !before.includes(id)), { timeout: 60_000 });
    await waitForStatus(runId, 'paused', 180_000);
    [alert] = alertsOf(runId);
    assert.equal(alert?.rule, 'no_signal', JSON.stringify(alertsOf(runId)));
    assert.equal(alert.action, 'pause');
    assert.equal(readRunJson(runId).step, alert.step, 'paused at the end of the alert\'s step');
    const { toast } = alertToastButton(page, alert, 'Open Rollouts');
    await toast.waitFor({ timeout: 60_000 });
    const text = await toast.innerText();
    assert.match(text, new RegExp(`run ${runId}: alert no_signal at step ${alert.step}: 100% of the groups agree`), text);
    assert.match(text, /The run pauses at the end of this step/);
    await screenshot(page, 'alert-toast');
  });

  stage('the alert\'s Open Rollouts opens the inspector at the alert\'s step', async () => {
    const { page } = session;
    await alertToastButton(page, alert, 'Open Rollouts').button.click();
    const frame = await findFrame(page, 'the rollout inspector\'s samples', '#sample-list .sample-row');
    await waitFor(`the inspector at step ${alert.step}`, async () =>
      (await frame.locator('#step-picker').evaluate((picker) => picker.value)) === String(alert.step), { timeout: 30_000 });
    // every group of the collapsed step is all wrong
    const rewards = await frame.locator('#sample-list .sample-row').evaluateAll((rows) => rows.map((r) => Number(r.dataset.reward)));
    assert.ok(rewards.length > 0 && rewards.every((r) => r === 0), `all wrong: ${rewards}`);
    await screenshot(page, 'alert-open-rollouts');
  });

  stage('the dashboard marks the alert\'s step on its metric charts and charts the prompt ledger\'s shares', async () => {
    const { page } = session;
    await runCommand(page, 'PACS: Open Dashboard');
    await pickFirstIfAsked(page);
    const frame = await findFrame(page, 'the dashboard\'s reward chart', '#chart-reward[data-alerts]');
    const reward = frame.locator('#chart-reward');
    assert.equal(await reward.getAttribute('data-alerts'), '1', 'one marker: the run\'s one alert');
    assert.match(await reward.getAttribute('data-alert-key') ?? '', new RegExp(`^${alert.step}:`), 'at the alert\'s step');
    await screenshot(page, 'dashboard-alert-marker');
    // its Prompts section charts the ledger's status and group shares, one point per step up to the pause
    const steps = ledgerSteps(runId);
    for (const id of ['chart-prompt-status', 'chart-group-shares']) {
      await waitFor(`the dashboard's ${id} to hold the ledger's ${steps} steps`, async () =>
        (await frame.locator(`#${id}`).getAttribute('data-points')) === String(steps), { timeout: 30_000 });
      assert.equal(await frame.locator(`#${id}`).getAttribute('data-last-step'), String(alert.step));
    }
    await frame.locator('#prompt-health').scrollIntoViewIfNeeded();
    await screenshot(page, 'dashboard-prompt-health');
  });

  stage('Open Diagnostics lists every prompt seen (Prompts) and the held-out problems the collapse broke (Held-out)', async () => {
    const { page } = session;
    await runCommand(page, 'PACS: Open Diagnostics');
    await pickFirstIfAsked(page);
    const frame = await findFrame(page, 'the Prompts tab\'s rows', '#prompt-table .prompt-row');
    const prompts = ledgerPrompts(runId);
    await waitFor(`the Prompts tab to list the ${prompts.size} prompts of the ledger`, async () =>
      (await frame.locator('#prompt-table .prompt-row').count()) === prompts.size);
    const statuses = await frame.locator('#prompt-table .prompt-row').evaluateAll((rows) => rows.map((r) => r.dataset.status));
    assert.ok(!statuses.includes('always solved'), `no prompt is solved after the collapse: ${statuses}`);
    await screenshot(page, 'diagnostics-prompts');
    await frame.locator('#tab-heldout').click();
    const broken = heldoutChanges(runId);
    assert.ok(broken.length > 0, 'the collapse broke some held-out problems the model solved at step 0');
    await waitFor(`the Held-out tab to list the ${broken.length} broken problems`, async () =>
      (await frame.locator('#heldout-table .heldout-row.broken').count()) === broken.length);
    assert.deepEqual((await frame.locator('#heldout-table .heldout-row td:nth-child(3)').allInnerTexts()).sort(), broken.sort());
    await screenshot(page, 'diagnostics-heldout');
  });

  stage('after Reload Window the Diagnostics panel is back on its tab, and the paused run\'s alert again; its Resume makes the run go on', async () => {
    const { page } = session;
    const reloaded = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame(), timeout: 60_000 });
    await runCommand(page, 'Developer: Reload Window');
    await reloaded;
    await waitForWorkbench(page);
    await page.locator('.tab').filter({ hasText: `Diagnostics · ${runId}` }).first().click({ timeout: 60_000 });
    const frame = await findFrame(page, 'the restored Held-out tab\'s rows', '#heldout-table .heldout-row', { timeout: 120_000 });
    assert.equal(await frame.locator('#tab-heldout').getAttribute('aria-selected'), 'true', 'restored on the tab it showed');
    const { button } = alertToastButton(page, alert, 'Resume');
    await button.waitFor({ timeout: 60_000 });
    await screenshot(page, 'alert-again-after-reload');
    await button.click();
    await waitForStatus(runId, 'running');
    await waitForStepAfter(runId, alert.step);
    await screenshot(page, 'alert-resumed');
  });
});
