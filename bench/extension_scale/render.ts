// The dashboard's first render at scale: 20 metric series × 10,000 steps of one run, shaped by
// the host's own code (dashboardState → buildFamilies, which decimates each series for the
// webview) and posted to the real bundle dist/webview/dashboard.js in headless Chromium, served
// as the extension serves it (src/webviews/model/webviewPage.ts, CSP included) with a fake acquireVsCodeApi,
// as in test/webview. Time: from window.postMessage in the page to the frame after the
// dashboard's render counter (body[data-renders]) turns 1, i.e. the charts painted.
// Run: node --import tsx bench/extension_scale/render.ts [RUNS_ROOT] OUT.json

import { readFileSync, writeFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import type { DashboardHostMessage } from '../../webview/dashboard/contract';
import { MAX_POINTS_PER_SERIES, type MetricSeries } from '../../src/dashboard/model/charts';
import type { RunInfo } from '../../src/run/model/runFormat';
import { RunStore } from '../../src/runs/model/runStore';
import { webviewPageHtml } from '../../src/webviews/model/webviewPage';
import { dashboardState, loadCritic, type CriticResult, type DashboardStore } from '../../src/dashboard/model/dashboardState';
import { THEMES } from '../../test/webview/themes';
import { launchChromium } from '../../test/webview/browser';
import { DEFAULT_SMOOTHING } from '../../src/dashboard/model/smoothing';

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any;
declare const document: any;
/* eslint-enable @typescript-eslint/no-explicit-any */

const REPO = resolve(__dirname, '..', '..');
const ORIGIN = 'https://webview.test';
const MIME: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.map': 'application/json' };
const POINTS = 10_000;
const SERIES = 20;
const REPEATS = 5;
const RUN_ID = '20261127-050000-render-bench-0a0a';
const METRICS = [
  'reward/mean', 'reward/std', 'reward/mixed_group_frac', 'pacs/loss', 'pacs/psi_mean', 'pacs/psi_abs_mean', 'pacs/weight_mean',
  'critic/auc', 'critic/ece', 'critic/accuracy', 'critic/psi_pos_mean', 'critic/psi_neg_mean', 'optim/grad_norm', 'optim/lr',
  'policy/entropy', 'response/length_mean', 'response/length_max', 'response/truncated_frac', 'perf/step_s', 'perf/samples_per_s',
];

function syntheticSeries(): Map<string, MetricSeries> {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const series = new Map<string, MetricSeries>();
  for (const metric of METRICS.slice(0, SERIES)) {
    const steps = Array.from({ length: POINTS }, (_, i) => i + 1);
    const base = rand();
    series.set(metric, { steps, values: steps.map((s) => base + 0.3 * Math.log1p(s) / 10 + 0.1 * (rand() - 0.5)) });
  }
  return series;
}

function runInfo(): RunInfo {
  return {
    format: 1, id: RUN_ID, name: 'render-bench', algorithm: 'pacs', status: 'finished', pid: null, pid_start_time: null, host: 'bench',
    created_at: '2026-11-27T05:00:00Z', updated_at: '2026-11-27T05:00:00Z', step: POINTS, total_steps: POINTS,
    config_path: 'bench.pacs.yaml', seed: 0, git: null, versions: {}, error: null,
  };
}

async function hostMessage(maxPoints: number, critic: CriticResult | null): Promise<DashboardHostMessage> {
  const series = syntheticSeries();
  const store = {
    get: (id: string) => (id === RUN_ID ? { id, info: runInfo() } : undefined),
    metricSeries: () => series,
    rolloutSteps: () => (critic ? [critic.step] : []),
    loadRollouts: async () => ({ samples: [], badLines: 0 }),
  } as unknown as DashboardStore;
  const state = dashboardState(store, [RUN_ID], RUN_ID, new Map([[RUN_ID, null]]), critic && { ...critic, runId: RUN_ID });
  if (maxPoints !== MAX_POINTS_PER_SERIES) {
    // The undecimated variant: the same families with every point kept.
    const { buildFamilies } = await import('../../src/dashboard/model/charts');
    state.families = buildFamilies([{ runId: RUN_ID, series, lossMetric: 'pacs/loss' }], maxPoints);
  }
  return { type: 'state', state };
}

function fakeVsCodeApi(): string {
  return `(() => {
    const posted = [];
    window.__bench = { posted };
    window.acquireVsCodeApi = () => ({ postMessage: (m) => posted.push(m), getState: () => undefined, setState: () => {} });
  })();`;
}

// A string, not a function: tsx would add helpers (__name) the page lacks.
const TIME_FIRST_RENDER = `new Promise((done) => {
  let renderedAt = 0;
  const observer = new MutationObserver(() => {
    if (document.body.dataset.renders === '1' && !renderedAt) renderedAt = performance.now();
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ['data-renders'] });
  const t0 = performance.now();
  window.postMessage(window.__benchMessage, '*');
  const wait = () => {
    if (!renderedAt) return requestAnimationFrame(wait);
    requestAnimationFrame(() => {
      observer.disconnect();
      done({ ms: performance.now() - t0, renderCallMs: renderedAt - t0 });
    });
  };
  requestAnimationFrame(wait);
})`;

async function firstRender(browser: Browser, message: DashboardHostMessage): Promise<{ ms: number; renderCallMs: number; problems: string[]; points: number }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  await context.route(`${ORIGIN}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/index.html') {
      const html = webviewPageHtml({
        cspSource: ORIGIN, nonce: 'YmVuY2gtbm9uY2U', title: 'dashboard', scriptUri: `${ORIGIN}/dist/webview/dashboard.js`,
        styleUris: [`${ORIGIN}/media/webview.css`], codiconUri: `${ORIGIN}/dist/webview/codicon.css`, data: { view: 'dashboard' },
      });
      await route.fulfill({ contentType: 'text/html', body: html });
      return;
    }
    try {
      await route.fulfill({ contentType: MIME[extname(path)] ?? 'application/octet-stream', body: readFileSync(join(REPO, path)) });
    } catch {
      await route.fulfill({ status: 404, body: '' });
    }
  });
  await page.addInitScript(fakeVsCodeApi());
  await page.goto(`${ORIGIN}/index.html`);
  await page.waitForFunction(() => window.__bench.posted.some((m: { type: string }) => m.type === 'ready'));
  const theme = THEMES.find((t) => t.kind === 'dark') ?? THEMES[0];
  await page.evaluate((vars) => {
    for (const [name, value] of Object.entries(vars)) document.documentElement.style.setProperty(name, value as string);
  }, theme.vars);
  // The message is handed to the page first (a CDP transfer, not part of what a webview pays),
  // then posted and timed inside the page.
  await page.evaluate((m) => {
    window.__benchMessage = m;
  }, message);
  const timing = (await page.evaluate(TIME_FIRST_RENDER)) as { ms: number; renderCallMs: number };
  const points = await page.evaluate(() =>
    [...document.querySelectorAll('#charts canvas')].reduce((sum: number, c: { dataset: { points?: string } }) => sum + Number(c.dataset.points ?? 0), 0),
  );
  await context.close();
  return { ...timing, problems, points };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number) => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const out = args.pop();
  const root = args[0];
  if (!out) {
    console.error('usage: node --import tsx bench/extension_scale/render.ts [RUNS_ROOT] OUT.json');
    process.exit(2);
  }
  let critic: CriticResult | null = null;
  if (root) {
    const store = new RunStore({ roots: [root], detectCrashes: false });
    await store.refresh();
    const id = store.runs()[0]?.id;
    if (id) critic = await loadCritic(store, id, store.rolloutSteps(id).at(-1) ?? 1);
    store.dispose();
  }
  let t0 = performance.now();
  const decimated = await hostMessage(MAX_POINTS_PER_SERIES, critic);
  const shapeMs = performance.now() - t0;
  t0 = performance.now();
  const raw = await hostMessage(Number.MAX_SAFE_INTEGER, critic);
  const rawShapeMs = performance.now() - t0;
  const browser = await launchChromium();
  const variants: Record<string, unknown> = {};
  try {
    for (const [name, message, shaped] of [['host_decimated', decimated, shapeMs], ['undecimated', raw, rawShapeMs]] as const) {
      const runs = [];
      for (let i = 0; i < REPEATS; i++) runs.push(await firstRender(browser, message));
      const problems = [...new Set(runs.flatMap((r) => r.problems))];
      variants[name] = {
        first_render_ms_median: round(median(runs.map((r) => r.ms))),
        first_render_ms: runs.map((r) => round(r.ms)),
        render_call_done_ms_median: round(median(runs.map((r) => r.renderCallMs))),
        host_shaping_ms: round(shaped),
        points_sent: message.state.families.reduce((sum, f) => sum + f.series.reduce((s, x) => s + x.xs.length, 0), 0),
        raw_points: runs[0].points,
        message_kib: Math.round(JSON.stringify(message).length / 1024),
        page_problems: problems,
      };
    }
  } finally {
    await browser.close();
  }
  const result = {
    series: SERIES, points_per_series: POINTS, repeats: REPEATS, critic_samples: critic?.view?.samples ?? 0,
    smoothing: `${DEFAULT_SMOOTHING} (the dashboard's default: each series drawn smoothed, over its raw line)`,
    ...variants,
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
