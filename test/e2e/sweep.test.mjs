// A sweep as a user runs it, in a real VS Code (code-server): ▶ Sweep on a config with a `sweep:`
// section, the sweep's node in the Runs tree with its progress until it finishes, and Compare
// Sweep opening the dashboard on its runs with the parallel-coordinates chart and Optuna's
// parameter importance. Run through test/e2e/run.sh (`make test-e2e`).
import { before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { env, findFrame, openFile, pickFirstIfAsked, runCommand, screenshot, showRunsView, waitFor } from './workbench.mjs';
import { baseSettings, openSession, stages, waitForTreeRow } from './sessions.mjs';

const CONFIG = 'sweep-e2e.pacs.yaml';
const sweepsRoot = () => join(env.workspace, '.pacs', 'sweeps');
const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

describe('PACS Lab runs a sweep in a real VS Code', () => {
  before(() => {
    // The workspace's e2e arith config (small steps), a few steps long, as a 2-value grid × 2 seeds.
    const doc = parseDocument(readFileSync(join(env.workspace, 'arith.pacs.yaml'), 'utf8'));
    doc.set('name', 'swp');
    doc.set('device', 'cpu');
    doc.set('total_steps', 4);
    doc.set('eval_every', 2);
    doc.setIn(['optim', 'warmup_steps'], 2); // the warm-up must end before total_steps
    doc.set('sweep', doc.createNode({ parameters: { 'optim.lr': [0.0004, 0.001] }, seeds: [0, 1], parallel: 2 }));
    writeFileSync(join(env.workspace, CONFIG), doc.toString());
  });
  const session = openSession('sweep', { ...baseSettings, 'security.workspace.trust.enabled': false });
  const stage = stages(() => session.page);
  let sweepDir;

  stage('▶ Sweep on a config with a sweep section starts the sweep', async () => {
    const { page } = session;
    await openFile(page, CONFIG);
    const lens = page.locator('.codelens-decoration a').filter({ hasText: '▶ Sweep' }).first();
    await lens.waitFor({ timeout: 60_000 });
    await screenshot(page, 'sweep-codelens');
    await lens.click();
    // The extension makes the folder (with the captured code) before the trainer writes sweep.json in it.
    sweepDir = await waitFor('the sweep folder with its sweep.json', () => {
      const ids = (() => { try { return readdirSync(sweepsRoot()); } catch { return []; } })();
      return ids.length === 1 && existsSync(join(sweepsRoot(), ids[0], 'sweep.json')) ? join(sweepsRoot(), ids[0]) : undefined;
    }, { timeout: 120_000 });
    const info = readJson(join(sweepDir, 'sweep.json'));
    assert.equal(info.n_trials, 2);
    assert.equal(info.n_runs, 4);
    assert.equal(readJson(join(sweepDir, 'git.json')).dirty, true, 'the code was captured once for the sweep');
  });

  stage('the Runs tree shows the sweep\'s node, its progress and its runs under it, until it finishes', async () => {
    const { page } = session;
    await showRunsView(page);
    await waitForTreeRow(page, /Sweep swp.*(running|finished)/, 'the sweep node', 120_000);
    const done = await waitForTreeRow(page, /Sweep swp.*finished.*2 done · 0 running · 0 pruned · 0 failed of 2/, 'the finished sweep', 480_000);
    const info = readJson(join(sweepDir, 'sweep.json'));
    assert.equal(info.status, 'finished');
    assert.match(done, new RegExp(`best: trial ${info.best.trial}`), 'the node names the best trial');
    for (const trial of readJson(join(sweepDir, 'trials.json')).trials) {
      for (const run of trial.runs) await waitForTreeRow(page, new RegExp(`trial ${trial.number} · seed ${run.seed}`), `run ${run.run_id} under the sweep`, 30_000);
    }
    await screenshot(page, 'sweep-node');
  });

  stage('Compare Sweep opens the dashboard on its runs with the parallel-coordinates chart and the importance', async () => {
    const { page } = session;
    await runCommand(page, 'PACS: Compare Sweep');
    await pickFirstIfAsked(page);
    await page.locator('.tab').filter({ hasText: 'Compare 4 runs' }).first().waitFor({ timeout: 60_000 });
    const frame = await findFrame(page, 'the sweep section', '#chart-sweep-pcp');
    const progress = await frame.locator('#sweep-progress').innerText();
    assert.match(progress, /finished · 2 done · 0 running · 0 pruned · 0 failed of 2/);
    const label = await frame.locator('#chart-sweep-pcp').getAttribute('aria-label');
    assert.equal(label, 'Parallel coordinates: optim.lr, eval/accuracy of 2 trials');
    const drawn = await frame.locator('#chart-sweep-pcp').evaluate((canvas) => {
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
      return painted;
    });
    assert.ok(drawn > 500, `the chart is drawn (${drawn} painted pixels)`);
    const importance = readJson(join(sweepDir, 'importance.json'));
    if (importance.importance) {
      assert.deepEqual(await frame.locator('#sweep-importance tbody td:first-child').allInnerTexts(), Object.keys(importance.importance));
    } else {
      assert.match(await frame.locator('#sweep-importance-note').innerText(), new RegExp(importance.reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    }
    await screenshot(page, 'compare-sweep');
  });
});
