// Renders one run's dashboard, as the extension shapes it, to a PNG (the README's picture):
//   node --import tsx test/webview/screenshot.ts RUNS_ROOT RUN_ID OUT.png [theme index]
import { RunStore } from '../../src/runs/model/runStore';
import { shownStep } from '../../src/run/model/runModel';
import { dashboardState, loadCritic } from '../../src/dashboard/model/dashboardState';
import { RunConfigCache } from '../../src/dashboard/model/runConfig';
import { THEMES } from './themes';
import { openPage, waitForRenders } from './harness';
import { launchChromium } from './browser';

async function main(root: string, runId: string, out: string, themeIndex: number): Promise<void> {
  const store = new RunStore({ roots: [root], detectCrashes: false });
  await store.refresh();
  const run = store.get(runId);
  if (!run) throw new Error(`no run ${runId} under ${root}`);
  const step = shownStep(store.rolloutSteps(runId), null);
  const critic = step === null ? null : await loadCritic(store, runId, step);
  const configs = new Map<string, unknown>([[runId, await new RunConfigCache().read(run.dir)]]);
  const state = dashboardState(store, [runId], runId, configs, critic);
  store.dispose();
  const browser = await launchChromium();
  try {
    const page = await openPage(browser, { bundle: 'dashboard', theme: THEMES[themeIndex], width: 1280, height: 1100 });
    await page.send([{ type: 'state', state }]);
    await waitForRenders(page.page, 1);
    await page.page.screenshot({ path: out });
    await page.close();
  } finally {
    await browser.close();
  }
}

const [root, runId, out, theme] = process.argv.slice(2);
if (!root || !runId || !out) {
  console.error('usage: node --import tsx test/webview/screenshot.ts RUNS_ROOT RUN_ID OUT.png [theme index]');
  process.exit(2);
}
main(root, runId, out, Number(theme ?? 1)).catch((err) => {
  console.error(err);
  process.exit(1);
});
