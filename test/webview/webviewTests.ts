// Browser tests of the dashboard and rollout inspector bundles (dist/webview): the dashboard's in
// dashboardTests.ts, the rollout inspector's and those of a run the real trainer wrote here, all
// through harness.ts (the extension's own HTML and host messages, replayed). Screenshots go to
// test-results/webview/.
import './dashboardTests';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { RolloutsHostMessage, RolloutsState } from '../../webview/rollouts/contract';
import type { RolloutSample } from '../../webview/shared/contract';
import { BIG_RUN_ID, BIG_SAMPLES, PAYLOAD_ANSWER, PAYLOAD_PROMPT, PAYLOAD_RESPONSE, RUN_A } from './fixtures';
import { THEMES } from './themes';
import { OUT, TRAINER_RUN_ID, IMPORTED_RUN_ID, type Harness, test, openPage, withPage, rawPoints, attr, waitForRenders, runTests } from './harness';

// The callbacks given to page.evaluate run in Chromium. This file is type-checked with the
// Node project (no DOM lib), so the page globals are declared loosely here.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any;
declare const document: any;
type HTMLElement = any;
/* eslint-enable @typescript-eslint/no-explicit-any */

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

if (require.main === module) {
  void runTests().then((code) => {
    process.exitCode = code;
  });
}
