// What the end-to-end sessions share: their settings, one code-server session per describe block,
// stages that skip after a failure, and waits on the Runs tree.
import { after, before, test } from 'node:test';
import {
  env, listRuns, openBrowser, openWorkbench, runsTreeRows, screenshot, startCodeServer, trainerLogTail, waitFor,
} from './workbench.mjs';

export const baseSettings = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'extensions.ignoreRecommendations': true,
  'pacs.pythonPath': env.python,
};

/** How the webviews print a number (webview/shared/dom.ts formatNumber). */
export function shownNumber(value, digits) {
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return value.toFixed(digits);
}

export async function waitForTreeRow(page, pattern, what, timeout = 90_000) {
  let rows = [];
  try {
    return await waitFor(`the Runs tree to show ${what}`, async () => {
      rows = await runsTreeRows(page);
      return rows.find((row) => pattern.test(row));
    }, { timeout });
  } catch (error) {
    error.message += `\nRuns tree rows: ${JSON.stringify(rows)}`;
    throw error;
  }
}

/**
 * Stages share one window and one run, so a failed stage skips the ones after it. On failure the
 * stage leaves a screenshot and the error carries the trainer log's tail.
 */
export function stages(getPage) {
  let failed;
  return (name, body, { skip = false } = {}) => test(name, async (t) => {
    if (skip) {
      t.skip(skip);
      return;
    }
    if (failed) {
      t.skip(`"${failed}" failed`);
      return;
    }
    try {
      await body();
    } catch (error) {
      failed = name;
      const page = getPage();
      if (page) await screenshot(page, `FAILED-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}`).catch(() => {});
      const runId = listRuns().at(-1);
      if (runId && error instanceof Error) error.message += `\n--- trainer.log of ${runId} ---\n${trainerLogTail(runId)}`;
      throw error;
    }
  });
}

/**
 * A code-server session of its own for a describe block: started, with its workbench open in a
 * browser, before the block's stages (`session.page`), and closed after them.
 */
export function openSession(name, settings, { skip = false } = {}) {
  const session = {};
  before(async () => {
    if (skip) return;
    session.server = await startCodeServer(name, settings);
    session.browser = await openBrowser();
    session.page = await openWorkbench(session.browser, session.server.url);
  });
  after(async () => {
    await session.browser?.close();
    await session.server?.stop();
  });
  return session;
}
