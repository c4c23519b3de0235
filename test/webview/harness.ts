// The harness of the webview browser tests: each page is the extension's own HTML
// (src/webviews/model/webviewPage.ts, CSP included), served from a fake webview origin, with a fake
// acquireVsCodeApi. The host messages are recorded from run directories in the run format through
// the extension's own store and shaping code (RunStore, dashboardState, rolloutsState), then
// replayed; `test` registers a test and `runTests` runs them all. Screenshots go to test-results/webview/.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { DashboardHostMessage, DashboardState } from '../../webview/dashboard/contract';
import type { RolloutsHostMessage, RolloutsState } from '../../webview/rollouts/contract';
import { RunStore } from '../../src/runs/model/runStore';
import { webviewPageHtml } from '../../src/webviews/model/webviewPage';
import { shownStep } from '../../src/run/model/runModel';
import { dashboardState, loadCritic } from '../../src/dashboard/model/dashboardState';
import { RunConfigCache } from '../../src/dashboard/model/runConfig';
import { PromptHealthReader } from '../../src/diagnostics/model/promptHealth';
import { rolloutsState, sampleMessages, tokensMessage } from '../../src/rollouts/model/rolloutsState';
import { BIG_RUN_ID, RUN_A, RUN_B, SEED_RUNS, writeBigRun, writeRun } from './fixtures';
import { THEMES, type Theme } from './themes';
import { launchChromium } from './browser';

// The callbacks given to page.evaluate run in Chromium. This file is type-checked with the
// Node project (no DOM lib), so the page globals are declared loosely here.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any;
declare const document: any;
/* eslint-enable @typescript-eslint/no-explicit-any */

export const REPO = resolve(__dirname, '..', '..');
export const OUT = join(REPO, 'test-results', 'webview');
const ORIGIN = 'https://webview.test';
const MIME: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.map': 'application/json' };

export interface Recorded {
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

export const TRAINER_RUNS = join(REPO, 'test', 'webview', 'fixtures', 'trainer-run');
export const TRAINER_RUN_ID = '20261127-034358-dev-09e1';
export const IMPORTED_RUNS = join(REPO, 'test', 'webview', 'fixtures', 'imported-run');
export const IMPORTED_RUN_ID = '20261201-165746-trl-grpo-071c';
export const PARQUET_RUNS = join(REPO, 'test', 'webview', 'fixtures', 'parquet-run');
export const PARQUET_RUN_ID = '20261207-130000-dev-pq01';

interface PageOptions {
  bundle: 'dashboard' | 'rollouts' | 'diagnostics';
  mode?: 'view' | 'panel';
  width?: number;
  height?: number;
  theme?: Theme;
  savedState?: unknown;
}

export interface Harness {
  page: Page;
  problems: string[];
  send(messages: unknown[]): Promise<void>;
  posted(): Promise<Array<{ type: string; [key: string]: unknown }>>;
  close(): Promise<void>;
}

type TestFn = (browser: Browser, recorded: Recorded) => Promise<void>;
export const tests: [string, TestFn][] = [];
export const test = (name: string, fn: TestFn) => tests.push([name, fn]);

// ---------------------------------------------------------------- recording the host messages

export async function record(root: string): Promise<Recorded> {
  const configs = new RunConfigCache();
  const ledgers = new PromptHealthReader();
  const store = new RunStore({ roots: [root, TRAINER_RUNS, IMPORTED_RUNS, PARQUET_RUNS], detectCrashes: false });
  const dashboard = async (runIds: string[], smoothing?: number): Promise<DashboardHostMessage> => {
    await store.refresh();
    const configMap = new Map<string, unknown>();
    for (const id of runIds) configMap.set(id, await configs.read(store.get(id)?.dir ?? join(root, id)));
    const step = shownStep(store.rolloutSteps(runIds[0]), null);
    const critic = step === null ? null : await loadCritic(store, runIds[0], step);
    // as DashboardPanel.buildState: every run's prompt ledger beside the state
    const prompts = await ledgers.charts(runIds.map((id) => store.get(id)).filter((run) => run !== undefined));
    return { type: 'state', state: { ...dashboardState(store, runIds, runIds[0], configMap, critic, smoothing), prompts } };
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

export async function applyTheme(page: Page, theme: Theme): Promise<void> {
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
export async function withPage(browser: Browser, options: PageOptions, body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await openPage(browser, options);
  try {
    await body(h);
    await checkClean(h);
  } finally {
    await h.close();
  }
}

export async function checkClean(h: Harness): Promise<void> {
  const violations = await h.page.evaluate(() => (window as unknown as { __pacsTest: { violations: string[] } }).__pacsTest.violations);
  assert.deepEqual([...h.problems, ...violations.map((v) => `CSP violation: ${v}`)], []);
}

export const rawPoints = (state: DashboardState, family: string) =>
  state.families.find((f) => f.id === family)?.series.reduce((n, s) => n + s.rawCount, 0);
export const renders = (page: Page) => page.evaluate(() => Number(document.body.dataset.renders ?? 0));
export const attr = (page: Page, selector: string, name: string) => page.locator(selector).first().getAttribute(name);

export async function waitForRenders(page: Page, atLeast: number): Promise<void> {
  await page.waitForFunction((n) => Number(document.body.dataset.renders ?? 0) >= n, atLeast);
}

// ---------------------------------------------------------------- runner

export async function runTests(): Promise<number> {
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
