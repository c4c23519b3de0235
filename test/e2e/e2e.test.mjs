// The whole product as a user meets it: PACS Lab installed from its .vsix into code-server 4.100.3
// (VS Code 1.100.3), driven in Debian's Chromium. Run through test/e2e/run.sh (`make test-e2e`).
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import process from 'node:process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  env, findFrame, listRuns, notificationsText, openBrowser, openFile, openWorkbench, pickFirstIfAsked,
  readRunJson, runCommand, runsRoot, screenshot, showRunsView, startCodeServer, waitFor,
  waitForWorkbench,
} from './workbench.mjs';
import {
  baseSettings, currentStep, openSession, shownNumber, stages, waitForStatus, waitForStepAfter, waitForTreeRow,
} from './sessions.mjs';

const trlMissing = spawnSync(env.python, ['-c', 'import trl'], { encoding: 'utf8' }).status !== 0;

/** The dashboard's reward chart (its `data-points` attribute counts the points drawn) grows. */
async function rewardChartGainsPoints(page, dashboard) {
  const frame = await findFrame(page, `the reward chart of ${dashboard}`, '#chart-reward');
  const points = async () => Number(await frame.locator('#chart-reward').getAttribute('data-points'));
  const first = await waitFor(`the reward chart of ${dashboard} to have points`, async () => (await points()) > 0 && points());
  await waitFor(`the reward chart of ${dashboard} to grow past ${first} points`, async () => (await points()) > first);
}

/** "PACS: Pause Run": run.json and the tree say paused, no step for 5 s; "PACS: Resume Run": steps again. */
async function pauseAndResume(page, runId) {
  await runCommand(page, 'PACS: Pause Run');
  await pickFirstIfAsked(page);
  await waitForStatus(runId, 'paused');
  await showRunsView(page);
  await waitForTreeRow(page, /paused/i, 'the run paused');
  const pausedAt = currentStep(runId);
  await sleep(5_000);
  assert.equal(currentStep(runId), pausedAt, 'no step is taken while paused');
  await screenshot(page, 'paused');
  await runCommand(page, 'PACS: Resume Run');
  await pickFirstIfAsked(page);
  await waitForStatus(runId, 'running');
  await waitForStepAfter(runId, pausedAt);
  await waitForTreeRow(page, /running/i, 'the run running again');
  await screenshot(page, 'resumed');
}

/** "PACS: Stop Run" on the newest run, confirmed if asked; run.json says stopped. */
async function stopRun(page, runId) {
  await runCommand(page, 'PACS: Stop Run');
  await pickFirstIfAsked(page);
  const confirm = page.locator('.monaco-dialog-box .monaco-button').filter({ hasText: /^Stop/ }).first();
  if (await confirm.isVisible({ timeout: 3_000 }).catch(() => false)) await confirm.click();
  await waitForStatus(runId, 'stopped', 180_000);
}

describe('PACS Lab in a real VS Code (code-server 4.100.3)', () => {
  let server;
  let browser;
  let page;
  let runId;
  const stage = stages(() => page);

  before(async () => {
    server = await startCodeServer('main', { ...baseSettings, 'security.workspace.trust.enabled': false });
    browser = await openBrowser();
    page = await openWorkbench(browser, server.url);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  stage('opens arith.pacs.yaml and shows "▶ Train" in its CodeLens', async () => {
    await openFile(page, 'arith.pacs.yaml');
    const train = page.locator('.codelens-decoration a').filter({ hasText: '▶ Train' }).first();
    await train.waitFor({ timeout: 120_000 });
    assert.equal((await train.innerText()).trim(), '▶ Train');
    await screenshot(page, 'codelens');
  });

  stage('▶ Train launches a run; the Runs tree shows it running with its commit', async () => {
    assert.deepEqual(listRuns(), [], 'the workspace starts without runs');
    await page.locator('.codelens-decoration a').filter({ hasText: '▶ Train' }).first().click();
    runId = await waitFor('a run directory under .pacs/runs', () => listRuns().at(-1));
    await waitForStatus(runId, 'running');
    const git = readRunJson(runId).git;
    assert.ok(git?.commit, `run.json of ${runId} records the commit: ${JSON.stringify(git)}`);
    assert.equal(git.dirty, true, 'the workspace was dirty at launch');
    await showRunsView(page);
    const short = git.commit.slice(0, 7);
    await waitForTreeRow(page, new RegExp(`running.*${short}|${short}.*running`, 'i'), `the run running at ${short}`);
    await screenshot(page, 'run-in-tree');
  });

  stage('the dashboard\'s reward chart gains points; smoothing redraws the curves; a drag zooms every chart', async () => {
    await runCommand(page, 'PACS: Open Dashboard');
    await pickFirstIfAsked(page);
    await rewardChartGainsPoints(page, 'the dashboard');
    await screenshot(page, 'dashboard');
    const frame = await findFrame(page, 'the dashboard\'s smoothing slider', '#smoothing');
    await waitFor('the summary table to show the run with its reward', async () =>
      Number.isFinite(Number(await frame.locator(`#scores tr[data-run-id="${runId}"] td[data-col="reward"]`).getAttribute('data-value'))), { timeout: 30_000 });
    const smoothing = () => frame.locator('#chart-reward').getAttribute('data-smoothing');
    assert.equal(await smoothing(), '0.6', 'curves start smoothed as in TensorBoard');
    await frame.locator('#smoothing').press('Home');
    await waitFor('the reward chart to be redrawn unsmoothed', async () => (await smoothing()) === '0', { timeout: 15_000 });
    // Drag across the reward chart: every metric chart zooms to those steps; a double-click undoes it.
    const box = await frame.locator('#chart-reward').boundingBox();
    assert.ok(box, 'the reward chart is on screen');
    const y = box.y + box.height * 0.4;
    await page.mouse.move(box.x + box.width * 0.4, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, y, { steps: 6 });
    await page.mouse.up();
    const zoom = () => frame.locator('body').getAttribute('data-zoom');
    await waitFor('the charts to zoom to the dragged steps', async () => Boolean(await zoom()), { timeout: 15_000 });
    const [min, max] = (await zoom()).split('..').map(Number);
    assert.equal(Number(await frame.locator('#chart-loss').getAttribute('data-x-min')), min, 'the loss chart follows the zoom');
    assert.ok(max > min);
    await screenshot(page, 'dashboard-zoomed');
    await frame.locator('#chart-reward').dblclick();
    await waitFor('the charts to show all steps again', async () => !(await zoom()), { timeout: 15_000 });
  });

  stage('Pause Run stops the steps (tree and run.json say paused); Resume Run continues', () => pauseAndResume(page, runId));

  stage('the rollout inspector shows samples with reward and ψ, and a sample\'s token heat-map', async () => {
    await runCommand(page, 'PACS: Inspect Rollouts');
    await pickFirstIfAsked(page);
    const frame = await findFrame(page, 'the rollout inspector\'s samples', '#sample-list [data-psi]');
    const sample = frame.locator('#sample-list [data-psi]').first();
    // one read of the row: the live run's next step can re-render the list between separate reads
    const [rewardText, psiText, shown] = await sample.evaluate((row) => [row.dataset.reward, row.dataset.psi, row.innerText]);
    const reward = Number(rewardText);
    const psi = Number(psiText);
    assert.ok(Number.isFinite(reward) && Number.isFinite(psi), `a sample has a reward and ψ: ${reward}, ${psi}`);
    for (const [name, value, digits] of [['reward', reward, 2], ['ψ', psi, 3]]) {
      assert.ok(shown.includes(shownNumber(value, digits)), `the row shows its ${name} ${value}: ${shown}`);
    }
    assert.match(await frame.locator('.header-row').innerText(), /ψ/, 'the sample table has a ψ column');
    // the trainer wrote a Parquet step: the host reads the shown sample's tokens for its heat-map
    await sample.click();
    await frame.locator('#heatmap .tok').first().waitFor({ timeout: 30_000 });
    await screenshot(page, 'rollout-inspector');
  });

  stage('after "Reload Window" mid-run the run is followed again', async () => {
    const before = currentStep(runId);
    const reloaded = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame(), timeout: 60_000 });
    await runCommand(page, 'Developer: Reload Window');
    await reloaded;
    await waitForWorkbench(page);
    await showRunsView(page);
    await waitForTreeRow(page, /running/i, 'the run running after the reload', 120_000);
    await waitForStepAfter(runId, before);
    assert.equal(readRunJson(runId).status, 'running');
    await page.locator('.tab').filter({ hasText: 'Dashboard' }).first().click();
    await rewardChartGainsPoints(page, 'the dashboard restored by the reload');
    const frame = await findFrame(page, 'the restored dashboard\'s reward chart', '#chart-reward');
    assert.equal(await frame.locator('#chart-reward').getAttribute('data-smoothing'), '0', 'the smoothing set before the reload is kept');
    await screenshot(page, 'after-reload');
  });

  stage('Stop Run stops it (tree and run.json say stopped)', async () => {
    await stopRun(page, runId);
    await waitForTreeRow(page, /stopped/i, 'the run stopped');
    await screenshot(page, 'stopped');
  });

  stage('Score a Response with the Implicit Critic exports ONNX and shows r̂ and one heat-map token per token', async () => {
    await runCommand(page, 'PACS: Score a Response with the Implicit Critic');
    await pickFirstIfAsked(page); // the run (asked only when there are several)
    await pickFirstIfAsked(page); // the checkpoint (asked only when there are several)
    const widget = page.locator('.quick-input-widget');
    const input = widget.locator('input.input');
    const response = '037';
    for (const [title, text] of [['Score a Response (1/2)', '25+12='], ['Score a Response (2/2)', response]]) {
      await waitFor(`the input box "${title}"`, async () =>
        (await widget.isVisible()) && (await widget.locator('.quick-input-title').innerText()).includes(title), { timeout: 30_000 });
      await input.fill(text);
      await waitFor(`the input box "${title}" to hold ${text}`, async () => (await input.inputValue()) === text, { timeout: 10_000 });
      await input.press('Enter');
    }
    const exportButton = page.locator('.notifications-toasts .monaco-button').filter({ hasText: /^Export$/ }).first();
    await exportButton.waitFor({ timeout: 60_000 });
    await exportButton.click();
    const frame = await findFrame(page, 'the scorer\'s heat map', '#scorer-heatmap .heatmap .tok', { timeout: 240_000 });
    const rHat = await frame.locator('#scorer-summary dd').first().innerText();
    assert.ok(Number.isFinite(Number(rHat.replace('−', '-'))), `r̂ is a number: "${rHat}"`);
    assert.match(await frame.locator('#scorer-summary dt').first().innerText(), /r̂/);
    // The builtin model's tokenizer has one token per character; EOS is appended.
    assert.equal(await frame.locator('#scorer-heatmap .heatmap .tok').count(), [...response].length + 1);
    await screenshot(page, 'scorer');
  });

  stage("Diff Run's Code with Working Tree shows a file edited since the run, both sides", async () => {
    const edit = '# edited after the run';
    appendFileSync(join(env.workspace, 'arith.pacs.yaml'), `${edit}\n`);
    await runCommand(page, "PACS: Diff Run's Code with Working Tree");
    const widget = page.locator('.quick-input-widget');
    await waitFor('the quick pick of changed files', async () =>
      (await widget.isVisible()) && /Files that differ/.test(await widget.locator('input.input').getAttribute('placeholder') ?? ''), { timeout: 60_000 });
    const rows = await widget.locator('.quick-input-list .monaco-list-row').allInnerTexts();
    assert.ok(rows.some((row) => row.includes('arith.pacs.yaml') && /modified/.test(row)), `arith.pacs.yaml listed as modified: ${JSON.stringify(rows)}`);
    await widget.locator('.quick-input-list .monaco-list-row').filter({ hasText: 'arith.pacs.yaml' }).filter({ hasText: 'modified' }).first().click();
    await page.locator('.tab').filter({ hasText: '↔ working tree' }).first().waitFor({ timeout: 60_000 });
    const side = (name) => page.locator(`.monaco-diff-editor .editor.${name} .view-lines`).first();
    // The diff opens at its change, the files' ends: the run's side ends with the edit made before
    // the launch (its snapshot), the working tree's with both edits.
    const before = '# edited after the commit';
    await waitFor('the diff editor to show the new line on the working-tree side only', async () => {
      const clean = async (name) => (await side(name).innerText()).replace(/\u00a0/g, ' ');
      const [original, modified] = [await clean('original'), await clean('modified')];
      return original.includes(before) && !original.includes(edit) && modified.includes(before) && modified.includes(edit);
    }, { timeout: 30_000 });
    await screenshot(page, 'diff-run-code');
  });

  stage("Check Out Run's Code opens the run's snapshot, uncommitted edit included, in a new window", async () => {
    const git = readRunJson(runId).git;
    assert.ok(git?.snapshot, `the dirty launch recorded a snapshot commit: ${JSON.stringify(git)}`);
    const opened = page.context().waitForEvent('page', { timeout: 120_000 });
    await runCommand(page, "PACS: Check Out Run's Code");
    await pickFirstIfAsked(page);
    const storage = join(env.work, 'user-data-main', 'User', 'globalStorage');
    const worktree = await waitFor(`the worktree of ${runId} under ${storage}`, () => {
      for (const ext of existsSync(storage) ? readdirSync(storage) : []) {
        const dir = join(storage, ext, 'worktrees', runId);
        if (existsSync(join(dir, 'arith.pacs.yaml'))) return dir;
      }
      return false;
    }, { timeout: 60_000 });
    const head = execFileSync('git', ['-C', worktree, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    assert.equal(head, git.snapshot, 'the worktree is at the run\'s snapshot commit');
    const config = readFileSync(join(worktree, 'arith.pacs.yaml'), 'utf8');
    assert.match(config, /# edited after the commit: the run records a snapshot of this/, 'the uncommitted edit made before the launch is there');
    assert.doesNotMatch(config, /edited after the run/, 'the edit made after the launch is not');
    const win = await opened;
    await waitFor('the new window to open the worktree', () => decodeURIComponent(win.url()).includes(worktree), { timeout: 60_000 });
    await waitForWorkbench(win);
    await screenshot(win, 'run-code-window');
    await win.close();
  });
});

// A session of its own: the main session's last stage opens and closes a second window.
describe('PACS Lab launching through Slurm (a single-node cluster started by run.sh)', () => {
  const noCluster = !process.env.SLURM_CONF && 'no Slurm cluster (test/e2e/run.sh starts one as root, with slurm-wlm and munge installed)';
  const session = openSession('slurm', { ...baseSettings, 'security.workspace.trust.enabled': false }, { skip: noCluster });
  const stage = stages(() => session.page);

  stage('▶ Train on a Slurm config submits a job: the tree shows it queued, then running; Stop Run stops it', async () => {
    const { page } = session;
    const before = listRuns();
    await openFile(page, 'arith-slurm.pacs.yaml');
    await page.locator('.codelens-decoration a').filter({ hasText: '▶ Train' }).first().click();
    const slurmRun = await waitFor('a new run directory for arith-slurm', () => listRuns().find((id) => !before.includes(id)));
    // run.sh's config holds the job (--hold), so "queued" lasts until the test releases it.
    await waitForStatus(slurmRun, 'queued');
    const jobId = readRunJson(slurmRun).slurm_job_id;
    assert.ok(jobId, `run.json of ${slurmRun} records the job id`);
    assert.ok(existsSync(join(runsRoot(), slurmRun, 'job.sbatch')), 'the batch script is kept in the run folder');
    await showRunsView(page);
    await waitForTreeRow(page, /queued in Slurm/, 'the run queued in Slurm');
    await screenshot(page, 'slurm-queued');
    execFileSync('scontrol', ['release', String(jobId)]);
    await waitForStatus(slurmRun, 'running', 180_000);
    await waitForTreeRow(page, new RegExp(`${slurmRun.slice(-4)}.*running|running.*${slurmRun.slice(-4)}`, 'i'), 'the Slurm run running');
    await stopRun(page, slurmRun);
    await screenshot(page, 'slurm-stopped');
  }, { skip: noCluster });
});

/** The processes whose command line names the run (its launcher, torchrun and the ranks). */
function processesOf(runId) {
  const pids = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((arg) => arg.includes(runId))) pids.push({ pid: Number(pid), argv });
    } catch {
      // the process ended while the list was read
    }
  }
  return pids;
}

const trlSkip = trlMissing && 'trl is not installed for the trainer Python (pip install trl==1.16.0 accelerate)';

describe('PACS Lab training on the TRL engine with 2 processes', { skip: trlSkip }, () => {
  const session = openSession('trl', { ...baseSettings, 'security.workspace.trust.enabled': false });
  const stage = stages(() => session.page);
  let trlRun;

  stage('▶ Train on an engine: trl config starts 2 ranks; run.json records engine and world_size; the tree shows it running', async () => {
    const { page } = session;
    const before = listRuns();
    await openFile(page, 'arith-trl.pacs.yaml');
    const train = page.locator('.codelens-decoration a').filter({ hasText: '▶ Train' }).first();
    await train.waitFor({ timeout: 120_000 });
    await train.click();
    trlRun = await waitFor('a new run directory for arith-trl', () => listRuns().find((id) => !before.includes(id)));
    await waitForStatus(trlRun, 'running', 240_000);
    const run = readRunJson(trlRun);
    assert.equal(run.engine, 'trl', `run.json of ${trlRun} records the engine`);
    assert.equal(run.world_size, 2, `run.json of ${trlRun} records 2 processes`);
    const ranks = processesOf(trlRun).filter(({ argv }) => argv.includes('pacslab.engines.trl.run') && !argv.includes('torch.distributed.run'));
    assert.equal(ranks.length, 2, `two rank processes train the run: ${JSON.stringify(ranks)}`);
    await showRunsView(page);
    const suffix = trlRun.slice(-4);
    await waitForTreeRow(page, new RegExp(`${suffix}.*running|running.*${suffix}`, 'i'), 'the TRL run running');
    await screenshot(page, 'trl-running');
  });

  stage('the dashboard\'s reward chart of the TRL run gains points', async () => {
    await runCommand(session.page, 'PACS: Open Dashboard');
    await pickFirstIfAsked(session.page);
    await rewardChartGainsPoints(session.page, 'the TRL run\'s dashboard');
    await screenshot(session.page, 'trl-dashboard');
  });

  stage('Pause Run holds both ranks (paused, no step); Resume Run continues', () => pauseAndResume(session.page, trlRun));

  stage('Stop Run stops it, and no process of the run is left', async () => {
    assert.ok(processesOf(trlRun).length >= 3, 'the launcher and the ranks are found while the run lives');
    await stopRun(session.page, trlRun);
    await waitFor(`every process of ${trlRun} to exit`, () => processesOf(trlRun).length === 0, { timeout: 60_000 });
    await waitForTreeRow(session.page, new RegExp(`${trlRun.slice(-4)}.*stopped|stopped.*${trlRun.slice(-4)}`, 'i'), 'the TRL run stopped');
    await screenshot(session.page, 'trl-stopped');
  });
});

describe('PACS Lab in Restricted Mode (workspace trust on, workspace untrusted)', () => {
  let server;
  let browser;
  let page;
  const stage = stages(() => page);

  before(async () => {
    server = await startCodeServer('restricted', {
      ...baseSettings,
      'security.workspace.trust.enabled': true,
      'security.workspace.trust.startupPrompt': 'never',
      'security.workspace.trust.banner': 'always',
    });
    browser = await openBrowser();
    page = await openWorkbench(browser, server.url);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  stage('launching a run is refused with an explanation that names Restricted Mode', async () => {
    await page.locator('.statusbar-item').filter({ hasText: 'Restricted Mode' }).first().waitFor({ timeout: 60_000 });
    const runsBefore = listRuns();
    // The palette hides "Start Training Run" in Restricted Mode; the CodeLens stays and explains.
    await openFile(page, 'arith.pacs.yaml');
    const train = page.locator('.codelens-decoration a').filter({ hasText: '▶ Train' }).first();
    await train.waitFor({ timeout: 120_000 });
    await train.click();
    const message = await waitFor('a notification naming Restricted Mode', async () => {
      const text = await notificationsText(page);
      return /restricted mode/i.test(text) && text;
    }, { timeout: 60_000 });
    await sleep(3_000);
    await screenshot(page, 'restricted-mode-refusal');
    assert.deepEqual(listRuns(), runsBefore, `no run is launched; the explanation was: ${message}`);
  });

  // A cloned repository's .pacs/runs/ is untrusted data: a crafted run whose trainer is gone, whose
  // events.jsonl and trainer.log link to files outside it, and which holds a pacslab/ package.
  stage('a crafted run folder can neither run its code nor read or write outside itself', async () => {
    const outside = join(env.workspace, '..', 'outside-the-runs');
    mkdirSync(outside, { recursive: true });
    const victim = join(outside, 'victim.txt');
    const secret = join(outside, 'secret.txt');
    const marker = join(outside, 'planted-package-ran');
    writeFileSync(victim, 'unchanged\n');
    writeFileSync(secret, 'SECRET-TOKEN-e2e\n');
    const id = '20261127-030000-crafted-abcd';
    const dir = join(runsRoot(), id);
    mkdirSync(join(dir, 'checkpoints', 'step-000001'), { recursive: true });
    mkdirSync(join(dir, 'pacslab'));
    const plant = `open(${JSON.stringify(marker)}, "w").write("ran")\n`;
    writeFileSync(join(dir, 'pacslab', '__init__.py'), plant);
    writeFileSync(join(dir, 'pacslab', '__main__.py'), plant);
    writeFileSync(join(dir, 'checkpoints', 'step-000001', 'config.json'), '{}');
    symlinkSync(victim, join(dir, 'events.jsonl'));
    symlinkSync(secret, join(dir, 'trainer.log'));
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(join(dir, 'run.json'), JSON.stringify({
      format: 1, id, name: 'crafted', status: 'running', pid: deadPid, pid_start_time: '1', host: hostname(),
      created_at: '2026-11-27T03:00:00Z', updated_at: '2026-11-27T03:00:00Z', step: 1, total_steps: 10,
      config_dir: dir, git: { commit: 'HEAD', ref: 'HEAD', snapshot: null, branch: 'main', dirty: false },
    }));

    // The extension polls in Restricted Mode too: it finds the trainer gone and records the crash.
    await waitForStatus(id, 'crashed', 60_000);
    assert.equal(readFileSync(victim, 'utf8'), 'unchanged\n', 'nothing was appended through the events.jsonl link');
    const recorded = readFileSync(join(dir, 'run.json'), 'utf8');
    assert.doesNotMatch(recorded, /SECRET-TOKEN/, 'the linked trainer.log was not copied into run.json');
    assert.match(recorded, /trainer\.log is a symbolic link/, 'run.json says why the log was not read');

    await runCommand(page, 'PACS: Score a Response with the Implicit Critic');
    const message = await waitFor('a notification refusing to export or score in Restricted Mode', async () => {
      const text = await notificationsText(page);
      return /does not export or score runs in restricted mode/i.test(text) && text;
    }, { timeout: 60_000 });
    await sleep(3_000);
    await screenshot(page, 'restricted-mode-crafted-run');
    assert.equal(existsSync(marker), false, `the planted pacslab/ package ran; the notification was: ${message}`);
  });
});

/**
 * The import sources, made by the libraries that write them: a TensorBoard log folder from torch's
 * SummaryWriter with verl's tag names, and a TRL output directory from a real 2-step GRPOTrainer run
 * on the CPU (log_completions, checkpoints each step).
 */
function makeImportSources(folder) {
  const script = join(env.work, 'make-import-sources.py');
  writeFileSync(script, `
import sys
from pathlib import Path
from torch.utils.tensorboard import SummaryWriter
out = Path(sys.argv[1])
writer = SummaryWriter(log_dir=str(out / "tb-logs" / "verl-exp"))
for step in range(1, 21):
    writer.add_scalar("critic/rewards/mean", step / 20, global_step=step)
    writer.add_scalar("actor/pg_loss", 1 / step, global_step=step)
writer.close()
`);
  execFileSync(env.python, [script, folder], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  execFileSync(env.python, [join(process.cwd(), 'trainer', 'tests', 'trl_output.py'), join(folder, 'trl-out')], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
}

describe('PACS Lab imports runs from TensorBoard and TRL', { skip: trlMissing && 'trl is not installed for the trainer Python (pip install trl==1.16.0)' }, () => {
  let server;
  let browser;
  let page;
  const stage = stages(() => page);
  const imported = () => listRuns().filter((id) => readRunJson(id).source);

  before(async () => {
    makeImportSources(join(env.workspace, 'imports'));
    server = await startCodeServer('imports', { ...baseSettings, 'security.workspace.trust.enabled': false });
    browser = await openBrowser();
    page = await openWorkbench(browser, server.url);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  stage('Import Runs… from the explorer imports a TensorBoard folder and a TRL output; the Runs tree shows both', async () => {
    await runCommand(page, 'View: Show Explorer');
    const explorer = page.locator('.explorer-folders-view');
    const folderRow = (name) => explorer.locator('.monaco-list-row').filter({ hasText: new RegExp(`^\\s*${name}\\s*$`) }).first();
    await folderRow('imports').click();
    for (const [name, trainer] of [['tb-logs', 'verl'], ['trl-out', 'trl']]) {
      // an import reveals its run in the Runs view, possibly after the Explorer was shown again, and the explorer
      // re-renders its rows while the new runs folder appears: show the Explorer whenever the row is not there, and
      // retry a right-click that lands on a detached row
      await waitFor(`a right-click on ${name} in the explorer`, async () => {
        if (!(await folderRow(name).isVisible())) {
          await runCommand(page, 'View: Show Explorer');
          return false;
        }
        return folderRow(name).click({ button: 'right', timeout: 3_000 }).then(() => true, () => false);
      }, { timeout: 90_000 });
      // VS Code's own context menu: the item highlighted, Enter runs it (a click may land before the menu takes input)
      await page.locator('.context-view .action-label').filter({ hasText: 'Import Runs…' }).first().hover();
      await page.keyboard.press('Enter');
      await waitFor(`the ${name} run to be imported`, () => imported().some((id) => readRunJson(id).source.trainer === trainer), { timeout: 120_000 });
    }
    await showRunsView(page);
    for (const id of imported()) await waitForTreeRow(page, new RegExp(readRunJson(id).name), `the imported run ${id}`);
    await screenshot(page, 'imported-in-tree');
  });

  stage('the dashboard charts each imported run\'s reward', async () => {
    for (const id of imported()) {
      await runCommand(page, 'PACS: Open Dashboard');
      const row = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: id }).first();
      if (await row.isVisible({ timeout: 8_000 }).catch(() => false)) await row.click();
      else await page.locator('.quick-input-widget input.input').fill(id).then(() => page.keyboard.press('Enter'));
      const frame = await findFrame(page, `the dashboard of ${id}`, '#chart-reward');
      await waitFor(`the reward chart of ${id} to have points`, async () => Number(await frame.locator('#chart-reward').getAttribute('data-points')) > 0, { timeout: 30_000 });
      await screenshot(page, `imported-dashboard-${readRunJson(id).source.trainer}`);
      await page.keyboard.press('Control+W');
    }
  });
});
