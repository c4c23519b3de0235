// code-server and VS Code workbench helpers for the end-to-end test.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, cpSync, existsSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import console from 'node:console';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { AssertionError } from 'node:assert';
import { chromium } from 'playwright-core';

export const env = {
  codeServer: process.env.PACS_E2E_CODE_SERVER,
  extensions: process.env.PACS_E2E_EXTENSIONS,
  work: process.env.PACS_E2E_WORK,
  workspace: process.env.PACS_E2E_WORKSPACE,
  out: process.env.PACS_E2E_OUT,
  python: process.env.PACS_E2E_PYTHON,
};
for (const [key, value] of Object.entries(env)) {
  if (!value) throw new Error(`PACS_E2E_${key.toUpperCase()} is not set: run the test through test/e2e/run.sh`);
}

/**
 * Polls `probe` until it returns a truthy value; the last value or error is in the timeout message.
 * A failed assertion in `probe` ends the wait at once.
 */
export async function waitFor(what, probe, { timeout = 90_000, interval = 500 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (error) {
      if (error instanceof AssertionError) throw error;
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeout / 1000} s waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    }
    await sleep(interval);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function answers(url) {
  return new Promise((resolve) => {
    get(url, (response) => {
      response.resume();
      resolve(response.statusCode !== undefined && response.statusCode < 400);
    }).on('error', () => resolve(false));
  });
}

/** Starts code-server with its own user-data dir (settings written first) and the shared extensions dir. */
export async function startCodeServer(name, settings) {
  const userData = join(env.work, `user-data-${name}`);
  mkdirSync(join(userData, 'User'), { recursive: true });
  writeFileSync(join(userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  const port = await freePort();
  const logFile = join(env.out, `code-server-${name}.log`);
  const log = openSync(logFile, 'w');
  const child = spawn(env.codeServer, [
    '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check',
    '--config', join(userData, 'config.yaml'), '--user-data-dir', userData, '--extensions-dir', env.extensions,
    env.workspace,
  ], { stdio: ['ignore', log, log], detached: true });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`code-server to answer on ${base} (log: ${logFile})`, async () => {
    if (child.exitCode !== null) throw new AssertionError({ message: `code-server exited with ${child.exitCode}: ${tail(logFile)}` });
    return answers(base);
  }, { timeout: 60_000 });
  return {
    url: `${base}/?folder=${encodeURIComponent(env.workspace)}`,
    // Stopped first, its logs copied after: a copy of logs still being written (or rotated away)
    // fails on a vanished file. Neither a group already gone nor a failed copy fails the session.
    async stop() {
      const exited = () => child.exitCode !== null || child.signalCode !== null;
      const signal = (name) => {
        try {
          process.kill(-child.pid, name);
        } catch (error) {
          if (error.code !== 'ESRCH') throw error;
        }
      };
      if (!exited()) {
        signal('SIGTERM');
        await waitFor('code-server to exit', exited, { timeout: 15_000 }).catch(() => signal('SIGKILL'));
      }
      try {
        cpSync(join(userData, 'logs'), join(env.out, `vscode-logs-${name}`), { recursive: true, force: true });
      } catch (error) {
        console.log(`# the VS Code logs of session ${name} were not all copied: ${error.message}`);
      }
    },
  };
}

export async function openBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
}

export async function openWorkbench(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(url);
  await waitForWorkbench(page);
  return page;
}

export async function waitForWorkbench(page) {
  await page.locator('.monaco-workbench').waitFor({ timeout: 120_000 });
  // The status bar fills in once the window has restored; the extension host starts after that.
  await page.locator('.statusbar').waitFor({ timeout: 120_000 });
}

let shotCount = 0;
export async function screenshot(page, stage) {
  shotCount += 1;
  const path = join(env.out, `${String(shotCount).padStart(2, '0')}-${stage}.png`);
  await page.screenshot({ path });
  return path;
}

/**
 * Opens quick access with `text` typed (">" + title for commands). The command center in the title bar
 * is clicked rather than a shortcut pressed: a shortcut is lost while a webview iframe has the focus.
 */
async function quickAccess(page, text) {
  const input = page.locator('.quick-input-widget input.input');
  await page.keyboard.press('Escape');
  await page.locator('.command-center-center').click();
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  // Quick access may still reset its value as it opens: type until the text stays.
  await waitFor(`quick access to hold "${text}"`, async () => {
    if ((await input.inputValue()) !== text) await input.fill(text);
    await sleep(250);
    return (await input.inputValue()) === text;
  }, { timeout: 15_000 });
}

/** Runs a command from the palette by its exact title ("PACS: Pause Run"). */
export async function runCommand(page, title) {
  const row = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: title }).first();
  // The palette lists the commands known when it opens: reopen it until an extension's command is there.
  await waitFor(`the palette to list "${title}"`, async () => {
    await quickAccess(page, `>${title}`);
    return row.waitFor({ timeout: 5_000 }).then(() => true);
  }, { timeout: 60_000, interval: 1_000 });
  await row.click();
  const widget = page.locator('.quick-input-widget');
  const input = widget.locator('input.input');
  await waitFor(`the palette to run "${title}" and close`, async () =>
    !(await widget.isVisible()) || (await input.inputValue()) !== `>${title}`, { timeout: 15_000 });
}

/**
 * Takes the first item (the newest run) if the last command opened a quick pick; the palette itself,
 * whose value starts with ">", is not one.
 */
export async function pickFirstIfAsked(page, timeout = 8_000) {
  const widget = page.locator('.quick-input-widget');
  const input = widget.locator('input.input');
  const row = widget.locator('.quick-input-list .monaco-list-row').first();
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (await widget.isVisible() && !(await input.inputValue()).startsWith('>') && await row.isVisible()) {
      const label = await row.innerText();
      await row.click();
      return label;
    }
    await sleep(200);
  }
  return undefined;
}

export async function openFile(page, relativePath) {
  await quickAccess(page, relativePath);
  const row = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: relativePath.split('/').pop() }).first();
  await waitFor(`quick open to list ${relativePath}`, () => row.isVisible(), { timeout: 30_000 });
  await row.click();
  await page.locator(`.tab[data-resource-name="${relativePath.split('/').pop()}"]`).first()
    .waitFor({ timeout: 30_000 });
}

/** The text of every row of the Runs tree (label, description and aria label together). */
export async function runsTreeRows(page) {
  const pane = page.locator('.pane').filter({ has: page.locator('.pane-header', { hasText: /^\s*Runs/i }) });
  const rows = pane.locator('.monaco-list-row');
  const texts = [];
  for (const row of await rows.all()) {
    texts.push(`${await row.innerText()} ${await row.getAttribute('aria-label') ?? ''}`.replace(/\s+/g, ' '));
  }
  return texts;
}

export async function showRunsView(page) {
  await runCommand(page, 'PACS Lab: Focus on Runs View');
}

/** Where a frame sits on the page: the box of its outermost iframe. */
async function frameBox(page, frame) {
  let outer = frame;
  while (outer.parentFrame() && outer.parentFrame() !== page.mainFrame()) outer = outer.parentFrame();
  if (outer === page.mainFrame()) return null;
  return (await outer.frameElement()).boundingBox();
}

/**
 * The frame (webviews nest two iframes deep) holding `selector`, among the frames shown inside the
 * workbench part `within` (".part.editor" for panels, ".part.sidebar" for views).
 */
export async function findFrame(page, what, selector, { within = '.part.editor', timeout = 90_000 } = {}) {
  return waitFor(`${what} in ${within}`, async () => {
    const region = await page.locator(within).boundingBox();
    if (!region) return undefined;
    for (const frame of page.frames()) {
      try {
        if (!(await frame.locator(selector).count())) continue;
        const box = await frameBox(page, frame);
        if (!box || box.width === 0) continue;
        const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
        if (x >= region.x && x <= region.x + region.width && y >= region.y && y <= region.y + region.height) return frame;
      } catch {
        // frames come and go while webviews load
      }
    }
    return undefined;
  }, { timeout });
}

export function notificationsText(page) {
  return page.locator('.notifications-toasts .notification-list-item-message, .monaco-dialog-box').allInnerTexts()
    .then((texts) => texts.join('\n'));
}

export const runsRoot = () => join(env.workspace, '.pacs', 'runs');

export function listRuns() {
  if (!existsSync(runsRoot())) return [];
  return readdirSync(runsRoot(), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
}

export function readRunJson(runId) {
  return JSON.parse(readFileSync(join(runsRoot(), runId, 'run.json'), 'utf8'));
}

export function trainerLogTail(runId, lines = 40) {
  return tail(join(runsRoot(), runId, 'trainer.log'), lines);
}

function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}
