// Comparing runs as a user does, in a real VS Code (code-server 4.100.3): runs picked with the Runs
// tree's checkboxes, the runs table, seed groups, the x axis, log scale, the metric filter, CSV and
// PNG export through the save dialog, and the charts' data tables by keyboard. Run through
// test/e2e/run.sh (`make test-e2e`).
import { before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';
import { env, findFrame, readRunJson, runsRoot, screenshot, showRunsView, waitFor } from './workbench.mjs';
import { baseSettings, openSession, shownNumber, stages } from './sessions.mjs';

const STEPS = 8;
/** Three runs that differ only by seed, and one with another learning rate. */
const RUNS = [
  { seed: 0, lr: null },
  { seed: 1, lr: null },
  { seed: 2, lr: null },
  { seed: 0, lr: '0.001' },
];

/**
 * Trains the runs for real with the trainer's CLI (`python -m pacslab train`) on the workspace's
 * e2e arith config, a few tiny steps each, two at a time; returns their ids in RUNS' order.
 */
async function trainRuns() {
  const run = promisify(execFile);
  const ids = [];
  for (let i = 0; i < RUNS.length; i += 2) {
    const made = await Promise.all(RUNS.slice(i, i + 2).map(async ({ seed, lr }) => {
      const sets = ['name=cmp', 'device=cpu', `seed=${seed}`, `total_steps=${STEPS}`, 'optim.warmup_steps=2', ...(lr ? [`optim.lr=${lr}`] : [])];
      const args = ['-m', 'pacslab', 'train', join(env.workspace, 'arith.pacs.yaml'), '--runs-root', runsRoot(), ...sets.flatMap((s) => ['--set', s])];
      const { stdout } = await run(env.python, args, { cwd: env.workspace, env: process.env, timeout: 300_000 })
        .catch((error) => { throw new Error(`${env.python} ${args.join(' ')} failed: ${error.stderr || error.message}`); });
      const dir = /run finished: (.+)$/m.exec(stdout)?.[1];
      assert.ok(dir, `the trainer names the finished run: ${stdout.slice(-500)}`);
      return dir.trim().split('/').pop();
    }));
    ids.push(...made);
  }
  for (const id of ids) assert.equal(readRunJson(id).status, 'finished', `run ${id} finished`);
  return ids;
}

/** A run's metrics events: step → {t, values}. */
function metricsOf(runId) {
  const steps = new Map();
  for (const line of readFileSync(join(runsRoot(), runId, 'events.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const event = JSON.parse(line);
    if (event.type !== 'metrics') continue;
    const at = steps.get(event.step) ?? { t: event.t, values: {} };
    Object.assign(at.values, event.values);
    steps.set(event.step, at);
  }
  return steps;
}

/** The points of one metric, by step. */
function seriesOf(runId, metric) {
  return [...metricsOf(runId)].filter(([, at]) => Number.isFinite(at.values[metric])).map(([step, at]) => ({ step, t: at.t, value: at.values[metric] }))
    .sort((a, b) => a.step - b.step);
}

/**
 * The metrics under `prefix` that a chart draws for the run: those that move (a series that
 * never does is named in the chart's note instead).
 */
function movingMetrics(runId, prefix) {
  const values = new Map();
  for (const at of metricsOf(runId).values()) {
    for (const [metric, value] of Object.entries(at.values)) {
      if (metric.startsWith(prefix) && Number.isFinite(value)) values.set(metric, [...(values.get(metric) ?? []), value]);
    }
  }
  return [...values].filter(([, vs]) => vs.length < 2 || Math.max(...vs) - Math.min(...vs) > 1e-9 * Math.max(...vs.map(Math.abs))).map(([m]) => m);
}

/** The dashboard's reward column: the mean of `reward/mean` over the run's last tenth of steps (src/dashboard/model/charts.ts). */
function recentReward(runId) {
  const points = seriesOf(runId, 'reward/mean');
  const window = points.slice(-Math.max(1, Math.ceil(points.length / 10)));
  return window.reduce((sum, p) => sum + p.value, 0) / window.length;
}

function meanStd(values) {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { mean, std: Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) };
}

const close = (a, b) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

/** The PNG's size, whether its pixels hold more than a blank canvas (several distinct byte values) and whether its corner is opaque. */
function pngFacts(bytes) {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  assert.ok(signature.every((b, i) => bytes[i] === b), 'the file starts with the PNG signature');
  const chunks = [];
  for (let at = 8; at < bytes.length;) {
    const length = bytes.readUInt32BE(at);
    chunks.push({ type: bytes.toString('ascii', at + 4, at + 8), data: bytes.subarray(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  const header = chunks.find((c) => c.type === 'IHDR');
  assert.ok(header, 'the PNG has an IHDR chunk');
  const pixels = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  // Row 0's first pixel follows its filter byte unchanged whatever the filter (it has no left or upper neighbour).
  const colorType = header.data[9];
  const opaqueCorner = colorType === 2 || (colorType === 6 && pixels[4] === 255);
  return { width: header.data.readUInt32BE(0), height: header.data.readUInt32BE(4), distinct: new Set(pixels).size, opaqueCorner, end: chunks.at(-1)?.type };
}

describe('PACS Lab compares runs in a real VS Code', () => {
  let ids = [];
  // Registered first: the runs are there when code-server starts.
  before(async () => {
    mkdirSync(join(env.work, 'exports'), { recursive: true });
    ids = await trainRuns();
  });
  const session = openSession('compare', { ...baseSettings, 'security.workspace.trust.enabled': false });
  const stage = stages(() => session.page);
  let frame;
  const lrRun = () => ids[3];
  const seedRuns = () => ids.slice(0, 3);
  const attr = (selector, name) => frame.locator(selector).first().getAttribute(name);
  const rendersNow = async () => Number(await frame.locator('body').getAttribute('data-renders'));
  /** Waits for the dashboard to redraw after `action`. */
  async function redraw(what, action) {
    const before = await rendersNow();
    await action();
    await waitFor(`the dashboard to redraw after ${what}`, async () => (await rendersNow()) > before, { timeout: 15_000 });
  }
  /** Saves through VS Code's own save dialog (the simple file dialog in code-server): the path typed, Enter. */
  async function saveAs(path, extension) {
    const { page } = session;
    const input = page.locator('.quick-input-widget input.input');
    await waitFor('the save dialog', async () => (await page.locator('.quick-input-widget').isVisible()) && (await input.inputValue()).endsWith(extension), { timeout: 30_000 });
    await input.fill(path);
    await waitFor(`the save dialog to hold ${path}`, async () => (await input.inputValue()) === path, { timeout: 10_000 });
    await input.press('Enter');
    // The dialog may still be listing the typed folder when Enter comes: it stays open holding the path, so Enter again.
    await waitFor(`${path} to be written`, async () => {
      if (existsSync(path) && statSync(path).size > 0) return true;
      if (await page.locator('.quick-input-widget').isVisible() && (await input.inputValue()) === path) await input.press('Enter');
      return false;
    }, { timeout: 30_000, interval: 2_000 });
  }

  stage('the Runs tree\'s checkboxes add runs to a comparison dashboard', async () => {
    const { page } = session;
    await showRunsView(page);
    const pane = page.locator('.pane').filter({ has: page.locator('.pane-header', { hasText: /^\s*Runs/i }) });
    const box = (id) => pane.locator(`.monaco-list-row[aria-label*="${id}"] .custom-view-tree-node-item-checkbox`);
    for (const id of ids) {
      await box(id).waitFor({ timeout: 60_000 });
      assert.equal(await box(id).getAttribute('aria-checked'), 'false', `run ${id} starts outside any comparison`);
    }
    const focusInTree = () => pane.evaluate((el) => el.contains(el.ownerDocument.activeElement));
    for (const [i, id] of ids.entries()) {
      await box(id).click();
      await waitFor(`the checkbox of ${id} to be checked`, async () => (await box(id).getAttribute('aria-checked')) === 'true', { timeout: 30_000 });
      if (i === 0) await page.locator('.tab').filter({ hasText: 'Dashboard: cmp' }).first().waitFor({ timeout: 60_000 });
      assert.equal(await focusInTree(), true, `the focus stays in the Runs tree after ticking run ${i + 1}, so the next can be ticked`);
    }
    await page.locator('.tab').filter({ hasText: `Compare ${ids.length} runs` }).first().waitFor({ timeout: 60_000 });
    frame = await findFrame(page, 'the comparison\'s runs table', '#scores tbody tr');
    await waitFor('the runs table to list the four runs', async () => {
      const shown = await frame.locator('#scores tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.runId));
      return shown.length === ids.length && ids.every((id) => shown.includes(id));
    }, { timeout: 60_000 });
    await screenshot(page, 'compare-from-tree');
  });

  stage('the runs table shows each run\'s status, steps, reward and the config keys that differ', async () => {
    for (const id of ids) {
      const row = frame.locator(`#scores tr[data-run-id="${id}"]`);
      assert.equal(await row.locator('td[data-col="status"]').getAttribute('data-value'), 'finished');
      assert.equal((await row.locator('td[data-col="step"]').innerText()).trim(), `${STEPS}/${STEPS}`);
      const reward = row.locator('td[data-col="reward"]');
      const shown = Number(await reward.getAttribute('data-value'));
      assert.ok(close(shown, recentReward(id)), `the reward of ${id}: ${shown}, its events say ${recentReward(id)}`);
      assert.equal((await reward.innerText()).trim(), shownNumber(shown, 3));
      const config = readRunJson(id);
      assert.equal((await row.locator('td[data-col="config:seed"]').innerText()).trim(), String(config.seed));
      const lr = (await row.locator('td[data-col="config:optim.lr"]').innerText()).trim();
      assert.equal(Number(lr), id === lrRun() ? 0.001 : 0.0004, `the learning rate of ${id}: ${lr}`);
    }
    // All four are named cmp (one config): each row and legend names its run by the end of its id too.
    const names = await frame.locator('#scores tbody th').allInnerTexts();
    assert.deepEqual(names.map((n) => n.trim()).sort(), ids.map((id) => `cmp · ${id.slice(-4)}`).sort(), 'the runs are told apart');
    const keys = await frame.locator('#config-diff tbody tr[data-key]').evaluateAll((rows) => rows.map((r) => r.dataset.key));
    assert.deepEqual(keys.filter((k) => k !== 'commit').sort(), ['optim.lr', 'seed'], 'only the seed and the learning rate differ');
  });

  stage('a run toggled off in the table leaves the charts, the prompt ledger\'s too, and comes back when toggled on', async () => {
    const series = async () => Number(await attr('#chart-reward', 'data-series'));
    const ledgerRuns = async () => ((await attr('#chart-group-shares', 'data-runs')) ?? '').split(' ').filter(Boolean).sort();
    await waitFor('the Prompts charts to draw every compared run\'s ledger', async () =>
      JSON.stringify(await ledgerRuns()) === JSON.stringify([...ids].sort()), { timeout: 30_000 });
    const all = await series();
    const own = movingMetrics(lrRun(), 'reward/').length;
    assert.ok(own > 0, 'the run\'s reward moves');
    assert.equal(all, ids.reduce((sum, id) => sum + movingMetrics(id, 'reward/').length, 0), 'the reward chart draws every run\'s moving reward metrics');
    const toggle = frame.locator(`#scores input.run-toggle[data-run-id="${lrRun()}"]`);
    await redraw('the run toggled off', () => toggle.click());
    assert.equal(await toggle.isChecked(), false);
    assert.equal(await series(), all - own, 'the run\'s reward lines leave the chart');
    assert.ok(await frame.locator(`#scores tr[data-run-id="${lrRun()}"].run-hidden`).count(), 'its row is marked hidden');
    assert.deepEqual(await ledgerRuns(), ids.filter((id) => id !== lrRun()).sort(), 'its ledger lines leave the Prompts charts');
    await screenshot(session.page, 'compare-run-toggled-off');
    await redraw('the run toggled on', () => toggle.click());
    assert.equal(await series(), all, 'the run\'s lines are back');
    assert.deepEqual(await ledgerRuns(), [...ids].sort(), 'and its ledger lines');
  });

  stage('Group seeds draws the seeds\' mean ± std band and the table shows mean ± std', async () => {
    await frame.locator('#smoothing').press('Home'); // unsmoothed: the band is over the logged values
    await waitFor('the charts unsmoothed', async () => (await attr('#chart-reward', 'data-smoothing')) === '0', { timeout: 15_000 });
    assert.equal(await frame.locator('#seed-controls').isVisible(), true, 'offered: three runs differ only by seed');
    assert.equal(await attr('#chart-reward', 'data-groups'), '0');
    await redraw('Group seeds', () => frame.locator('#group-seeds').check());
    const metrics = new Set(seedRuns().flatMap((id) => movingMetrics(id, 'reward/')));
    assert.equal(Number(await attr('#chart-reward', 'data-groups')), metrics.size, 'one mean line per reward metric of the group');
    // The first group line is the first metric by name; its newest point is the seeds' mean ± std there.
    const first = [...metrics].sort()[0];
    const lastOf = seedRuns().map((id) => seriesOf(id, first).at(-1).value);
    const band = JSON.parse(await attr('#chart-reward', 'data-group-last'));
    assert.ok(close(band.mean, meanStd(lastOf).mean) && close(band.std, meanStd(lastOf).std), `${first} at the last step: ${JSON.stringify(band)}, the seeds logged ${lastOf}`);
    const row = frame.locator('#seed-groups tbody tr');
    assert.equal(await row.count(), 1, 'the run with another learning rate is in no group');
    assert.match(await row.locator('th').innerText(), /cmp \(3 seeds\)/);
    const expected = meanStd(seedRuns().map(recentReward));
    const cell = row.locator('td[data-col="reward"]');
    assert.ok(close(Number(await cell.getAttribute('data-mean')), expected.mean), `the group's mean reward: ${await cell.getAttribute('data-mean')} vs ${expected.mean}`);
    assert.ok(close(Number(await cell.getAttribute('data-std')), expected.std), `its std: ${await cell.getAttribute('data-std')} vs ${expected.std}`);
    assert.equal((await cell.innerText()).trim(), `${shownNumber(expected.mean, 3)} ± ${shownNumber(expected.std, 3)}`);
    await screenshot(session.page, 'compare-seed-group');
  });

  stage('the x axis switches to relative time and to wall-clock time', async () => {
    const points = ids.flatMap((id) => seriesOf(id, 'reward/mean').map((p) => ({ ...p, id })));
    const starts = new Map(ids.map((id) => [id, Math.min(...[...metricsOf(id).values()].map((at) => at.t))]));
    const longest = Math.max(...points.map((p) => p.t - starts.get(p.id)));
    const newest = Math.max(...points.map((p) => p.t));
    await redraw('the relative x axis', () => frame.locator('#x-axis').selectOption('relative'));
    assert.equal(await attr('#chart-reward', 'data-x-axis'), 'relative');
    const relMax = Number(await attr('#chart-reward', 'data-x-max'));
    assert.ok(relMax >= longest && relMax < longest * 1.2 + 60, `seconds since each run started: axis to ${relMax}, the longest run ${longest}`);
    assert.equal(await attr('#chart-reward', 'data-groups'), '0', 'seed groups are drawn on the step axis only');
    await redraw('the wall-clock x axis', () => frame.locator('#x-axis').selectOption('wall'));
    const wallMax = Number(await attr('#chart-reward', 'data-x-max'));
    assert.ok(wallMax >= newest * 1000 && wallMax < (newest + 3600) * 1000, `milliseconds of the clock: ${wallMax} for ${newest * 1000}`);
    await screenshot(session.page, 'compare-wall-clock');
    await redraw('the step x axis', () => frame.locator('#x-axis').selectOption('step'));
    const stepMax = Number(await attr('#chart-reward', 'data-x-max'));
    assert.ok(stepMax >= STEPS && stepMax < STEPS + 2, `steps again: the axis ends at ${stepMax}`);
    assert.ok(Number(await attr('#chart-reward', 'data-groups')) > 0, 'the seed group is back on the step axis');
  });

  stage('"log y" draws the loss chart on a logarithmic axis, that chart only', async () => {
    await redraw('log y', () => frame.locator('#card-loss .log-toggle').click());
    assert.equal(await attr('#chart-loss', 'data-y-type'), 'logarithmic');
    assert.equal(await attr('#chart-reward', 'data-y-type'), 'linear', 'only the chart toggled');
    assert.equal(await attr('#card-loss .log-toggle', 'aria-pressed'), 'true');
    assert.ok(Number(await attr('#chart-loss', 'data-y-min')) > 0, 'a log axis starts above 0');
    await screenshot(session.page, 'compare-log-loss');
  });

  stage('the metric filter hides the charts that do not match', async () => {
    const cards = () => frame.locator('#charts figure.chart-card:not([hidden]) canvas').evaluateAll((canvases) => canvases.map((c) => c.id));
    const before = await cards();
    assert.ok(before.length > 3 && before.includes('chart-loss'), `charts before filtering: ${before}`);
    await frame.locator('#metric-filter').fill('reward');
    await waitFor('only the reward chart to stay', async () => JSON.stringify(await cards()) === JSON.stringify(['chart-reward']), { timeout: 15_000 });
    assert.equal(await frame.locator('#card-loss').isHidden(), true);
    await screenshot(session.page, 'compare-filtered');
  });

  stage('Export CSV saves the shown series through the save dialog: filtered metrics, runs toggled off left out', async () => {
    await redraw('the run toggled off', () => frame.locator(`#scores input.run-toggle[data-run-id="${lrRun()}"]`).click());
    await frame.locator('#export-csv').click();
    const file = join(env.work, 'exports', 'compare.csv');
    await saveAs(file, '.csv');
    const [header, ...rows] = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(header, 'run,metric,step,t,value');
    const parsed = rows.map((line) => {
      const [run, metric, step, t, value] = line.split(',');
      return { run, metric, step: Number(step), t: Number(t), value: Number(value) };
    });
    assert.deepEqual([...new Set(parsed.map((r) => r.run))].sort(), [...seedRuns()].sort(), 'the runs on the charts, not the one toggled off');
    const metrics = [...new Set(parsed.map((r) => r.metric))];
    assert.ok(metrics.length > 0 && metrics.every((m) => m.startsWith('reward/')), `only the filtered chart's metrics: ${metrics}`);
    for (const id of seedRuns()) {
      for (const metric of metrics) {
        const expected = seriesOf(id, metric);
        const got = parsed.filter((r) => r.run === id && r.metric === metric);
        assert.deepEqual(got.map((r) => [r.step, r.value]), expected.map((p) => [p.step, p.value]), `${id} ${metric}: every logged point`);
        assert.ok(got.every((r, i) => close(r.t, expected[i].t)), `${id} ${metric}: the event times`);
      }
    }
    await redraw('the run toggled on', () => frame.locator(`#scores input.run-toggle[data-run-id="${lrRun()}"]`).click());
  });

  stage('PNG saves the reward chart as an image through the save dialog', async () => {
    await frame.locator('#card-reward .png-export').click();
    const file = join(env.work, 'exports', 'reward.png');
    await saveAs(file, '.png');
    const facts = pngFacts(readFileSync(file));
    const canvas = await frame.locator('#chart-reward').evaluate((c) => ({ width: c.width, height: c.height }));
    assert.deepEqual([facts.width, facts.height], [canvas.width, canvas.height], 'the chart\'s canvas, pixel for pixel');
    assert.ok(facts.width >= 200 && facts.height >= 100, `a chart-sized image: ${facts.width}×${facts.height}`);
    assert.ok(facts.distinct > 16, `lines, axes and labels, not a blank image: ${facts.distinct} distinct byte values`);
    assert.ok(facts.opaqueCorner, 'the chart is on the dashboard\'s background, not transparent');
    assert.equal(facts.end, 'IEND');
  });

  stage('a chart and its data table are reachable by keyboard', async () => {
    const active = () => frame.locator('body').evaluate((body) => {
      const el = body.ownerDocument.activeElement;
      return el ? `${el.tagName.toLowerCase()}#${el.id}.${el.className}@${el.closest('figure')?.id ?? ''}` : '';
    });
    await frame.locator('#metric-filter').click();
    // From the filter box, Tab walks the toolbar and the reward chart's buttons to the chart itself.
    const path = [];
    for (let i = 0; i < 20 && !/^canvas#chart-reward/.test(path.at(-1) ?? ''); i++) {
      await session.page.keyboard.press('Tab');
      path.push(await active());
    }
    assert.match(path.at(-1), /^canvas#chart-reward/, `Tab reaches the chart: ${JSON.stringify(path)}`);
    await session.page.keyboard.press('End');
    const n = seriesOf(seedRuns()[0], 'reward/mean').length;
    assert.ok(Number(await attr('#chart-reward', 'data-active-index')) >= n - 1, 'End walks the tooltip to the last point');
    await session.page.keyboard.press('Tab');
    assert.match(await active(), /^summary#.*@card-reward$/, 'the next Tab reaches the chart\'s data table');
    await session.page.keyboard.press('Enter');
    const table = frame.locator('#card-reward details.data-table[open] tbody tr');
    await table.first().waitFor({ timeout: 15_000 });
    assert.ok(await table.count() >= n, `a row per drawn step: ${await table.count()}`);
    await screenshot(session.page, 'compare-data-table');
  });
});
