// Browser tests of the dashboard bundle (dist/webview/dashboard.js), registered with the harness
// (harness.ts) and run by webviewTests.ts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RUN_A, RUN_B, SEED_RUNS } from './fixtures';
import { THEMES } from './themes';
import { OUT, type Harness, test, applyTheme, withPage, rawPoints, renders, attr, waitForRenders } from './harness';

// The callbacks given to page.evaluate run in Chromium. This file is type-checked with the
// Node project (no DOM lib), so the page globals are declared loosely here.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any;
declare const document: any;
type HTMLElement = any;
/* eslint-enable @typescript-eslint/no-explicit-any */

// ---------------------------------------------------------------- dashboard

test('dashboard: one chart per metric family, points increase live, critic view and ECE', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard' }, async (h) => {
    await h.send([rec.dashboardPartial]);
    await waitForRenders(h.page, 1);
    const partial = rec.dashboardPartial.state;
    for (const family of partial.families) {
      assert.equal(await h.page.locator(`#chart-${family.id}`).count(), 1, `#chart-${family.id}`);
    }
    for (const id of ['reward', 'loss', 'critic', 'eval', 'grad-norm', 'length', 'entropy', 'throughput']) {
      assert.ok(partial.families.some((f) => f.id === id), `family ${id} is shaped`);
    }
    const before = Number(await attr(h.page, '#chart-reward', 'data-points'));
    assert.ok(before > 0);
    const rendered = await renders(h.page);
    await h.send([rec.dashboardFull]);
    await waitForRenders(h.page, rendered + 1);
    const after = Number(await attr(h.page, '#chart-reward', 'data-points'));
    assert.ok(after > before, `reward points grow: ${before} -> ${after}`);
    const critic = rec.dashboardFull.state.critic;
    assert.ok(critic);
    assert.equal(await attr(h.page, '#chart-reliability', 'data-ece'), critic.reliability.ece?.toFixed(4));
    assert.equal(Number(await attr(h.page, '#chart-psi-histogram', 'data-points')), critic.samples);
    assert.match((await h.page.locator('#critic-summary').textContent()) ?? '', new RegExp(`step ${critic.step} · ${critic.samples} samples · ECE`));
    assert.match((await h.page.locator('#critic-summary').textContent()) ?? '', /1 unreadable line skipped/);
    const saved = (await h.page.evaluate(() => (window as unknown as { __pacsTest: { getState(): unknown } }).__pacsTest.getState())) as {
      runIds: string[];
    };
    assert.deepEqual(saved.runIds, [RUN_A.id]);
  });
});

test('dashboard: at most 4 redraws per second when the host floods it', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard' }, async (h) => {
    await h.send([rec.dashboardPartial]);
    await waitForRenders(h.page, 1);
    const start = await renders(h.page);
    // 20 states posted within one task: the throttle coalesces them into one trailing redraw.
    await h.page.evaluate(
      (messages) => {
        for (let i = 0; i < 20; i++) window.postMessage(messages[i % 2], '*');
      },
      [rec.dashboardPartial, rec.dashboardFull],
    );
    await waitForRenders(h.page, start + 1);
    await h.page.waitForTimeout(600);
    assert.ok((await renders(h.page)) - start <= 2, `renders after a burst of 20 states: ${(await renders(h.page)) - start}`);
    assert.equal(Number(await attr(h.page, '#chart-reward', 'data-points')), rawPoints(rec.dashboardFull.state, 'reward'));
  });
});

test('dashboard: step axes start at 0 and never go negative, also with a single eval at step 0', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard' }, async (h) => {
    const full = rec.dashboardFull.state;
    const evalFamily = full.families.find((f) => f.id === 'eval');
    assert.ok(evalFamily && evalFamily.series.length > 0, 'the recorded run has an eval family');
    // The state a run has right after its first evaluation: one point per eval metric, at step 0.
    const single = {
      ...evalFamily,
      series: evalFamily.series.map((series) => ({ ...series, xs: [0], ys: [series.ys[0]], rawCount: 1 })),
    };
    await h.send([{ type: 'state', state: { ...full, families: full.families.map((f) => (f.id === 'eval' ? single : f)) } }]);
    await waitForRenders(h.page, 1);
    assert.equal(await attr(h.page, '#chart-eval', 'data-points'), String(single.series.length));
    assert.equal(Number(await attr(h.page, '#chart-eval', 'data-x-min')), 0);
    assert.ok(Number(await attr(h.page, '#chart-eval', 'data-x-max')) > 0);
    for (const family of full.families) {
      assert.equal(Number(await attr(h.page, `#chart-${family.id}`, 'data-x-min')), 0, `#chart-${family.id} starts at step 0`);
    }
  });
});

test('dashboard: a metric constant up to float rounding gets an axis around its value, not around the rounding', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard' }, async (h) => {
    const full = rec.dashboardFull.state;
    const lr = full.families.find((f) => f.id === 'lr');
    assert.ok(lr, 'the recorded run logs optim/lr');
    // A constant 1e-3 as float arithmetic logs it.
    const noisy = { ...lr, series: lr.series.map((s) => ({ ...s, ys: s.ys.map((_, i) => (i % 3 ? 0.0010000000000000002 : 0.0009999999999999998)) })) };
    await h.send([{ type: 'state', state: { ...full, families: full.families.map((f) => (f.id === 'lr' ? noisy : f)) } }]);
    await waitForRenders(h.page, 1);
    const [min, max] = [Number(await attr(h.page, '#chart-lr', 'data-y-min')), Number(await attr(h.page, '#chart-lr', 'data-y-max'))];
    assert.ok(min <= 0.00095 && max >= 0.00105, `the axis spans ±5% of 1e-3: ${min} … ${max}`);
    assert.ok(min > 0 && max < 0.002, `and stays near it: ${min} … ${max}`);
  });
});

test('dashboard: the step slider asks the host for the critic view of another step', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard' }, async (h) => {
    await h.send([rec.dashboardFull]);
    await waitForRenders(h.page, 1);
    const steps = rec.dashboardFull.state.rolloutSteps;
    const slider = h.page.locator('#critic-step');
    assert.equal(await slider.getAttribute('max'), String(steps.length - 1));
    await slider.focus();
    await h.page.keyboard.press('Home');
    await h.page.waitForFunction(() =>
      (window as unknown as { __pacsTest: { posted: { type: string }[] } }).__pacsTest.posted.some((m) => m.type === 'selectCriticStep'),
    );
    const request = (await h.posted()).find((m) => m.type === 'selectCriticStep');
    assert.deepEqual(request, { type: 'selectCriticStep', runId: RUN_A.id, step: steps[0] });
    assert.equal(await h.page.locator('#critic-step-label').textContent(), `step ${steps[0]}`);
    await h.page.locator('#inspect-rollouts').click();
    const inspect = (await h.posted()).find((m) => m.type === 'inspectRollouts');
    assert.deepEqual(inspect, { type: 'inspectRollouts', runId: RUN_A.id, step: rec.dashboardFull.state.critic?.step });
  });
});

test('dashboard: comparing runs overlays them and lists only the differing config keys with commits', async (browser, rec) => {
  for (const theme of THEMES) {
    await withPage(browser, { bundle: 'dashboard', theme, height: 2200 }, async (h) => {
      await h.send([rec.compare]);
      await waitForRenders(h.page, 1);
      const keys = await h.page.locator('#config-diff tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.key));
      assert.deepEqual(keys, ['commit', 'algorithm', 'logging.rollouts_every', 'name', 'optim.lr', 'rollout.n', 'total_steps']);
      const commits = await h.page.locator('#config-diff tr.commit-row td').allTextContents();
      assert.deepEqual(commits, ['3f2a9b8', '9c1d2e3*']);
      assert.equal(await attr(h.page, '#chart-reward', 'data-series'), '6');
      assert.equal(await h.page.locator('#runs .run').count(), 2);
      await h.page.screenshot({ path: join(OUT, `dashboard-compare-${theme.kind}.png`), fullPage: true });
    });
  }
});

test('dashboard: the smoothing slider smooths training curves (not evaluations) over their faint raw lines and is saved', async (browser, rec) => {
  const full = rec.dashboardFull.state;
  const reward = full.families.find((f) => f.id === 'reward');
  assert.ok(reward && reward.series[0].ys.length > 10, 'the recorded run has a reward series');
  // TensorBoard's debiased EMA, written out independently of src/dashboard/model/smoothing.ts.
  const ema = (ys: (number | null)[], w: number) => {
    let avg = 0;
    let k = 0;
    let last = NaN;
    for (const y of ys) {
      if (y === null || !Number.isFinite(y)) continue;
      avg = avg * w + (1 - w) * y;
      k += 1;
      last = avg / (1 - w ** k);
    }
    return last;
  };
  const lastY = async (h: Harness) => Number(await attr(h.page, '#chart-reward', 'data-last-y'));
  await withPage(browser, { bundle: 'dashboard' }, async (h) => {
    await h.send([rec.dashboardFull]);
    await waitForRenders(h.page, 1);
    assert.equal(await attr(h.page, '#chart-reward', 'data-smoothing'), '0.6', "TensorBoard's default");
    assert.equal(await attr(h.page, '#chart-eval', 'data-smoothing'), '0', 'evaluations are drawn as logged');
    assert.ok(Math.abs((await lastY(h)) - ema(reward.series[0].ys, 0.6)) < 1e-9, `the drawn curve is the EMA of the data: ${await lastY(h)}`);
    assert.equal(await h.page.locator('#smoothing-label').textContent(), '0.60');
    const slider = h.page.locator('#smoothing');
    await slider.focus();
    // The host computes the EMA over every raw point: the slider asks it for a weight.
    const asked = async (weight: number) => {
      for (let i = 0; i < 50; i++) {
        if ((await h.posted()).some((m) => m.type === 'setSmoothing' && m.weight === weight)) return;
        await h.page.waitForTimeout(20);
      }
      assert.fail(`the dashboard did not ask the host for smoothing ${weight}`);
    };
    await asked(0.6);
    let rendered = await renders(h.page);
    await h.page.keyboard.press('Home');
    await asked(0);
    await h.send([rec.smoothedAt['0']]);
    await waitForRenders(h.page, rendered + 1);
    assert.equal(await attr(h.page, '#chart-reward', 'data-smoothing'), '0');
    const raw = reward.series[0].ys.filter((y): y is number => y !== null && Number.isFinite(y)).at(-1);
    assert.equal(await lastY(h), raw, 'at 0 the curve is the data');
    rendered = await renders(h.page);
    await h.page.keyboard.press('End');
    await asked(0.99);
    await h.send([rec.smoothedAt['0.99']]);
    await waitForRenders(h.page, rendered + 1);
    assert.equal(await attr(h.page, '#chart-reward', 'data-smoothing'), '0.99');
    assert.equal(await h.page.locator('#smoothing-label').textContent(), '0.99');
    const saved = (await h.page.evaluate(() => (window as unknown as { __pacsTest: { getState(): unknown } }).__pacsTest.getState())) as {
      smoothing: number;
    };
    assert.equal(saved.smoothing, 0.99, 'the weight is saved with the webview state');
    await h.page.screenshot({ path: join(OUT, 'dashboard-smoothing-0.99.png') });
  });
  await withPage(browser, { bundle: 'dashboard', savedState: { runIds: [RUN_A.id], criticRunId: null, criticStep: null, smoothing: 0.3 } }, async (h) => {
    await h.send([rec.smoothedAt['0.3']]);
    await waitForRenders(h.page, 1);
    assert.ok((await h.posted()).some((m) => m.type === 'setSmoothing' && m.weight === 0.3), 'a re-created dashboard asks for its saved weight');
    assert.equal(await attr(h.page, '#chart-reward', 'data-smoothing'), '0.3', 'a re-created dashboard keeps its weight');
    assert.equal(await h.page.locator('#smoothing').inputValue(), '0.3');
    assert.ok(Math.abs((await lastY(h)) - ema(reward.series[0].ys, 0.3)) < 1e-9);
  });
});

test('dashboard: dragging across a chart zooms every metric chart to those steps; double-click shows all steps again', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard' }, async (h) => {
    await h.send([rec.dashboardFull]);
    await waitForRenders(h.page, 1);
    const range = async (id: string) => [Number(await attr(h.page, `#chart-${id}`, 'data-x-min')), Number(await attr(h.page, `#chart-${id}`, 'data-x-max'))];
    const [, fullMax] = await range('reward');
    assert.equal((await range('loss'))[0], 0);
    assert.equal(await h.page.locator('#reset-zoom').isVisible(), false, 'no reset button before a zoom');
    const box = await h.page.locator('#chart-reward').boundingBox();
    assert.ok(box);
    // Drag from about 40% to 70% of the canvas width, mid-height (inside the plot area).
    const y = box.y + box.height * 0.4;
    await h.page.mouse.move(box.x + box.width * 0.4, y);
    await h.page.mouse.down();
    await h.page.mouse.move(box.x + box.width * 0.55, y, { steps: 4 });
    await h.page.mouse.move(box.x + box.width * 0.7, y, { steps: 4 });
    await h.page.mouse.up();
    await h.page.waitForFunction(() => Boolean(document.body.dataset.zoom));
    const [min, max] = await range('reward');
    assert.ok(min > 0 && max < fullMax && max > min, `the reward chart shows a middle stretch of steps: ${min}..${max} of 0..${fullMax}`);
    assert.ok(Number.isInteger(min) && Number.isInteger(max), `whole steps at the ends of the axis: ${min}..${max}`);
    for (const id of ['loss', 'critic', 'grad-norm', 'eval']) {
      const [m, M] = await range(id);
      assert.ok(Math.abs(m - min) < 1e-6 && Math.abs(M - max) < 1e-6, `#chart-${id} follows: ${m}..${M} against ${min}..${max}`);
    }
    assert.equal(await h.page.locator('#reset-zoom').isVisible(), true, 'the reset button shows while zoomed');
    await h.page.screenshot({ path: join(OUT, 'dashboard-zoomed.png') });
    // A live update keeps the zoom.
    const rendered = await renders(h.page);
    await h.send([rec.dashboardFull]);
    await waitForRenders(h.page, rendered + 1);
    assert.deepEqual(await range('loss'), [min, max], 'a new state from the host keeps the zoomed range');
    await h.page.locator('#chart-loss').dblclick();
    await h.page.waitForFunction(() => !document.body.dataset.zoom);
    for (const id of ['reward', 'loss', 'eval']) assert.equal((await range(id))[0], 0, `#chart-${id} shows all steps again`);
    assert.equal((await range('reward'))[1], fullMax);
    assert.equal(await h.page.locator('#reset-zoom').isVisible(), false);
  });
});

test('dashboard: the summary table lists each run\'s best and last accuracy, pass@k, reward and critic, the best of a column in bold', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard', height: 1400 }, async (h) => {
    await h.send([rec.compare]);
    await waitForRenders(h.page, 1);
    const { runs, scores } = rec.compare.state;
    assert.equal(scores.length, 2);
    assert.deepEqual(await h.page.locator('#scores tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.runId)), runs.map((r) => r.id));
    const cells = async (col: string) =>
      h.page.locator(`#scores td[data-col="${col}"]`).evaluateAll((tds) => tds.map((td) => ({ value: (td as HTMLElement).dataset.value, best: (td as HTMLElement).classList.contains('best'), text: (td as HTMLElement).textContent })));
    const reward = await cells('reward');
    assert.deepEqual(reward.map((c) => Number(c.value)), scores.map((c) => c.reward));
    const top = Math.max(...scores.map((c) => c.reward as number));
    assert.deepEqual(reward.map((c) => c.best), scores.map((c) => c.reward === top), 'the higher reward is in bold');
    const best = await cells('best-accuracy');
    scores.forEach((c, i) => {
      assert.ok(c.bestAccuracy, 'the fixtures evaluate');
      assert.equal(best[i].text, `${(100 * c.bestAccuracy.value).toFixed(1)}% @ ${c.bestAccuracy.step}`);
    });
    assert.match((await h.page.locator('#scores-note').textContent()) ?? '', /last tenth of training steps.*bold/);
    await h.page.locator('#summary').screenshot({ path: join(OUT, 'dashboard-summary-compare.png') });
  });
  await withPage(browser, { bundle: 'dashboard' }, async (h) => {
    await h.send([rec.dashboardFull]);
    await waitForRenders(h.page, 1);
    assert.equal(await h.page.locator('#scores tbody tr').count(), 1);
    assert.equal(await h.page.locator('#scores td.best').count(), 0, 'nothing to mark with one run');
    const window = rec.dashboardFull.state.scores[0].window;
    assert.ok(window);
    assert.match((await h.page.locator('#scores-note').textContent()) ?? '', new RegExp(`steps ${window[0]}–${window[1]}`));
  });
});

test('dashboard: the runs table sorts, toggles runs off the charts and shows the config keys that differ', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard', height: 1400 }, async (h) => {
    await h.send([rec.compare]);
    await waitForRenders(h.page, 1);
    const { runs, scores, configDiff } = rec.compare.state;
    const order = () => h.page.locator('#scores tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.runId));
    assert.deepEqual(await order(), runs.map((r) => r.id));
    const byReward = [...scores].sort((a, b) => (b.reward as number) - (a.reward as number)).map((c) => c.runId);
    let rendered = await renders(h.page);
    await h.page.locator('#scores button[data-sort="reward"]').click();
    await waitForRenders(h.page, rendered + 1);
    assert.deepEqual(await order(), byReward, 'the highest reward first');
    assert.equal(await h.page.locator('#scores th:has(button[data-sort="reward"])').getAttribute('aria-sort'), 'descending');
    rendered = await renders(h.page);
    await h.page.locator('#scores button[data-sort="reward"]').click();
    await waitForRenders(h.page, rendered + 1);
    assert.deepEqual(await order(), [...byReward].reverse(), 'a second click sorts the other way');
    const lr = configDiff.rows.find((row) => row.key === 'optim.lr');
    assert.ok(lr, 'the fixtures differ in optim.lr');
    const lrCells = await h.page.locator('#scores tbody tr').evaluateAll((rows) =>
      rows.map((r) => [(r as HTMLElement).dataset.runId, (r as HTMLElement).querySelector('td[data-col="config:optim.lr"]')?.textContent]));
    for (const [runId, text] of lrCells) assert.equal(text, lr.values[configDiff.runIds.indexOf(runId as string)]);
    assert.match((await h.page.locator('#scores td[data-col="status"]').first().textContent()) ?? '', /finished|running|stopped/);

    assert.equal(await attr(h.page, '#chart-reward', 'data-series'), '6');
    rendered = await renders(h.page);
    await h.page.locator(`#scores input.run-toggle[data-run-id="${RUN_B.id}"]`).uncheck();
    await waitForRenders(h.page, rendered + 1);
    assert.equal(await attr(h.page, '#chart-reward', 'data-series'), '3', 'the run toggled off leaves the charts');
    assert.ok(await h.page.locator(`#scores tr[data-run-id="${RUN_B.id}"].run-hidden`).count());
    const saved = (await h.page.evaluate(() => (window as unknown as { __pacsTest: { getState(): unknown } }).__pacsTest.getState())) as { hiddenRuns: string[] };
    assert.deepEqual(saved.hiddenRuns, [RUN_B.id]);
    await h.page.locator('#summary').screenshot({ path: join(OUT, 'dashboard-runs-table.png') });
  });
});

test('dashboard: x axis in steps, relative or wall-clock time; log y per chart; metric filter; constant series noted', async (browser, rec) => {
  const state = rec.dashboardFull.state;
  const reward = state.families.find((f) => f.id === 'reward');
  assert.ok(reward);
  const ts = state.families.flatMap((f) => f.series.flatMap((x) => x.ts)).filter((t): t is number => t !== null);
  const first = Math.min(...ts);
  const lastReward = Math.max(...(reward.series[0].ts as number[]));
  await withPage(browser, { bundle: 'dashboard', height: 2400 }, async (h) => {
    await h.send([rec.dashboardFull]);
    await waitForRenders(h.page, 1);
    assert.equal(await attr(h.page, '#chart-reward', 'data-x-axis'), 'step');
    assert.match((await h.page.locator('#card-psi .chart-note').textContent()) ?? '', /Constant, not drawn: pacs\/weight_mean = 1\b/);
    const psi = state.families.find((f) => f.id === 'psi');
    assert.equal(await attr(h.page, '#chart-psi', 'data-series'), String((psi?.series.length ?? 0) - 1), 'the constant series is left out');
    let rendered = await renders(h.page);
    await h.page.locator('#x-axis').selectOption('relative');
    await waitForRenders(h.page, rendered + 1);
    assert.equal(await attr(h.page, '#chart-reward', 'data-x-axis'), 'relative');
    const relMax = Number(await attr(h.page, '#chart-reward', 'data-x-max'));
    assert.ok(relMax >= lastReward - first, `seconds since the run started: ${relMax} for ${lastReward - first}`);
    assert.ok(Number(await attr(h.page, '#chart-reward', 'data-x-max')) < (lastReward - first) * 1.2 + 60);
    rendered = await renders(h.page);
    await h.page.locator('#x-axis').selectOption('wall');
    await waitForRenders(h.page, rendered + 1);
    const wallMax = Number(await attr(h.page, '#chart-reward', 'data-x-max'));
    assert.ok(wallMax >= lastReward * 1000 && wallMax < (lastReward + 3600) * 1000, `milliseconds of the clock: ${wallMax}`);

    rendered = await renders(h.page);
    await h.page.locator('#card-loss .log-toggle').click();
    await waitForRenders(h.page, rendered + 1);
    assert.equal(await attr(h.page, '#chart-loss', 'data-log'), 'true');
    assert.equal(await attr(h.page, '#chart-loss', 'data-y-type'), 'logarithmic', 'the chart is drawn on a log axis');
    assert.equal(await attr(h.page, '#chart-reward', 'data-log'), 'false', 'only the chart toggled');
    assert.equal(await attr(h.page, '#chart-reward', 'data-y-type'), 'linear');
    assert.equal(await h.page.locator('#card-loss .log-toggle').getAttribute('aria-pressed'), 'true');
    const saved = (await h.page.evaluate(() => (window as unknown as { __pacsTest: { getState(): unknown } }).__pacsTest.getState())) as { logCharts: string[]; xAxis: string };
    assert.deepEqual(saved.logCharts, ['loss']);
    assert.equal(saved.xAxis, 'wall');

    await h.page.locator('#metric-filter').fill('entropy');
    await h.page.waitForFunction(() => document.querySelectorAll('#charts figure.chart-card:not([hidden])').length === 1);
    assert.equal(await h.page.locator('#charts figure.chart-card:not([hidden]) canvas').getAttribute('id'), 'chart-entropy');
  });
});

test('dashboard: CSV and PNG export ask the host; each chart is keyboard-reachable and has a data table', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard', height: 2400 }, async (h) => {
    await h.send([rec.dashboardFull]);
    await waitForRenders(h.page, 1);
    await h.page.locator('#metric-filter').fill('entropy');
    await h.page.waitForFunction(() => document.querySelectorAll('#charts figure.chart-card:not([hidden])').length === 1);
    await h.page.locator('#export-csv').click();
    await h.page.locator('#card-entropy .png-export').click();
    await h.page.waitForFunction(() =>
      (window as unknown as { __pacsTest: { posted: { type: string }[] } }).__pacsTest.posted.some((m) => m.type === 'exportPng'));
    const posted = await h.posted();
    assert.deepEqual(posted.find((m) => m.type === 'exportCsv'), { type: 'exportCsv', series: [{ runId: RUN_A.id, metric: 'policy/entropy' }] }, 'the series shown');
    const png = posted.find((m) => m.type === 'exportPng') as unknown as { name: string; dataUrl: string };
    assert.equal(png.name, 'entropy');
    assert.ok(png.dataUrl.startsWith('data:image/png;base64,') && png.dataUrl.length > 1000);
    const corner = await h.page.evaluate(async (url) => {
      const image = new window.Image();
      image.src = url;
      await image.decode();
      const canvas = document.createElement('canvas');
      [canvas.width, canvas.height] = [image.width, image.height];
      const context = canvas.getContext('2d');
      context.drawImage(image, 0, 0);
      return [...context.getImageData(0, 0, 1, 1).data] as number[];
    }, png.dataUrl);
    assert.equal(corner[3], 255, `the image is opaque, on the dashboard's background (a dark theme's labels vanish on a light viewer otherwise): ${corner}`);

    const entropy = rec.dashboardFull.state.families.find((f) => f.id === 'entropy');
    const n = entropy?.series[0].xs.length ?? 0;
    await h.page.locator('#chart-entropy').focus();
    await h.page.keyboard.press('End');
    assert.equal(await attr(h.page, '#chart-entropy', 'data-active-index'), String(n - 1));
    await h.page.keyboard.press('ArrowLeft');
    assert.equal(await attr(h.page, '#chart-entropy', 'data-active-index'), String(n - 2));
    await h.page.locator('#card-entropy details.data-table summary').click();
    await h.page.locator('#card-entropy details.data-table tbody tr').first().waitFor();
    assert.equal(await h.page.locator('#card-entropy details.data-table tbody tr').count(), n, 'one row per drawn point');
    const firstRow = await h.page.locator('#card-entropy details.data-table tbody tr').first().locator('th').textContent();
    assert.equal(firstRow, String(entropy?.series[0].xs[0]));
  });
});

test('dashboard: runs that differ only by seed are drawn as their mean ± std, per-seed lines on demand, summarised as mean ± std', async (browser, rec) => {
  const state = rec.seeds.state;
  const reward = state.families.find((f) => f.id === 'reward');
  assert.ok(reward);
  const seedIds = SEED_RUNS.map((spec) => spec.id);
  const lastOf = (runId: string) => {
    const series = reward.series.find((x) => x.runId === runId && x.metric === 'reward/mean');
    return (series?.smoothed ?? series?.ys ?? []).at(-1) as number;
  };
  const lasts = seedIds.map(lastOf);
  const mean = lasts.reduce((a, b) => a + b, 0) / 3;
  const std = Math.sqrt(lasts.reduce((a, b) => a + (b - mean) ** 2, 0) / 2);
  await withPage(browser, { bundle: 'dashboard', height: 2000 }, async (h) => {
    await h.send([rec.seeds]);
    await waitForRenders(h.page, 1);
    assert.equal(await h.page.locator('#seed-controls').isVisible(), true, 'offered when some runs differ only by seed');
    assert.equal(await attr(h.page, '#chart-reward', 'data-groups'), '0');
    let rendered = await renders(h.page);
    await h.page.locator('#group-seeds').check();
    await waitForRenders(h.page, rendered + 1);
    assert.equal(await attr(h.page, '#chart-reward', 'data-groups'), '3', 'one mean line per reward metric of the group');
    const group = JSON.parse((await attr(h.page, '#chart-reward', 'data-group-last')) ?? '{}') as { mean: number; std: number };
    assert.ok(Math.abs(group.mean - mean) < 1e-12 && Math.abs(group.std - std) < 1e-12, `mean ${group.mean} ± ${group.std}, expected ${mean} ± ${std}`);
    assert.equal(await attr(h.page, '#chart-reward', 'data-series'), String(reward.series.length));
    const row = h.page.locator('#seed-groups tbody tr');
    assert.equal(await row.count(), 1, 'RUN_B is in no group');
    assert.match((await row.locator('th').textContent()) ?? '', /arith \(3 seeds\)/);
    const scores = state.scores.filter((c) => seedIds.includes(c.runId)).map((c) => c.reward as number);
    const rewardMean = scores.reduce((a, b) => a + b, 0) / 3;
    assert.ok(Math.abs(Number(await row.locator('td[data-col="reward"]').getAttribute('data-mean')) - rewardMean) < 1e-12);
    rendered = await renders(h.page);
    await h.page.locator('#seed-lines').check();
    await waitForRenders(h.page, rendered + 1);
    await h.page.locator('#metrics').screenshot({ path: join(OUT, 'dashboard-seed-group.png') });
    const saved = (await h.page.evaluate(() => (window as unknown as { __pacsTest: { getState(): unknown } }).__pacsTest.getState())) as { groupSeeds: boolean; seedLines: boolean };
    assert.deepEqual([saved.groupSeeds, saved.seedLines], [true, true]);
  });
});

test('dashboard: each named eval set is charted and gets its own column in the summary table', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard', height: 1400 }, async (h) => {
    await h.send([rec.compare]);
    await waitForRenders(h.page, 1);
    const { scores, families } = rec.compare.state;
    const evalFamily = families.find((f) => f.id === 'eval');
    assert.ok(evalFamily);
    const charted = new Set(evalFamily.series.map((series) => series.metric));
    for (const name of ['math500', 'aime24']) {
      assert.ok(charted.has(`eval/${name}/accuracy`) && charted.has(`eval/${name}/pass@1`), `the eval chart draws the ${name} set`);
    }
    assert.equal(await attr(h.page, '#chart-eval', 'data-series'), String(evalFamily.series.length));
    const headers = await h.page.locator('#scores thead th').allTextContents();
    const sets = headers.filter((text) => text.endsWith(' accuracy') && !['best eval accuracy', 'last eval accuracy', 'critic accuracy'].includes(text));
    assert.deepEqual(sets, ['aime24 accuracy', 'math500 accuracy'], 'a column per set, per-source metrics left out');
    for (const name of ['math500', 'aime24']) {
      const cells = await h.page.locator(`#scores td[data-col="eval-set-${name}"]`).allTextContents();
      const expected = scores.map((c) => {
        const last = c.evalSets.find((set) => set.name === name)?.last;
        return last ? `${(100 * last.value).toFixed(1)}% @ ${last.step}` : '–';
      });
      assert.deepEqual(cells, expected);
      assert.equal(cells[0], '–', 'a run without the set shows a dash');
      assert.match(cells[1], /% @ 200$/);
    }
  });
});

test('dashboard: charts follow a theme change', async (browser, rec) => {
  await withPage(browser, { bundle: 'dashboard', theme: THEMES[1] }, async (h) => {
    await h.send([rec.dashboardFull]);
    await waitForRenders(h.page, 1);
    const start = await renders(h.page);
    await applyTheme(h.page, THEMES[0]);
    await waitForRenders(h.page, start + 1);
    assert.equal(await h.page.locator('#chart-reward').count(), 1);
    await h.page.screenshot({ path: join(OUT, 'dashboard-light-after-switch.png') });
    for (const theme of THEMES) {
      await applyTheme(h.page, theme);
      await h.page.waitForTimeout(400);
      await h.page.screenshot({ path: join(OUT, `dashboard-${theme.kind}.png`), fullPage: true });
    }
  });
});

test('dashboard: the Prompts charts draw every compared run\'s ledger in its colour and name, follow the run toggles, grow live and group seeds', async (browser, rec) => {
  const lines = async (h: Harness, id: string) => JSON.parse((await attr(h.page, `#chart-${id}`, 'data-lines')) ?? '[]') as [string, string][];
  await withPage(browser, { bundle: 'dashboard', height: 2400 }, async (h) => {
    await h.send([rec.compare]);
    await waitForRenders(h.page, 1);
    const { runs, prompts } = rec.compare.state;
    assert.ok(prompts, 'the host sends the ledgers');
    assert.deepEqual(prompts.ledgers.map((l) => [l.runId, l.steps]), [[RUN_A.id, RUN_A.steps], [RUN_B.id, RUN_B.steps]]);
    assert.equal(await h.page.locator('#prompt-health').isVisible(), true);
    assert.equal(await h.page.locator('#prompt-health-missing').isHidden(), true, 'both runs have a ledger');
    assert.match((await h.page.locator('#prompt-health-summary').textContent()) ?? '', new RegExp(`${RUN_A.name}: ${RUN_A.steps} steps of its prompt ledger\\. ${RUN_B.name}: ${RUN_B.steps} steps`));
    assert.equal(await attr(h.page, '#chart-prompt-status', 'data-series'), '10', 'five statuses per run');
    assert.equal(await attr(h.page, '#chart-group-shares', 'data-series'), '6', 'three group shares per run');
    assert.equal(await attr(h.page, '#chart-group-shares', 'data-runs'), `${RUN_A.id} ${RUN_B.id}`);
    assert.equal(await attr(h.page, '#chart-group-shares', 'data-points'), String(RUN_A.steps + RUN_B.steps));
    // each run's lines in the colour of its chip in the runs header, named as on the metric charts
    for (const run of runs) {
      const swatch = await h.page.locator(`#runs .run[data-run-id="${run.id}"] .swatch`).evaluate((el) => (el as HTMLElement).style.getPropertyValue('--swatch'));
      const own = (await lines(h, 'group-shares')).filter(([label]) => label.startsWith(`${run.name} · `));
      assert.deepEqual(own.map(([label]) => label), ['all correct', 'all wrong', 'mixed'].map((m) => `${run.name} · ${m}`));
      assert.deepEqual(new Set(own.map(([, color]) => color)), new Set([swatch]), `${run.name}'s lines are its colour`);
    }
    const learned = prompts.families[0].series.find((s) => s.runId === RUN_A.id && s.metric === 'learned');
    assert.ok(learned && learned.ys.some((y) => (y ?? 0) > 0), 'the fixture run learns prompts');
    assert.equal(await h.page.locator('#card-group-shares figcaption').textContent(), prompts.families[1].title);
    await h.page.locator('#prompt-health').screenshot({ path: join(OUT, 'dashboard-prompts-compare.png') });
    const rendered = await renders(h.page);
    await h.page.locator(`#scores input.run-toggle[data-run-id="${RUN_B.id}"]`).uncheck();
    await waitForRenders(h.page, rendered + 1);
    assert.equal(await attr(h.page, '#chart-prompt-status', 'data-series'), '5', 'the run toggled off leaves the Prompts charts too');
    assert.equal(await attr(h.page, '#chart-group-shares', 'data-runs'), RUN_A.id);
    assert.equal(await attr(h.page, '#chart-group-shares', 'data-points'), String(RUN_A.steps));
  });
  await withPage(browser, { bundle: 'dashboard', height: 2400 }, async (h) => {
    await h.send([rec.dashboardPartial]);
    await waitForRenders(h.page, 1);
    assert.equal(await attr(h.page, '#chart-prompt-status', 'data-last-step'), '150');
    assert.deepEqual((await lines(h, 'prompt-status')).map(([label]) => label), ['always solved', 'never solved', 'learned', 'forgotten', 'unstable'], 'one run: a line per status');
    await h.send([rec.dashboardFull]);
    await waitForRenders(h.page, 2);
    assert.equal(await attr(h.page, '#chart-prompt-status', 'data-last-step'), String(RUN_A.steps), 'the ledger grew with the run');
  });
  await withPage(browser, { bundle: 'dashboard', height: 2400 }, async (h) => {
    await h.send([rec.seeds]);
    await waitForRenders(h.page, 1);
    const noLedger = SEED_RUNS[2];
    assert.equal(await h.page.locator('#prompt-health-missing').isVisible(), true);
    assert.equal(await h.page.locator('#prompt-health-missing').textContent(), `No prompt ledger, so no series: ${noLedger.name} · ${noLedger.id.slice(-4)}.`);
    assert.equal(await attr(h.page, '#chart-prompt-status', 'data-series'), '15', 'two seeds and RUN_B, five statuses each');
    const rendered = await renders(h.page);
    await h.page.locator('#group-seeds').check();
    await waitForRenders(h.page, rendered + 1);
    assert.equal(await attr(h.page, '#chart-prompt-status', 'data-groups'), '5', 'the seed group\'s mean line per status, over the seeds with a ledger');
    assert.equal(await attr(h.page, '#chart-group-shares', 'data-groups'), '3');
    assert.ok((await lines(h, 'group-shares')).some(([label]) => label === 'arith (3 seeds) · mixed'));
  });
});
