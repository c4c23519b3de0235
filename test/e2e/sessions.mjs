// What the end-to-end sessions share: their settings, one code-server session per describe block,
// stages that skip after a failure, and waits on the Runs tree and on a run's status and steps.
import assert from 'node:assert/strict';
import console from 'node:console';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  env, listRuns, openBrowser, openWorkbench, readRunJson, runsRoot, runsTreeRows, screenshot, startCodeServer, trainerLogTail, waitFor,
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

/** The newest step the run has reached, from run.json and the metrics events. */
export function currentStep(runId) {
  let step = Number(readRunJson(runId).step ?? -1);
  const events = join(runsRoot(), runId, 'events.jsonl');
  if (existsSync(events)) {
    for (const line of readFileSync(events, 'utf8').split('\n')) {
      try {
        const event = JSON.parse(line);
        if (event.type === 'metrics' && typeof event.step === 'number') step = Math.max(step, event.step);
      } catch {
        // a line being written
      }
    }
  }
  return step;
}

const ENDED = ['finished', 'stopped', 'suspended', 'failed', 'crashed'];

export async function waitForStatus(runId, status, timeout = 120_000) {
  await waitFor(`run.json of ${runId} to say "${status}"`, () => {
    const run = readRunJson(runId);
    if (run.status !== status && ENDED.includes(run.status)) {
      assert.fail(`run ${runId} ended "${run.status}" while the test waited for "${status}": ${JSON.stringify(run.error)}`);
    }
    return run.status === status;
  }, { timeout });
}

export async function waitForStepAfter(runId, step, timeout = 120_000) {
  return waitFor(`run ${runId} to advance past step ${step}`, () => {
    const now = currentStep(runId);
    return now > step ? now : false;
  }, { timeout });
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
  // The session's stages have passed or failed by now: closing it reports what goes wrong and fails nothing.
  after(async () => {
    await session.browser?.close().catch((error) => console.log(`# closing the browser of session ${name}: ${error.message}`));
    await session.server?.stop().catch((error) => console.log(`# stopping code-server of session ${name}: ${error.message}`));
  });
  return session;
}
