// Browser tests of the dashboard and rollout inspector bundles (dist/webview): each page is the
// extension's own HTML (src/webviews/model/webviewPage.ts, CSP included), served from a fake webview
// origin, with a fake acquireVsCodeApi. The host messages are recorded from run directories in
// the run format through the extension's own store and shaping code (RunStore,
// dashboardState, rolloutsState), then replayed. Screenshots go to test-results/webview/.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { DashboardHostMessage, DashboardState } from '../../webview/dashboard/contract';
import type { RolloutsHostMessage, RolloutsState } from '../../webview/rollouts/contract';
import type { RolloutSample } from '../../webview/shared/contract';
import { RunStore } from '../../src/runs/model/runStore';
import { webviewPageHtml } from '../../src/webviews/model/webviewPage';
import { shownStep } from '../../src/run/model/runModel';
import { dashboardState, loadCritic } from '../../src/dashboard/model/dashboardState';
import { RunConfigCache } from '../../src/dashboard/model/runConfig';
import { rolloutsState, sampleMessages, tokensMessage } from '../../src/rollouts/model/rolloutsState';
import { BIG_RUN_ID, BIG_SAMPLES, PAYLOAD_ANSWER, PAYLOAD_PROMPT, PAYLOAD_RESPONSE, RUN_A, RUN_B, SEED_RUNS, writeBigRun, writeRun } from './fixtures';
import { THEMES, type Theme } from './themes';
import { launchChromium } from './browser';

// The callbacks given to page.evaluate run in Chromium. This file is type-checked with the
// Node project (no DOM lib), so the page globals are declared loosely here.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any;
declare const document: any;
type HTMLElement = any;
/* eslint-enable @typescript-eslint/no-explicit-any */

const REPO = resolve(__dirname, '..', '..');
const OUT = join(REPO, 'test-results', 'webview');
const ORIGIN = 'https://webview.test';
const MIME: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.map': 'application/json' };

interface Recorded {
  dashboardPartial: DashboardHostMessage;
  dashboardFull: DashboardHostMessage;
  compare: DashboardHostMessage;
  payloadStep: RolloutsHostMessage[];
  bigStep: RolloutsHostMessage[];
  /** From the run the real trainer wrote (test/webview/fixtures/trainer-run). */
  trainerDashboard: DashboardHostMessage;
  trainerStep: RolloutsHostMessage[];
  /** dashboardFull with the host's EMA at other weights than the default, by weight. */
  smoothedAt: Record<string, DashboardHostMessage>;
  /** RUN_B and three runs that differ only by seed. */
  seeds: DashboardHostMessage;
  /** From a run the real importer wrote from a real TRL output (test/webview/fixtures/imported-run). */
  importedDashboard: DashboardHostMessage;
  importedStep: RolloutsHostMessage[];
  /** The trainer run with Parquet rollout files (test/webview/fixtures/parquet-run), and the host's answer to the first sample's `loadTokens`. */
  parquetStep: RolloutsHostMessage[];
  parquetTokens: RolloutsHostMessage;
}

const TRAINER_RUNS = join(REPO, 'test', 'webview', 'fixtures', 'trainer-run');
const TRAINER_RUN_ID = '20261127-034358-dev-09e1';
const IMPORTED_RUNS = join(REPO, 'test', 'webview', 'fixtures', 'imported-run');
const IMPORTED_RUN_ID = '20261201-165746-trl-grpo-071c';
const PARQUET_RUNS = join(REPO, 'test', 'webview', 'fixtures', 'parquet-run');
const PARQUET_RUN_ID = '20261207-130000-dev-pq01';

interface PageOptions {
  bundle: 'dashboard' | 'rollouts' | 'diagnostics';
  mode?: 'view' | 'panel';
  width?: number;
  height?: number;
  theme?: Theme;
  savedState?: unknown;
}

interface Harness {
  page: Page;
  problems: string[];
  send(messages: unknown[]): Promise<void>;
  posted(): Promise<Array<{ type: string; [key: string]: unknown }>>;
  close(): Promise<void>;
}

type TestFn = (browser: Browser, recorded: Recorded) => Promise<void>;
const tests: [string, TestFn][] = [];
const test = (name: string, fn: TestFn) => tests.push([name, fn]);

// ---------------------------------------------------------------- recording the host messages

export async function record(root: string): Promise<Recorded> {
  const configs = new RunConfigCache();
  const store = new RunStore({ roots: [root, TRAINER_RUNS, IMPORTED_RUNS, PARQUET_RUNS], detectCrashes: false });
  const dashboard = async (runIds: string[], smoothing?: number): Promise<DashboardHostMessage> => {
    await store.refresh();
    const configMap = new Map<string, unknown>();
    for (const id of runIds) configMap.set(id, await configs.read(store.get(id)?.dir ?? join(root, id)));
    const step = shownStep(store.rolloutSteps(runIds[0]), null);
    const critic = step === null ? null : await loadCritic(store, runIds[0], step);
    return { type: 'state', state: dashboardState(store, runIds, runIds[0], configMap, critic, smoothing) };
  };
  const rollouts = async (runId: string, step: number, loadId: number): Promise<RolloutsHostMessage[]> => {
    await store.refresh();
    const { samples, badLines } = await store.loadRollouts(runId, step);
    const state = rolloutsState(store, runId, step, loadId, { runId, step, samples, badLines }, null, 'panel');
    return [{ type: 'state', state }, ...sampleMessages(loadId, samples)];
  };

  writeRun(root, RUN_A, 150);
  const dashboardPartial = await dashboard([RUN_A.id]);
  writeRun(root, RUN_A);
  writeRun(root, RUN_B);
  writeBigRun(root);
  for (const spec of SEED_RUNS) writeRun(root, spec);
  const recorded: Recorded = {
    dashboardPartial,
    dashboardFull: await dashboard([RUN_A.id]),
    compare: await dashboard([RUN_A.id, RUN_B.id]),
    payloadStep: await rollouts(RUN_A.id, RUN_A.payloadStep ?? RUN_A.steps, 1),
    bigStep: await rollouts(BIG_RUN_ID, 1, 2),
    trainerDashboard: await dashboard([TRAINER_RUN_ID]),
    trainerStep: await rollouts(TRAINER_RUN_ID, 10, 3),
    seeds: await dashboard([...SEED_RUNS.map((spec) => spec.id), RUN_B.id]),
    smoothedAt: Object.fromEntries(await Promise.all([0, 0.3, 0.99].map(async (w) => [String(w), await dashboard([RUN_A.id], w)] as const))),
    importedDashboard: await dashboard([IMPORTED_RUN_ID]),
    importedStep: await rollouts(IMPORTED_RUN_ID, 2, 4),
    parquetStep: await rollouts(PARQUET_RUN_ID, 10, 5),
    parquetTokens: { type: 'state', state: {} as RolloutsState },
  };
  const [first] = (await store.loadRollouts(PARQUET_RUN_ID, 10)).samples;
  recorded.parquetTokens = await tokensMessage(store, { runId: PARQUET_RUN_ID, step: 10, samples: [], badLines: 0 }, 5, first.group, first.index);
  store.dispose();
  writeFileSync(
    join(OUT, 'recorded-messages.json'),
    JSON.stringify({ ...recorded, bigStep: recorded.bigStep.slice(0, 1), payloadStep: recorded.payloadStep }, null, 1),
  );
  return recorded;
}

// ---------------------------------------------------------------- the page harness

export async function openPage(browser: Browser, options: PageOptions): Promise<Harness> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: options.height ?? 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  await context.route(`${ORIGIN}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/index.html') {
      await route.fulfill({ contentType: 'text/html', body: pageHtml(options) });
      return;
    }
    const file = join(REPO, path);
    if (!file.startsWith(join(REPO, 'dist', 'webview')) && !file.startsWith(join(REPO, 'media'))) {
      problems.push(`request outside the webview's resource roots: ${path}`);
      await route.fulfill({ status: 404, body: '' });
      return;
    }
    try {
      await route.fulfill({ contentType: MIME[extname(file)] ?? 'application/octet-stream', body: readFileSync(file) });
    } catch {
      problems.push(`missing asset: ${path}`);
      await route.fulfill({ status: 404, body: '' });
    }
  });
  await context.route((url) => !url.href.startsWith(ORIGIN), async (route) => {
    problems.push(`request to another origin: ${route.request().url()}`);
    await route.abort();
  });
  await page.addInitScript(fakeVsCodeApi(options.savedState));
  await page.goto(`${ORIGIN}/index.html`);
  await page.waitForFunction(() => (window as unknown as { __pacsTest: { posted: { type: string }[] } }).__pacsTest.posted.some((m) => m.type === 'ready'));
  await applyTheme(page, options.theme ?? THEMES[1]);
  return {
    page,
    problems,
    send: async (messages) => {
      // One JSON string per message: Playwright serializes a string far faster than an object graph.
      for (const message of messages) await page.evaluate((json) => window.postMessage(JSON.parse(json), '*'), JSON.stringify(message));
    },
    posted: () => page.evaluate(() => (window as unknown as { __pacsTest: { posted: [] } }).__pacsTest.posted),
    close: () => context.close(),
  };
}

/**
 * What VS Code gives a webview: acquireVsCodeApi with postMessage (recorded here) and
 * getState/setState. A string, not a function: tsx would add helpers the page lacks.
 */
function fakeVsCodeApi(saved: unknown): string {
  return `(() => {
    const posted = [];
    const violations = [];
    let state = ${JSON.stringify(saved ?? null)} ?? undefined;
    window.__pacsTest = { posted, violations, getState: () => state };
    window.acquireVsCodeApi = () => ({
      postMessage: (message) => posted.push(JSON.parse(JSON.stringify(message))),
      getState: () => state,
      setState: (next) => { state = next; },
    });
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective + ' blocked ' + e.blockedURI));
  })();`;
}

function pageHtml(options: PageOptions): string {
  return webviewPageHtml({
    cspSource: ORIGIN,
    nonce: 'dGVzdC1ub25jZS0xMjM0',
    title: options.bundle,
    scriptUri: `${ORIGIN}/dist/webview/${options.bundle}.js`,
    styleUris: [`${ORIGIN}/media/webview.css`],
    codiconUri: `${ORIGIN}/dist/webview/codicon.css`,
    data: { view: options.bundle, mode: options.mode ?? 'panel' },
  });
}

async function applyTheme(page: Page, theme: Theme): Promise<void> {
  await page.evaluate((t) => {
    const html = document.documentElement;
    html.removeAttribute('style');
    for (const [name, value] of Object.entries(t.vars)) html.style.setProperty(name, value);
    document.body.classList.remove('vscode-light', 'vscode-dark', 'vscode-high-contrast');
    document.body.classList.add(t.bodyClass);
    document.body.dataset.vscodeThemeKind = t.bodyClass;
  }, theme);
}

/** Opens a page, runs `body`, then checks the page stayed clean (no errors, no CSP violations). */
async function withPage(browser: Browser, options: PageOptions, body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await openPage(browser, options);
  try {
    await body(h);
    await checkClean(h);
  } finally {
    await h.close();
  }
}

async function checkClean(h: Harness): Promise<void> {
  const violations = await h.page.evaluate(() => (window as unknown as { __pacsTest: { violations: string[] } }).__pacsTest.violations);
  assert.deepEqual([...h.problems, ...violations.map((v) => `CSP violation: ${v}`)], []);
}

const rawPoints = (state: DashboardState, family: string) =>
  state.families.find((f) => f.id === family)?.series.reduce((n, s) => n + s.rawCount, 0);
const renders = (page: Page) => page.evaluate(() => Number(document.body.dataset.renders ?? 0));
const attr = (page: Page, selector: string, name: string) => page.locator(selector).first().getAttribute(name);

export async function waitForRenders(page: Page, atLeast: number): Promise<void> {
  await page.waitForFunction((n) => Number(document.body.dataset.renders ?? 0) >= n, atLeast);
}

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

// ---------------------------------------------------------------- rollout inspector

async function loadStep(h: Harness, messages: RolloutsHostMessage[]): Promise<void> {
  await h.send(messages);
  await h.page.waitForSelector('#sample-list[data-loaded="true"] .sample-row');
}

const stateOf = (messages: RolloutsHostMessage[]) => (messages[0] as { state: RolloutsState }).state;
const samplesIn = (messages: RolloutsHostMessage[]) =>
  messages.flatMap((m) => (m.type === 'samples' ? m.samples : ([] as RolloutSample[])));

test('inspector: HTML and script payloads in model output stay text and run nothing', async (browser, rec) => {
  await withPage(browser, { bundle: 'rollouts' }, async (h) => {
    await loadStep(h, rec.payloadStep);
    await h.page.locator('#text-filter').click();
    await h.page.keyboard.type('onerror');
    await h.page.waitForFunction(() => document.querySelectorAll('.sample-row').length === 2);
    await h.page.locator('.sample-row').first().click();
    await h.page.waitForSelector('#detail-response');
    const shown = await h.page.evaluate(() => ({
      prompt: document.getElementById('detail-prompt')?.textContent,
      response: document.getElementById('detail-response')?.textContent,
      answer: document.getElementById('detail-answer')?.textContent,
      pwned: (window as unknown as { __pacsPwned?: unknown }).__pacsPwned,
      foreign: document.querySelectorAll('img, svg, iframe, a, textarea, style, #root script').length,
      scripts: document.scripts.length,
      warnings: [...document.querySelectorAll('.warning')].map((w) => w.textContent),
      heat: [...document.querySelectorAll('#heatmap .tok')].map((t) => t.textContent),
    }));
    assert.equal(shown.prompt, PAYLOAD_PROMPT);
    assert.equal(shown.response, PAYLOAD_RESPONSE);
    assert.equal(shown.answer, PAYLOAD_ANSWER);
    assert.equal(shown.pwned, undefined);
    assert.equal(shown.foreign, 0);
    assert.equal(shown.scripts, 1);
    assert.ok(shown.warnings.some((w) => w?.includes('U+202E') && w.includes('U+200B') && w.includes('U+FEFF')), JSON.stringify(shown.warnings));
    assert.deepEqual(shown.heat, ['<img', ' src=x', ' onerror=', '"alert(1)"', '>', '</textarea>', '\u202E', '42']);
    assert.match((await h.page.locator('#status').textContent()) ?? '', /1 unreadable line skipped/);
    await h.page.waitForTimeout(300);
    assert.equal(await h.page.evaluate(() => (window as unknown as { __pacsPwned?: unknown }).__pacsPwned), undefined);
    await h.page.screenshot({ path: join(OUT, 'rollouts-payloads-dark.png') });
  });
});

test('inspector: the page CSP refuses an injected inline script, and the test hears the violation', async (browser) => {
  const h = await openPage(browser, { bundle: 'rollouts' });
  try {
    await h.page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__pacsPwned = "inline"';
      document.body.append(script);
    });
    await h.page.waitForFunction(() => (window as { __pacsTest: { violations: string[] } }).__pacsTest.violations.length > 0);
    assert.equal(await h.page.evaluate(() => (window as { __pacsPwned?: unknown }).__pacsPwned), undefined);
  } finally {
    await h.close();
  }
});

test('inspector: 100k samples arrive in chunks and only the visible rows exist', async (browser, rec) => {
  await withPage(browser, { bundle: 'rollouts' }, async (h) => {
    assert.ok(rec.bigStep.length > 10, 'the host sends a big step in many chunks');
    await loadStep(h, rec.bigStep);
    const groups = BIG_SAMPLES / 8;
    assert.equal(await attr(h.page, '#sample-list', 'aria-rowcount'), String(BIG_SAMPLES + groups));
    const rows = await h.page.locator('#sample-list .row').count();
    assert.ok(rows < 120, `rendered rows: ${rows}`);
    await h.page.locator('#sample-list').evaluate((list) => {
      list.scrollTop = list.scrollHeight;
    });
    await h.page.waitForSelector(`.sample-row[data-key="${groups - 1}:7"]`);
    assert.ok((await h.page.locator('#sample-list .row').count()) < 120);
    assert.match((await h.page.locator('#status').textContent()) ?? '', /100,000 of 100,000 samples/);
  });
});

test('inspector: sorting and the label, text and critic-wrong filters', async (browser, rec) => {
  await withPage(browser, { bundle: 'rollouts' }, async (h) => {
    await loadStep(h, rec.bigStep);
    const all = samplesIn(rec.bigStep);
    await h.page.evaluate(() => {
      const select = document.getElementById('sort') as HTMLElement & { value: string };
      select.value = 'psi';
      select.dispatchEvent(new Event('change'));
    });
    await h.page.locator('#sort-direction').click();
    await h.page.waitForFunction(() => document.querySelector('#sort-direction')?.getAttribute('icon') === 'arrow-down');
    const psis = await h.page.locator('.sample-row').evaluateAll((rows) =>
      rows.sort((a, b) => Number((a as HTMLElement).dataset.row) - Number((b as HTMLElement).dataset.row)).map((r) => Number((r as HTMLElement).dataset.psi)),
    );
    const maxPsi = all.reduce((m, s) => Math.max(m, s.psi), -Infinity);
    assert.equal(psis[0], maxPsi);
    for (let i = 1; i < psis.length; i++) assert.ok(psis[i - 1] >= psis[i], 'descending ψ');

    await h.page.locator('#critic-wrong').click();
    const wrongCount = all.filter((s) => s.p_correct > 0.5 !== s.reward >= 0.5).length;
    await h.page.waitForFunction((n) => document.getElementById('status')?.textContent?.startsWith(`step 1: ${n.toLocaleString('en-US')} of`), wrongCount);
    const flagged = await h.page.locator('.sample-row').evaluateAll((rows) =>
      rows.map((r) => ({ psi: Number((r as HTMLElement).dataset.psi), reward: Number((r as HTMLElement).dataset.reward) })),
    );
    for (const s of flagged) assert.ok((s.psi > 0) !== (s.reward >= 0.5), JSON.stringify(s));

    await h.page.evaluate(() => {
      const select = document.getElementById('label-filter') as HTMLElement & { value: string };
      select.value = 'correct';
      select.dispatchEvent(new Event('change'));
    });
    const correctWrong = all.filter((s) => s.reward >= 0.5 && s.p_correct <= 0.5).length;
    await h.page.waitForFunction((n) => document.getElementById('status')?.textContent?.startsWith(`step 1: ${n.toLocaleString('en-US')} of`), correctWrong);
    const saved = (await h.page.evaluate(() => (window as unknown as { __pacsTest: { getState(): unknown } }).__pacsTest.getState())) as Record<string, unknown>;
    assert.deepEqual({ sort: saved.sort, descending: saved.descending, label: saved.label, criticWrong: saved.criticWrong }, {
      sort: 'psi',
      descending: true,
      label: 'correct',
      criticWrong: true,
    });
  });
});

test('inspector: keyboard navigation, Enter expands, and Edit and re-score posts the sample', async (browser, rec) => {
  await withPage(browser, { bundle: 'rollouts' }, async (h) => {
    await loadStep(h, rec.payloadStep);
    await h.page.locator('#sample-list').focus();
    await h.page.keyboard.press('ArrowDown');
    await h.page.keyboard.press('ArrowDown');
    const selected = h.page.locator('.sample-row[aria-selected="true"]');
    assert.equal(await selected.getAttribute('data-key'), '0:1');
    assert.equal(await h.page.locator('#detail').isHidden(), true);
    await h.page.keyboard.press('Enter');
    await h.page.waitForSelector('#detail-response');
    const sample = samplesIn(rec.payloadStep).find((s) => s.group === 0 && s.index === 1);
    assert.equal(await h.page.locator('#detail-response').textContent(), sample?.response);
    await h.page.keyboard.press('End');
    const last = samplesIn(rec.payloadStep).at(-1);
    assert.equal(await h.page.locator('.sample-row[aria-selected="true"]').getAttribute('data-key'), `${last?.group}:${last?.index}`);
    await h.page.locator('#rescore').click();
    const rescore = (await h.posted()).find((m) => m.type === 'rescore');
    assert.deepEqual(rescore, {
      type: 'rescore',
      request: { runId: RUN_A.id, step: stateOf(rec.payloadStep).step, group: last?.group, index: last?.index, prompt: last?.prompt, response: last?.response },
    });
    await h.page.locator('#sample-list').focus();
    await h.page.keyboard.press('Escape');
    assert.equal(await h.page.locator('#detail').isHidden(), true);
  });
});

test('inspector: state saved with setState comes back when the webview is re-created', async (browser, rec) => {
  const wrong = samplesIn(rec.payloadStep).filter((s) => s.reward === 0).at(-2) as RolloutSample;
  const selected = `${wrong.group}:${wrong.index}`;
  const savedState = { runId: RUN_A.id, step: RUN_A.steps, sort: 'length', descending: true, label: 'wrong', text: '', criticWrong: false, selected };
  await withPage(browser, { bundle: 'rollouts', savedState }, async (h) => {
    await loadStep(h, rec.payloadStep);
    assert.equal(await h.page.evaluate(() => (document.getElementById('sort') as HTMLElement & { value: string }).value), 'length');
    assert.equal(await h.page.evaluate(() => (document.getElementById('label-filter') as HTMLElement & { value: string }).value), 'wrong');
    assert.equal(await h.page.locator('#sort-direction').getAttribute('icon'), 'arrow-down');
    const rewards = await h.page.locator('.sample-row').evaluateAll((rows) => rows.map((r) => Number((r as HTMLElement).dataset.reward)));
    assert.ok(rewards.length > 0 && rewards.every((r) => r === 0));
    await h.page.waitForSelector('#detail-response');
    assert.equal(await h.page.locator('.sample-row[aria-selected="true"]').getAttribute('data-key'), selected);
  });
});

test('inspector: a restored panel pinned to an older step keeps that step in its picker when the run logs new steps', async (browser, rec) => {
  // After a reload the serializer pins the saved step; a live run then sends new step lists
  // while that step stays shown, and the picker must still name it.
  const first = stateOf(rec.payloadStep);
  const pinned = first.steps[first.steps.length - 2];
  const savedState = { runId: RUN_A.id, step: pinned, sort: 'group', descending: false, label: 'all', text: '', criticWrong: false, selected: null };
  await withPage(browser, { bundle: 'rollouts', savedState }, async (h) => {
    await loadStep(h, rec.payloadStep.map((m) => (m.type === 'state' ? { ...m, state: { ...m.state, step: pinned } } : m)));
    const picker = () =>
      h.page.evaluate(() => {
        const p = document.getElementById('step-picker') as HTMLElement & { value: string };
        const input = p.shadowRoot?.querySelector('.combobox-input') as (HTMLElement & { value: string }) | null | undefined;
        return { value: p.value, shown: input?.value ?? null, options: p.querySelectorAll('vscode-option').length };
      });
    assert.deepEqual(await picker(), { value: String(pinned), shown: `step ${pinned}`, options: first.steps.length });
    const last = first.steps[first.steps.length - 1];
    for (const next of [last + 10, last + 20]) {
      const steps = [...first.steps, ...Array.from({ length: (next - last) / 10 }, (_, i) => last + 10 * (i + 1))];
      await h.send([{ type: 'state', state: { ...first, step: pinned, steps } }]);
      await h.page.waitForFunction((n) => document.querySelectorAll('#step-picker vscode-option').length === n, steps.length);
      await h.page.waitForTimeout(100); // the select re-reads its options on slotchange, then renders
      assert.deepEqual(await picker(), { value: String(pinned), shown: `step ${pinned}`, options: steps.length }, `after step ${next} is logged`);
    }
    const saved = () => h.page.evaluate(() => (window as unknown as { __pacsTest: { getState(): { following?: boolean } } }).__pacsTest.getState());
    assert.equal((await saved()).following, false, 'an older step is saved as pinned');
    await h.send([{ type: 'state', state: { ...first, step: last } }]);
    await h.page.waitForFunction(() => (window as unknown as { __pacsTest: { getState(): { following?: boolean } } }).__pacsTest.getState().following === true);
  });
});

test('inspector: a re-created webview returns to where the list was scrolled', async (browser, rec) => {
  const savedState = { runId: BIG_RUN_ID, step: 1, sort: 'group', descending: false, label: 'all', text: '', criticWrong: false, selected: null, scrollTop: 26 * 5000 };
  await withPage(browser, { bundle: 'rollouts', savedState }, async (h) => {
    await loadStep(h, rec.bigStep);
    await h.page.waitForSelector('.row[aria-rowindex="5001"]');
    assert.equal(await h.page.locator('#sample-list').evaluate((list) => list.scrollTop), 26 * 5000);
  });
});

test('inspector: screenshots of the panel and the side view in light, dark and high contrast', async (browser, rec) => {
  for (const theme of THEMES) {
    for (const mode of ['panel', 'view'] as const) {
      await withPage(browser, { bundle: 'rollouts', mode, theme, width: mode === 'view' ? 420 : 1280, height: 860 }, async (h) => {
        const messages = rec.payloadStep.map((m) => (m.type === 'state' ? { ...m, state: { ...m.state, mode } } : m));
        await loadStep(h, messages);
        if (mode === 'panel') assert.equal(await h.page.locator('#open-panel').isHidden(), true);
        else assert.equal(await h.page.locator('#open-panel').isVisible(), true);
        await h.page.locator('.sample-row[data-key="2:3"]').click();
        await h.page.waitForSelector('#heatmap');
        await h.page.waitForTimeout(150);
        await h.page.screenshot({ path: join(OUT, `rollouts-${mode}-${theme.kind}.png`) });
      });
    }
  }
});

// ---------------------------------------------------------------- a run the real trainer wrote

test('trainer output: the dashboard and the inspector render a run written by pacslab', async (browser, rec) => {
  const state = rec.trainerDashboard.state;
  assert.deepEqual(state.runs.map((r) => r.id), [TRAINER_RUN_ID]);
  for (const id of ['reward', 'loss', 'critic', 'eval', 'grad-norm', 'entropy', 'throughput', 'timing']) {
    assert.ok(state.families.some((f) => f.id === id), `family ${id} from the trainer's metrics`);
  }
  assert.equal(state.rolloutSteps.length, 10);
  assert.equal(state.critic?.badLines, 0);
  await withPage(browser, { bundle: 'dashboard', theme: THEMES[1] }, async (dash) => {
    await dash.send([rec.trainerDashboard]);
    await waitForRenders(dash.page, 1);
    assert.equal(Number(await attr(dash.page, '#chart-reward', 'data-points')), rawPoints(rec.trainerDashboard.state, 'reward'));
    assert.equal(await attr(dash.page, '#chart-reliability', 'data-ece'), state.critic?.reliability.ece?.toFixed(4));
    await dash.page.screenshot({ path: join(OUT, 'trainer-run-dashboard-dark.png'), fullPage: true });
  });
  await withPage(browser, { bundle: 'rollouts', theme: THEMES[0] }, async (inspector) => {
    await loadStep(inspector, rec.trainerStep);
    const samples = samplesIn(rec.trainerStep);
    assert.match((await inspector.page.locator('#status').textContent()) ?? '', new RegExp(`step 10: ${samples.length} of ${samples.length} samples`));
    const first = inspector.page.locator('#sample-list [data-psi]').first();
    const psi = Number(await first.getAttribute('data-psi'));
    assert.equal(psi, samples[0].psi);
    await first.click();
    await inspector.page.waitForSelector('#heatmap');
    assert.equal(await inspector.page.locator('#detail-response').textContent(), samples[0].response);
    assert.equal(await inspector.page.locator('#heatmap .tok').count(), samples[0].tokens?.length);
    await inspector.page.screenshot({ path: join(OUT, 'trainer-run-rollouts-light.png') });
  });
});

test('a Parquet step: the list from the light fields, the heat-map and a cut response read when shown, whole responses when filtering', async (browser, rec) => {
  const samples = samplesIn(rec.parquetStep);
  const jsonl = samplesIn(rec.trainerStep);
  assert.equal(samples.length, jsonl.length);
  assert.ok(samples.every((s) => s.token_details === true && s.tokens === undefined && s.token_logratio === undefined));
  assert.deepEqual(samples.map((s) => [s.group, s.index, s.reward, s.psi, s.response]), jsonl.map((s) => [s.group, s.index, s.reward, s.psi, s.response]));
  const answer = rec.parquetTokens;
  assert.ok(answer.type === 'tokens' && answer.error === null);
  assert.deepEqual(answer.details?.tokens, jsonl[0].tokens);
  await withPage(browser, { bundle: 'rollouts' }, async (inspector) => {
    await loadStep(inspector, rec.parquetStep);
    assert.equal(await inspector.page.locator('#sample-list [data-psi]').count() > 0, true);
    await inspector.page.locator('#sample-list [data-psi]').first().click();
    await inspector.page.waitForSelector('#heatmap-loading');
    const asked = (await inspector.posted()).filter((m) => m.type === 'loadTokens');
    assert.deepEqual(asked, [{ type: 'loadTokens', loadId: 5, group: samples[0].group, index: samples[0].index }]);
    await inspector.send([answer]);
    await inspector.page.waitForSelector('#heatmap');
    const shown = await inspector.page.locator('#heatmap .tok').allTextContents();
    assert.deepEqual(shown, jsonl[0].tokens);
    // an answer the host could not read is shown, named, in place of the heat-map
    await inspector.page.keyboard.press('ArrowDown');
    await inspector.page.waitForSelector('#heatmap-loading');
    await inspector.send([{ type: 'tokens', loadId: 5, group: samples[1].group, index: samples[1].index, details: null, error: 'Cannot read the tokens of group 0 sample 1: step-000010.parquet: not a readable rollout file' }]);
    await inspector.page.waitForSelector('#heatmap-error');
    assert.match((await inspector.page.locator('#heatmap-error').textContent()) ?? '', /step-000010\.parquet/);
  });
  // a long response comes as its preview (response_cut): the detail reads it whole when shown, the
  // text filter searches the previews until it has asked for and got every whole response
  const whole = `${samples[0].response} and a long chain of thought that ends in a zebra`;
  const cutStep = rec.parquetStep.map((m) => (m.type === 'samples'
    ? { ...m, samples: m.samples.map((s, i) => (m.offset + i === 0 ? { ...s, response_cut: true } : s)) } : m));
  await withPage(browser, { bundle: 'rollouts' }, async (inspector) => {
    await loadStep(inspector, cutStep);
    await inspector.page.locator('#sample-list [data-psi]').first().click();
    await inspector.page.waitForSelector('#response-loading');
    assert.equal(await inspector.page.locator('#rescore').getAttribute('disabled'), '');
    await inspector.send([{ ...answer, response: whole }]);
    await inspector.page.waitForSelector('#heatmap');
    assert.equal(await inspector.page.locator('#detail-response').textContent(), whole);
    assert.equal(await inspector.page.locator('#rescore').getAttribute('disabled'), null);
    await inspector.page.locator('#text-filter').click();
    await inspector.page.keyboard.type('zebra');
    await inspector.page.waitForFunction(() => (window as unknown as { __pacsTest: { posted: { type: string }[] } }).__pacsTest.posted
      .some((m) => m.type === 'loadResponses'));
    assert.deepEqual((await inspector.posted()).filter((m) => m.type === 'loadResponses'), [{ type: 'loadResponses', loadId: 5 }]);
    assert.match((await inspector.page.locator('#status').textContent()) ?? '', /searches the first 400 characters of each response/);
    assert.equal(await inspector.page.locator('.sample-row').count(), 0);
    await inspector.send([{ type: 'responses', loadId: 5, offset: 0, responses: samples.map((s, i) => (i === 0 ? whole : s.response)), error: null }]);
    await inspector.page.waitForFunction(() => document.querySelectorAll('.sample-row').length === 1);
    assert.doesNotMatch((await inspector.page.locator('#status').textContent()) ?? '', /first 400 characters/);
  });
});

test('an imported TRL run: the dashboard charts its metrics; the inspector says what the record lacks', async (browser, rec) => {
  const state = rec.importedDashboard.state;
  assert.deepEqual(state.runs.map((r) => [r.id, r.algorithm]), [[IMPORTED_RUN_ID, 'trl']]);
  assert.ok(state.families.some((f) => f.id === 'reward'), 'TRL\'s reward is mapped to reward/mean');
  await withPage(browser, { bundle: 'dashboard' }, async (dash) => {
    await dash.send([rec.importedDashboard]);
    await waitForRenders(dash.page, 1);
    assert.equal(Number(await attr(dash.page, '#chart-reward', 'data-points')), rawPoints(state, 'reward'));
    assert.ok((rawPoints(state, 'reward') ?? 0) > 0);
    await dash.page.screenshot({ path: join(OUT, 'imported-run-dashboard.png'), fullPage: true });
  });
  await withPage(browser, { bundle: 'rollouts' }, async (inspector) => {
    await loadStep(inspector, rec.importedStep);
    const samples = samplesIn(rec.importedStep);
    assert.equal(samples.length, 4);
    assert.equal(await inspector.page.locator('.sample-row.critic-wrong').count(), 0, 'no σ(ψ), so never "critic wrong"');
    await inspector.page.locator('.sample-row').first().click();
    await inspector.page.waitForSelector('#detail-absent');
    assert.match((await inspector.page.locator('#detail-absent').textContent()) ?? '', /Not recorded .*psi, p_correct, grad_weight, weight, logratio, length/);
    const metrics = (await inspector.page.locator('#detail-metrics').textContent()) ?? '';
    assert.doesNotMatch(metrics, /ψ_post|σ\(ψ\)|undefined/);
    assert.match(metrics, /advantage/);
    assert.equal(await inspector.page.locator('#detail-response').textContent(), samples[0].response);
    await inspector.page.screenshot({ path: join(OUT, 'imported-run-rollouts.png') });
  });
});


// ---------------------------------------------------------------- runner

export async function main(): Promise<number> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const root = mkdtempSync(join(tmpdir(), 'pacs-webview-'));
  let passed = 0;
  let failed = 0;
  const browser = await launchChromium();
  try {
    const recorded = await record(root);
    const only = process.env.WEBVIEW_TEST_FILTER;
    for (const [name, fn] of tests) {
      if (only && !name.includes(only)) continue;
      try {
        await fn(browser, recorded);
        passed++;
        console.log(`ok - ${name}`);
      } catch (err) {
        failed++;
        console.log(`not ok - ${name}\n  ${String((err as Error).stack ?? err).replace(/\n/g, '\n  ')}`);
      }
    }
  } finally {
    await browser.close();
    rmSync(root, { recursive: true, force: true });
  }
  console.log(`webview tests: ${passed} passed, ${failed} failed (screenshots in ${OUT})`);
  return failed === 0 ? 0 : 1;
}

if (require.main === module) {
  void main().then((code) => {
    process.exitCode = code;
  });
}
