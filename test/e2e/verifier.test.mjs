// Auditing a verifier as a user does, in a real VS Code (code-server 4.100.3): a run trained with a
// buggy checker (it strips the leading zeros of the padded answers, so "037" is refused for 037),
// the checker fixed on disk, Re-verify Run… with the config's verifier, the inspector's Flipped
// filter with both verdicts, Add as Verifier Case, and a launch with the bug back refused by the
// case. Run through test/e2e/run.sh (`make test-e2e`).
import { before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { promisify } from 'node:util';
import { parseDocument } from 'yaml';
import { env, findFrame, listRuns, notificationsText, openFile, pickFirstIfAsked, readRunJson, runCommand, runsRoot, screenshot, waitFor } from './workbench.mjs';
import { baseSettings, openSession, stages } from './sessions.mjs';

const BUGGY = 'def check(response, answer, prompt):\n    return response.strip() == answer.lstrip("0")\n';
const FIXED = 'def check(response, answer, prompt):\n    return response.strip() == answer.strip()\n';
const CONFIG = 'verify.pacs.yaml';
const CASES = 'verify.cases.jsonl';

/** The workspace's e2e arith config with the buggy checker, trained two steps with the trainer's CLI; returns the run id. */
async function trainWithBuggyChecker() {
  writeFileSync(join(env.workspace, 'checks.py'), BUGGY);
  const doc = parseDocument(readFileSync(join(env.workspace, 'arith.pacs.yaml'), 'utf8'));
  doc.set('name', 'verify');
  doc.setIn(['task', 'verifier'], 'python:checks.py:check');
  doc.setIn(['rollout', 'prompts_per_step'], 16);
  doc.setIn(['optim', 'mini_batch_prompts'], 16);
  doc.setIn(['optim', 'micro_batch_prompts'], 16);
  writeFileSync(join(env.workspace, CONFIG), doc.toString());
  const args = ['-m', 'pacslab', 'train', join(env.workspace, CONFIG), '--runs-root', runsRoot(), '--set', 'device=cpu', '--set', 'total_steps=2', '--set', 'optim.warmup_steps=1'];
  const { stdout } = await promisify(execFile)(env.python, args, { cwd: env.workspace, env: process.env, timeout: 300_000 })
    .catch((error) => { throw new Error(`${env.python} ${args.join(' ')} failed: ${error.stderr || error.message}`); });
  const dir = /run finished: (.+)$/m.exec(stdout)?.[1];
  assert.ok(dir, `the trainer names the finished run: ${stdout.slice(-500)}`);
  return dir.trim().split('/').pop();
}

/** The greedy and sampled held-out labels of every evaluation that the fixed checker changes. */
function expectedHeldoutFlips(runId) {
  const folder = join(runsRoot(), runId, 'heldout');
  const rows = readdirSync(folder).flatMap((name) => readFileSync(join(folder, name), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line)));
  const fixed = (response, answer) => Number(response.trim() === answer.trim());
  return {
    examples: rows.length,
    greedy: rows.filter((r) => fixed(r.greedy, r.answer) !== Number(r.greedy_correct)).length,
    samples: rows.reduce((n, r) => n + r.responses.length, 0),
    sampled: rows.reduce((n, r) => n + r.responses.filter((text, i) => fixed(text, r.answer) !== r.labels[i]).length, 0),
  };
}

/** The run's samples of `step` whose label the fixed checker changes. */
function expectedFlips(runId, step) {
  // the trainer writes Parquet steps; `pacslab rollouts --jsonl` prints one as JSONL
  const args = ['-m', 'pacslab', 'rollouts', join(runsRoot(), runId), '--step', String(step), '--jsonl'];
  return execFileSync(env.python, args, { cwd: env.workspace, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    .split('\n').filter(Boolean).map((line) => JSON.parse(line))
    .filter((r) => Number(r.response.trim() === r.answer.trim()) !== Number(r.reward >= 0.5));
}

describe('PACS Lab audits a verifier in a real VS Code', () => {
  let runId;
  before(async () => {
    runId = await trainWithBuggyChecker();
  });
  const session = openSession('verifier', { ...baseSettings, 'security.workspace.trust.enabled': false });
  const stage = stages(() => session.page);
  let frame;

  stage('Re-verify Run… with the config\'s verifier, fixed on disk, reports exactly the labels the fix changes', async () => {
    const { page } = session;
    writeFileSync(join(env.workspace, 'checks.py'), FIXED);
    const expected = [1, 2].flatMap((step) => expectedFlips(runId, step));
    assert.ok(expected.length > 0, 'the buggy checker refused some right answers');
    await runCommand(page, 'PACS: Re-verify Run…');
    // the run is asked first when there are several (the newest, this one, is first), then the verifier;
    // waited for as long as a busy machine takes to show either
    let label = await pickFirstIfAsked(page, 60_000);
    if (label !== undefined && !/config's verifier/.test(label)) {
      assert.match(label, new RegExp(runId), 'the run asked for is this run');
      label = await pickFirstIfAsked(page, 60_000);
    }
    assert.match(label ?? '', /config's verifier/);
    assert.match(await pickFirstIfAsked(page, 15_000) ?? '', /Training rollouts and held-out results/);
    const message = await waitFor('the re-verification\'s message', async () => {
      const text = await notificationsText(page);
      return /labels changed/.test(text) && text;
    }, { timeout: 180_000 });
    assert.match(message, new RegExp(`${expected.length} of \\d+ training labels changed \\(${expected.length} 0→1, 0 1→0\\)`), message);
    const held = expectedHeldoutFlips(runId);
    assert.ok(held.greedy + held.sampled > 0, 'the buggy checker refused some right held-out answers');
    assert.match(message, new RegExp(`Held-out: ${held.greedy} of ${held.examples} greedy and ${held.sampled} of ${held.samples} sampled labels changed`), message);
    assert.match(message, /At step 2, held-out split: accuracy [\d.]+% → [\d.]+%/, message);
    const files = readdirSync(join(runsRoot(), runId, 'reverify'));
    assert.equal(files.length, 1, 'one result file beside the records');
    await screenshot(page, 'reverify-done');
  });

  stage('the inspector\'s Flipped filter shows only the flipped samples, each with both verdicts', async () => {
    const { page } = session;
    await runCommand(page, 'PACS: Inspect Rollouts');
    await pickFirstIfAsked(page);
    frame = await findFrame(page, 'the rollout inspector\'s samples', '#sample-list .sample-row');
    const flips = expectedFlips(runId, 2);
    await waitFor('the status line to summarise the re-verification', async () =>
      /re-verified with python:checks\.py:check: this step \d+ of \d+ labels changed/.test(await frame.locator('#status').innerText()));
    assert.match(await frame.locator('#status').innerText(), new RegExp(`this step ${flips.length} of \\d+ labels changed`));
    await frame.locator('#flipped').click();
    await waitFor('only the flipped samples to be listed', async () => (await frame.locator('#sample-list .sample-row').count()) === flips.length);
    const keys = await frame.locator('#sample-list .sample-row').evaluateAll((rows) => rows.map((r) => r.dataset.key).sort());
    assert.deepEqual(keys, flips.map((r) => `${r.group}:${r.index}`).sort());
    await frame.locator('#sample-list .sample-row').first().click();
    const metrics = await waitFor('the detail to show both verdicts', async () => {
      const text = await frame.locator('#detail-metrics').innerText().catch(() => '');
      return /recorded label\s*0/.test(text) && /re-verified label \(python:checks\.py:check\)\s*1/.test(text) && text;
    });
    assert.match(await frame.locator('#badge-flipped').innerText(), /flipped 0→1/, metrics);
    await screenshot(page, 'inspector-flipped');
  });

  stage('Add as Verifier Case writes the sample with the chosen label to the config\'s cases file', async () => {
    const { page } = session;
    const response = await frame.locator('#detail-response').innerText();
    await frame.locator('#add-case').click();
    assert.match(await pickFirstIfAsked(page, 30_000) ?? '', /Correct \(expected 1\)/);
    const cases = join(env.workspace, CASES);
    await waitFor(`${CASES} to be written`, () => existsSync(cases) && readFileSync(cases, 'utf8').includes('\n'));
    const [line, ...more] = readFileSync(cases, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(more.length, 0);
    assert.equal(line.expected, 1);
    assert.ok(response.includes(line.response.trim()), `the case holds the sample's response: ${line.response} in ${response}`);
    assert.match(readFileSync(join(env.workspace, CONFIG), 'utf8'), /verifier_cases: verify\.cases\.jsonl/);
    await screenshot(page, 'verifier-case-added');
  });

  stage('with the bug back, ▶ Train is refused by the failing case, which the error names', async () => {
    const { page } = session;
    writeFileSync(join(env.workspace, 'checks.py'), BUGGY);
    const before = listRuns();
    await openFile(page, CONFIG);
    const train = page.locator('.codelens-decoration a').filter({ hasText: '▶ Train' }).first();
    await train.waitFor({ timeout: 120_000 });
    await train.click();
    const refused = await waitFor('the launched run to fail naming the case', () => {
      const made = listRuns().filter((id) => !before.includes(id));
      const info = made.length ? readRunJson(made[0]) : undefined;
      return info?.status === 'failed' && info.error?.message;
    }, { timeout: 180_000 });
    assert.match(refused, /the verifier misses case line 1 .*expected 1, got 0/);
    assert.match(refused, /--skip-verifier-cases/);
    await waitFor('a notification of the refusal', async () => /misses case|config error|failed/i.test(await notificationsText(page)), { timeout: 60_000 })
      .catch(() => undefined); // the run's state is what counts; the toast may have gone
    await screenshot(page, 'launch-refused-by-case');
  });
});
