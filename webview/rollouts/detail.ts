// The selected sample's detail in the rollout inspector: its numbers and verdicts, texts (with
// any invisible characters named) and token heat-map. Every model-written string is set as text.

import type { RolloutSample } from '../shared/contract';
import { formatNumber, h, icon } from '../shared/dom';
import { absentFields, invisibleChars, tokenHeat, type TokensAnswer } from './model';
import { verdictEntries } from './verdicts';

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
