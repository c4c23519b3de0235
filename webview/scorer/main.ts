// The scorer panel: the implicit critic's r̂ for one response, ψ / σ(ψ) against its logged group
// when there is one, the per-token heat-map, and the text to edit and re-score. The host sends
// whole state; every model-written or user-written string is set with textContent.

import { tokenHeat } from '../rollouts/model';
import { byId, clear, formatNumber, h } from '../shared/dom';
import { connect, onHostMessage } from '../shared/vscodeApi';
import { isScorerHostMessage, isScorerPersistedState } from './contract';
import type { ScoreView, ScorerPersistedState, ScorerState, ScorerWebviewMessage } from './contract';

const host = connect<ScorerWebviewMessage, ScorerPersistedState>();
const root = byId('root');

const stepSelect = h('select', { id: 'scorer-step', 'aria-label': 'Checkpoint' });
const promptBox = h('textarea', { id: 'scorer-prompt', rows: 3, spellcheck: 'false', 'aria-label': 'Prompt' });
const responseBox = h('textarea', { id: 'scorer-response', rows: 4, spellcheck: 'false', 'aria-label': 'Response' });
const eosBox = h('input', { id: 'scorer-eos', type: 'checkbox' });
const rescore = h('button', { id: 'scorer-rescore', type: 'button' }, 'Re-score');
const status = h('div', { id: 'scorer-status', className: 'hint', role: 'status' });
const summary = h('div', { id: 'scorer-summary', className: 'summary' });
const heat = h('div', { id: 'scorer-heatmap' });
const title = h('h2', { id: 'scorer-title' });
let edited = false;

for (const box of [promptBox, responseBox]) {
  box.style.width = '100%';
  box.style.fontFamily = 'var(--vscode-editor-font-family)';
  box.style.boxSizing = 'border-box';
  box.addEventListener('input', () => (edited = true));
}
root.append(
  title,
  h('label', {}, 'Checkpoint ', stepSelect),
  summary,
  heat,
  h('h3', {}, 'Prompt'),
  promptBox,
  h('h3', {}, 'Response'),
  responseBox,
  h('div', { className: 'toolbar' }, h('label', {}, eosBox, ' end with EOS'), rescore),
  status,
);

function send(): void {
  edited = false;
  host.post({ type: 'rescore', step: Number(stepSelect.value), prompt: promptBox.value, response: responseBox.value, eos: eosBox.checked });
}
rescore.addEventListener('click', send);
responseBox.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) send();
});

function render(state: ScorerState): void {
  title.textContent = state.sample
    ? `${state.runName} · sample ${state.sample.step}:${state.sample.group}:${state.sample.index}`
    : state.runName;
  clear(stepSelect);
  for (const step of [...state.checkpoints].reverse()) {
    stepSelect.append(h('option', { value: step, selected: step === state.step }, `step ${step}`));
  }
  if (!edited) {
    promptBox.value = state.prompt;
    responseBox.value = state.response;
    eosBox.checked = state.eos;
  }
  rescore.toggleAttribute('disabled', state.busy !== null);
  status.textContent = state.busy === 'exporting' ? 'Checking the ONNX export…' : state.busy === 'scoring' ? 'Scoring…' : (state.error ?? '');
  renderResult(state.result);
  const persisted: ScorerPersistedState = { runId: state.runId, step: state.step, prompt: state.prompt, response: state.response, eos: state.eos, sample: state.sample };
  if (isScorerPersistedState(persisted)) host.setState(persisted);
}

function renderResult(result: ScoreView | null): void {
  clear(summary);
  clear(heat);
  if (!result) return;
  const facts: [string, string][] = [
    ['r̂', formatNumber(result.reward_hat, 4)],
    [`β·Σ log-ratio vs ${result.reference}`, formatNumber(result.logratio, 4)],
    ['β', formatNumber(result.beta)],
  ];
  if (result.psi !== undefined) {
    facts.push([`ψ (${result.adv_estimator})`, formatNumber(result.psi, 4)], ['σ(ψ) = P(correct)', formatNumber(result.p_correct, 3)]);
    facts.push(['label R', result.label === null || result.label === undefined ? (result.edited ? 'unknown (edited)' : '–') : String(result.label)]);
  }
  const list = h('dl', {}, ...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { className: 'num' }, v)]));
  Object.assign(list.style, { display: 'grid', gridTemplateColumns: 'max-content max-content', columnGap: '16px', rowGap: '2px' });
  for (const dd of list.querySelectorAll('dd')) Object.assign((dd as HTMLElement).style, { margin: '0', textAlign: 'right' });
  summary.append(list);
  if (result.unknown_chars.length > 0) {
    summary.append(h('p', { className: 'notice' }, `Outside the vocabulary (scored as the unknown token): ${result.unknown_chars.map((c) => JSON.stringify(c)).join(' ')}`));
  }
  const { heat: levels, scale } = tokenHeat(result.token_logratio);
  const tokens = h('div', { className: 'heatmap', role: 'group', 'aria-label': 'Response tokens colored by β·(log π − log π_ref)' });
  result.tokens.forEach((token, i) => {
    const value = result.token_logratio[i];
    const span = h('span', { className: `tok ${levels[i] >= 0 ? 'pos' : 'neg'}`, title: `${JSON.stringify(token)}: ${formatNumber(value, 4)}` }, token);
    span.style.setProperty('--heat', Math.abs(levels[i]).toFixed(3));
    tokens.append(span);
  });
  heat.append(tokens, h('div', { className: 'legend' }, h('span', { className: 'tok neg legend-swatch' }, `−${formatNumber(scale)}`), ' per-token β·(log π − log π_ref) ', h('span', { className: 'tok pos legend-swatch' }, `+${formatNumber(scale)}`)));
}

onHostMessage(isScorerHostMessage, (message) => render(message.state));
host.post({ type: 'ready' });
