// The selected sample's detail in the rollout inspector: its numbers and verdicts, texts (with
// any invisible characters named) and token heat-map. Every model-written string is set as text.

import type { RolloutSample } from '../shared/contract';
import { ce, formatNumber, h, icon } from '../shared/dom';
import { isCorrect } from '../../src/run/model/runModel';
import { absentFields, invisibleChars, isCriticWrong, tokenHeat, type TokensAnswer } from './model';
import { verdictBadges, verdictEntries } from './verdicts';

/** An imported record has no ψ, critic or token fields: say so once rather than show dashes as values. */
export function absentNote(s: RolloutSample): HTMLElement | null {
  const absent = absentFields(s);
  if (!absent.length) return null;
  return h('p', { className: 'warning', id: 'detail-absent', role: 'note' }, icon('info'),
    `Not recorded by the trainer that wrote this run (an imported run): ${absent.join(', ')}. Only PACS Lab's own runs have them.`);
}

export function metricsList(s: RolloutSample): HTMLElement {
  const absent = new Set(absentFields(s));
  const entries: [string, string][] = [
    ['reward R', formatNumber(s.reward)],
    ...(
      [
        ['psi', 'ψ_post', formatNumber(s.psi)],
        ['p_correct', 'σ(ψ)', formatNumber(s.p_correct)],
        ['grad_weight', 'grad weight R − σ(ψ)', formatNumber(s.grad_weight)],
        ['weight', 'class weight w', formatNumber(s.weight)],
        ['logratio', 'r̂ (log-ratio)', formatNumber(s.logratio)],
        ['length', 'length', `${s.length}${s.truncated ? ' (truncated)' : ''}`],
      ] as const
    ).filter(([key]) => !absent.has(key)).map(([, label, value]): [string, string] => [label, value]),
  ];
  if (s.prompt_id !== undefined) entries.push(['prompt id', String(s.prompt_id)]);
  if (typeof s.advantage === 'number') entries.push(['advantage', formatNumber(s.advantage)]);
  if (s.verifier?.parsed !== undefined) entries.push(['verifier parsed', String(s.verifier.parsed)]);
  if (s.verifier?.detail) entries.push(['verifier detail', String(s.verifier.detail)]);
  if (s.verifier?.error) entries.push(['verifier error', String(s.verifier.error)]);
  entries.push(...verdictEntries(s));
  return h('dl', { className: 'metrics', id: 'detail-metrics' }, ...entries.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function textBlock(title: string, id: string, text: string): HTMLElement {
  const hidden = invisibleChars(text);
  return h(
    'div',
    { className: 'text-block' },
    h('h3', {}, title),
    hidden.length
      ? h('p', { className: 'warning', role: 'note' }, icon('warning'), `Contains invisible or bidirectional control characters: ${hidden.join(', ')}`)
      : null,
    h('pre', { id, className: 'text' }, text),
  );
}

/** A sample's token heat-map from its token details (`undefined` while they are being read). */
export function tokenHeatmap(got: TokensAnswer | undefined): HTMLElement | null {
  if (!got) return h('p', { id: 'heatmap-loading', className: 'legend' }, 'Reading the tokens…');
  if (got.error) return h('p', { id: 'heatmap-error', className: 'warning', role: 'note' }, icon('warning'), got.error);
  const d = got.details;
  if (!d || !d.token_logratio || d.tokens.length === 0) return null;
  const { heat, scale } = tokenHeat(d.token_logratio);
  const tokens = h('div', { id: 'heatmap', className: 'heatmap', role: 'group', 'aria-label': 'Tokens colored by β·(logp − old_logp)' });
  d.tokens.forEach((token, i) => {
    const value = d.token_logratio?.[i];
    const span = h('span', { className: `tok ${heat[i] >= 0 ? 'pos' : 'neg'}`, title: `${JSON.stringify(token)}: ${formatNumber(value)}` }, token);
    span.style.setProperty('--heat', Math.abs(heat[i]).toFixed(3));
    tokens.append(span);
  });
  return h(
    'div',
    { className: 'text-block' },
    h('h3', {}, 'Per-token β·(logp − old_logp)'),
    h(
      'p',
      { className: 'legend' },
      h('span', { className: 'tok neg legend-swatch' }, `−${formatNumber(scale)}`),
      h('span', { className: 'legend-mid' }, '0'),
      h('span', { className: 'tok pos legend-swatch' }, `+${formatNumber(scale)}`),
    ),
    tokens,
  );
}

export interface DetailActions {
  /** Edit and re-score, with the whole response. */
  rescore(response: string): void;
  addCase(): void;
  close(): void;
}

/** The detail of one sample: its head with badges and actions, numbers, texts and heat-map.
 * `response` is the whole response, or null while it is being read from a Parquet step. */
export function sampleDetail(s: RolloutSample, read: TokensAnswer | undefined, response: string | null, actions: DetailActions): (HTMLElement | string)[] {
  const correct = isCorrect(s.reward);
  const rescore = ce('vscode-button', { id: 'rescore', icon: 'beaker', disabled: response === null }, 'Edit and re-score');
  rescore.addEventListener('click', () => {
    if (response !== null) actions.rescore(response);
  });
  const addCase = ce('vscode-button', { id: 'add-case', icon: 'checklist', secondary: true, title: 'Add this sample to task.verifier_cases with the label you say is right' }, 'Add as Verifier Case');
  addCase.addEventListener('click', () => actions.addCase());
  const close = ce('vscode-button', { id: 'detail-close', icon: 'close', secondary: true, 'aria-label': 'Close detail', title: 'Close (Escape)' });
  close.addEventListener('click', () => actions.close());
  return [
    h(
      'div',
      { className: 'detail-head' },
      h('h2', {}, `group ${s.group} · sample ${s.index}`),
      h('span', { className: `badge ${correct ? 'correct' : 'wrong'}` }, icon(correct ? 'pass' : 'error'), correct ? 'R = 1' : 'R = 0'),
      isCriticWrong(s) ? h('span', { className: 'badge critic-wrong' }, icon('warning'), 'critic wrong') : null,
      ...verdictBadges(s),
      rescore,
      addCase,
      close,
    ),
    absentNote(s) ?? '',
    metricsList(s),
    textBlock('Prompt', 'detail-prompt', s.prompt),
    textBlock('Response', 'detail-response', response ?? `${s.response}…`),
    // the heat-map names a failed read of a sample with tokens
    response === null && read?.error && !s.token_details ? h('p', { className: 'warning', role: 'note' }, icon('warning'), read.error) : '',
    response === null && !read ? h('p', { id: 'response-loading', className: 'legend' }, 'Reading the whole response…') : '',
    (s.token_details || read?.details ? tokenHeatmap(read) : null) ?? '',
    typeof s.answer === 'string' ? textBlock('Reference answer', 'detail-answer', s.answer) : '',
  ];
}
