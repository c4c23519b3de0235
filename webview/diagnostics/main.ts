// The diagnostics panel: the Prompts tab (every prompt of the ledger with its status, filter, sort,
// search and drill-down into its recorded groups; the status and group shares over steps) and the
// Held-out tab (problems fixed and broken since step 0 or the previous evaluation, and their
// responses; greedy accuracy per eval set and data source; a data source filter). The host sends
// whole state; every run-written string is set with textContent.

import { heldoutChanges, heldoutGroups, heldoutSources } from '../../src/diagnostics/model/heldout';
import { STATUSES } from '../../src/diagnostics/model/promptLedger';
import { tokenHeat } from '../rollouts/model';
import { byId, clear, debounce, formatNumber, h } from '../shared/dom';
import { GROUP_CHART_LABEL, renderShareCharts, STATUS_CHART_LABEL } from '../shared/shareCharts';
import { connect, onHostMessage } from '../shared/vscodeApi';
import { isDiagnosticsHostMessage } from './contract';
import type { DiagnosticsState, DiagnosticsWebviewMessage, HeldoutDetail, PromptDetail, PromptSummary } from './contract';

type Tab = 'prompts' | 'heldout';
type SortKey = 'id' | 'source' | 'seen' | 'first' | 'last' | 'trend' | 'firstSolvedStep' | 'status';
interface Persisted {
  runId: string;
  tab: Tab;
}

const host = connect<DiagnosticsWebviewMessage, Persisted>();
const root = byId('root');
const MAX_ROWS = 500;

let state: DiagnosticsState | null = null;
let tab: Tab = host.getState()?.tab ?? 'prompts';
let sortKey: SortKey = 'seen';
let sortDown = true;
let selectedPrompt: string | null = null;

const title = h('h2', { id: 'diagnostics-title' });
const tabButtons = {
  prompts: h('button', { id: 'tab-prompts', type: 'button', role: 'tab' }, 'Prompts'),
  heldout: h('button', { id: 'tab-heldout', type: 'button', role: 'tab' }, 'Held-out'),
};
const promptsPane = h('section', { id: 'prompts-pane', role: 'tabpanel' });
const heldoutPane = h('section', { id: 'heldout-pane', role: 'tabpanel' });

// ------------------------------------------------------------ Prompts tab

const statusFilter = h('select', { id: 'prompt-status', 'aria-label': 'Status' }, h('option', { value: '' }, 'every status'),
  ...STATUSES.map((s) => h('option', { value: s }, s)));
const search = h('input', { id: 'prompt-search', type: 'search', placeholder: 'Search prompt ids', 'aria-label': 'Search prompt ids' });
const counts = h('div', { id: 'prompt-counts', className: 'summary' });
const statusCanvas = h('canvas', { id: 'status-chart', 'aria-label': STATUS_CHART_LABEL, role: 'img' });
const groupCanvas = h('canvas', { id: 'group-chart', 'aria-label': GROUP_CHART_LABEL, role: 'img' });
const promptTable = h('table', { id: 'prompt-table', className: 'diff-table' });
const promptNote = h('p', { className: 'hint' });
const promptDetail = h('div', { id: 'prompt-detail', className: 'detail' });
promptsPane.append(
  counts,
  h('div', { className: 'chart-grid' },
    h('figure', { className: 'chart-card' }, h('figcaption', {}, 'Prompt status (share of prompts seen)'), h('div', { className: 'chart-box' }, statusCanvas)),
    h('figure', { className: 'chart-card' }, h('figcaption', {}, 'Groups: all correct / all wrong / mixed'), h('div', { className: 'chart-box' }, groupCanvas))),
  h('div', { className: 'toolbar' }, statusFilter, search),
  promptTable,
  promptNote,
  promptDetail,
);
statusFilter.addEventListener('change', () => renderPrompts());
search.addEventListener('input', debounce(() => renderPrompts(), 150));

const COLUMNS: Array<[SortKey, string]> = [['id', 'Prompt'], ['source', 'Source'], ['seen', 'Seen'], ['first', 'First'], ['last', 'Last'],
  ['trend', 'Trend'], ['firstSolvedStep', 'First solved'], ['status', 'Status']];

function sortValue(p: PromptSummary, key: SortKey): number | string {
  const v = p[key];
  return v === null ? (sortDown ? -Infinity : Infinity) : v;
}

function shownPrompts(s: DiagnosticsState): PromptSummary[] {
  const wanted = statusFilter.value;
  const text = search.value.trim().toLowerCase();
  const rows = s.prompts.filter((p) => (!wanted || p.status === wanted) && (!text || p.id.toLowerCase().includes(text)));
  return rows.sort((a, b) => {
    const x = sortValue(a, sortKey), y = sortValue(b, sortKey);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return sortDown ? -order : order;
  });
}

function renderPrompts(): void {
  if (!state) return;
  const s = state;
  const byStatus = STATUSES.map((st) => `${s.prompts.filter((p) => p.status === st).length} ${st}`);
  counts.textContent = s.prompts.length
    ? `${s.prompts.length} prompts seen: ${byStatus.join(', ')}`
    : 'No prompt ledger in this run (ledger.jsonl): runs from before the ledger and imported runs have none.';
  const head = h('tr', {}, ...COLUMNS.map(([key, label]) => {
    const button = h('button', { className: 'sort-header', type: 'button' }, label, sortKey === key ? (sortDown ? ' ▼' : ' ▲') : '');
    button.addEventListener('click', () => {
      sortDown = sortKey === key ? !sortDown : true;
      sortKey = key;
      renderPrompts();
    });
    return h('th', { 'aria-sort': sortKey === key ? (sortDown ? 'descending' : 'ascending') : null }, button);
  }));
  const rows = shownPrompts(s);
  const body = rows.slice(0, MAX_ROWS).map((p) => {
    const tr = h('tr', { className: `prompt-row${p.id === selectedPrompt ? ' selected' : ''}`, tabindex: 0, 'data-status': p.status },
      h('td', {}, p.id), h('td', {}, p.source ?? '–'), h('td', { className: 'num' }, String(p.seen)),
      h('td', { className: 'num' }, pct(p.first)), h('td', { className: 'num' }, pct(p.last)),
      h('td', { className: 'num' }, `${p.trend >= 0 ? '+' : ''}${formatNumber(100 * p.trend, 0)} pts`),
      h('td', { className: 'num' }, p.firstSolvedStep === null ? '–' : String(p.firstSolvedStep)), h('td', {}, p.status));
    const open = () => {
      selectedPrompt = p.id;
      promptDetail.replaceChildren(h('p', { className: 'hint' }, `Loading the recorded groups of ${p.id}…`));
      host.post({ type: 'prompt', id: p.id });
      renderPrompts();
    };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => e.key === 'Enter' && open());
    return tr;
  });
  promptTable.replaceChildren(h('thead', {}, head), h('tbody', {}, ...body));
  promptNote.textContent = rows.length > MAX_ROWS ? `Showing ${MAX_ROWS} of ${rows.length} prompts: filter or search to narrow.` : '';
}

function renderPromptDetail(d: PromptDetail): void {
  if (d.id !== selectedPrompt) return;
  clear(promptDetail);
  promptDetail.append(h('h3', {}, d.id));
  if (d.unrecorded.length) promptDetail.append(h('p', { className: 'hint' }, `Also sampled at steps without recorded rollouts: ${d.unrecorded.join(', ')}.`));
  if (!d.groups.length) promptDetail.append(h('p', { className: 'hint' }, 'None of its steps has recorded rollouts (logging.rollouts_every).'));
  for (const g of d.groups) {
    const cards = g.samples.map((sample) => h('div', { className: `prompt-sample ${sample.reward >= 0.5 ? 'correct' : 'wrong'}` },
      h('div', { className: 'hint' }, `#${sample.index}  reward ${formatNumber(sample.reward)}  ψ ${formatNumber(sample.psi)}`),
      heat(sample.tokens, sample.token_logratio) ?? h('pre', { className: 'text' }, sample.response)));
    promptDetail.append(h('h4', {}, `step ${g.step}`), h('div', { className: 'prompt-samples' }, ...cards));
  }
}

function heat(tokens: string[] | undefined, values: number[] | undefined): HTMLElement | null {
  if (!tokens?.length || !values) return null;
  const { heat: levels } = tokenHeat(values);
  const box = h('div', { className: 'heatmap', role: 'group', 'aria-label': 'Tokens colored by β·(logp − old_logp)' });
  tokens.forEach((token, i) => {
    const span = h('span', { className: `tok ${levels[i] >= 0 ? 'pos' : 'neg'}`, title: `${JSON.stringify(token)}: ${formatNumber(values[i])}` }, token);
    span.style.setProperty('--heat', Math.abs(levels[i] ?? 0).toFixed(3));
    box.append(span);
  });
  return box;
}

// ------------------------------------------------------------ Held-out tab

const since = h('select', { id: 'heldout-since', 'aria-label': 'Compare with' }, h('option', { value: 'start' }, 'since the first evaluation'),
  h('option', { value: 'previous' }, 'since the previous evaluation'));
const sourceFilter = h('select', { id: 'heldout-source', 'aria-label': 'Data source' });
const heldoutSummary = h('div', { id: 'heldout-summary', className: 'summary' });
const groupTable = h('table', { id: 'heldout-groups', className: 'diff-table' });
const heldoutTable = h('table', { id: 'heldout-table', className: 'diff-table' });
const heldoutDetail = h('div', { id: 'heldout-detail', className: 'detail' });
heldoutPane.append(h('div', { className: 'toolbar' }, since, sourceFilter), heldoutSummary, groupTable, heldoutTable, heldoutDetail);
since.addEventListener('change', () => renderHeldout());
sourceFilter.addEventListener('change', () => renderHeldout());
/** The data sources the filter offers (its option values are their indices; '' is every source). */
let sources: (string | null)[] = [];

/** The filter's options for the last evaluation's sources, the choice kept while its source is still there; hidden for one source. */
function renderSourceFilter(next: (string | null)[]): void {
  const chosen = sourceFilter.value === '' ? undefined : sources[Number(sourceFilter.value)];
  sources = next;
  sourceFilter.replaceChildren(h('option', { value: '' }, 'every data source'),
    ...sources.map((source, i) => h('option', { value: String(i) }, source ?? 'no data source')));
  sourceFilter.value = chosen === undefined || !sources.includes(chosen) ? '' : String(sources.indexOf(chosen));
  sourceFilter.hidden = sources.length < 2;
}

function renderHeldout(): void {
  if (!state) return;
  const evals = state.evaluations;
  renderSourceFilter(heldoutSources(evals));
  const wanted = (r: { source: string | null }) => sourceFilter.value === '' || r.source === sources[Number(sourceFilter.value)];
  const base = since.value === 'previous' ? 'previous' : 'start';
  const changes = heldoutChanges(evals, base).filter(wanted);
  const groups = heldoutGroups(evals, base).filter(wanted);
  if (evals.length < 2) {
    heldoutSummary.textContent = evals.length ? `One evaluation (step ${evals[0].step}) so far: nothing to compare yet.`
      : 'No held-out examples in this run (heldout/): runs from before them and imported runs have none.';
  } else {
    const fixed = changes.filter((c) => c.change === 'fixed').length;
    heldoutSummary.textContent = `Step ${evals[base === 'start' ? 0 : evals.length - 2].step} → ${evals[evals.length - 1].step}: ${fixed} fixed, ${changes.length - fixed} broken.`;
  }
  const groupHead = h('tr', {}, ...['Set', 'Source', 'Problems', 'Greedy accuracy', 'Fixed', 'Broken'].map((label) => h('th', {}, label)));
  groupTable.replaceChildren(h('thead', {}, groupHead), h('tbody', {}, ...groups.map((g) => h('tr', { className: 'heldout-group' },
    h('td', {}, g.set ?? 'eval'), h('td', {}, g.source ?? '–'), h('td', { className: 'num' }, String(g.problems)),
    h('td', { className: 'num' }, `${g.from.accuracy === null ? '–' : pct(g.from.accuracy)} → ${pct(g.to.accuracy)}`),
    h('td', { className: 'num' }, String(g.fixed)), h('td', { className: 'num' }, String(g.broken))))));
  groupTable.hidden = !groups.length;
  const head = h('tr', {}, ...['Set', 'Source', 'Problem', 'Change', 'Greedy', 'Samples correct'].map((label) => h('th', {}, label)));
  const rows = changes.map((c) => {
    const tr = h('tr', { className: `heldout-row ${c.change}`, tabindex: 0 }, h('td', {}, c.set ?? 'eval'), h('td', {}, c.source ?? '–'), h('td', {}, c.id),
      h('td', {}, c.change), h('td', {}, `${mark(c.from.greedyCorrect)} → ${mark(c.to.greedyCorrect)}`),
      h('td', { className: 'num' }, `${c.from.correct}/${c.from.samples} → ${c.to.correct}/${c.to.samples}`));
    const open = () => {
      heldoutDetail.replaceChildren(h('p', { className: 'hint' }, `Loading the responses of ${c.id}…`));
      host.post({ type: 'heldout', set: c.set, id: c.id });
    };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => e.key === 'Enter' && open());
    return tr;
  });
  heldoutTable.replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
}

function renderHeldoutDetail(d: HeldoutDetail): void {
  clear(heldoutDetail);
  heldoutDetail.append(h('h3', {}, `${d.set ?? 'eval'} · ${d.id}`));
  for (const { step, example } of d.evaluations) {
    heldoutDetail.append(
      h('h4', {}, `step ${step}: greedy ${mark(example.greedyCorrect)}, ${example.correct}/${example.samples} samples correct`),
      h('pre', { className: 'text' }, example.greedy),
      h('div', { className: 'prompt-samples' }, ...example.responses.map((r) => h('pre', { className: 'text' }, r))),
    );
  }
}

// ------------------------------------------------------------ page

const pct = (x: number): string => `${formatNumber(100 * x, 0)}%`;
const mark = (ok: boolean): string => (ok ? 'right' : 'wrong');

function showTab(next: Tab): void {
  tab = next;
  for (const [name, button] of Object.entries(tabButtons)) button.setAttribute('aria-selected', String(name === tab));
  promptsPane.hidden = tab !== 'prompts';
  heldoutPane.hidden = tab !== 'heldout';
  if (state) host.setState({ runId: state.runId, tab });
}
tabButtons.prompts.addEventListener('click', () => showTab('prompts'));
tabButtons.heldout.addEventListener('click', () => showTab('heldout'));

root.append(title, h('div', { className: 'toolbar', role: 'tablist' }, tabButtons.prompts, tabButtons.heldout), promptsPane, heldoutPane);
showTab(tab);

onHostMessage(isDiagnosticsHostMessage, (message) => {
  if (message.type === 'state') {
    state = message.state;
    title.textContent = `${state.runName} · ${state.runId}`;
    renderPrompts();
    renderShareCharts(statusCanvas, groupCanvas, state.shares);
    renderHeldout();
    showTab(tab);
    document.body.dataset.renders = String(Number(document.body.dataset.renders ?? 0) + 1);
  } else if (message.type === 'promptDetail') {
    renderPromptDetail(message.detail);
  } else {
    renderHeldoutDetail(message.detail);
  }
});
host.post({ type: 'ready' });
