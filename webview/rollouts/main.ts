// The rollout inspector: one step's samples as a virtualised list (only the visible rows exist
// in the DOM), filters and sorting, and the selected sample in full (detail.ts).
// Every model-written string is set with textContent.

import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import { isRolloutsHostMessage, LABEL_FILTERS, SORT_KEYS, type LabelFilter, type RolloutsHostMessage, type RolloutsPersistedState, type RolloutsState, type RolloutsWebviewMessage, type SortKey } from './contract';
import { assertNever, type RolloutSample } from '../shared/contract';
import { isCorrect } from '../../src/run/model/runModel';
import { byId, ce, clear, debounce, formatNumber, h, icon, throttle } from '../shared/dom';
import { connect, onHostMessage } from '../shared/vscodeApi';
import {
  buildRows,
  DEFAULT_FILTERS,
  isCriticWrong,
  nextSampleRow,
  sampleKey,
  SampleSearch,
  TokenRequests,
  type Filters,
  type Row,
} from './model';
import { sampleDetail } from './detail';
import { reverifyStatus, rowMarks } from './verdicts';

const ROW_HEIGHT = 26;
const OVERSCAN = 8;
const SORT_LABELS: Record<SortKey, string> = { group: 'group', psi: 'ψ', reward: 'reward', length: 'length', grad_weight: 'grad weight R − σ(ψ)' };
const LABEL_NAMES: Record<LabelFilter, string> = { all: 'all labels', correct: 'R = 1 only', wrong: 'R = 0 only' };

type ValueElement = HTMLElement & { value: string };
type CheckedElement = HTMLElement & { checked: boolean };

const host = connect<RolloutsWebviewMessage, RolloutsPersistedState>();
const saved = host.getState();
const filters: Filters = saved
  ? { sort: saved.sort, descending: saved.descending, label: saved.label, text: saved.text, criticWrong: saved.criticWrong,
      flipped: saved.flipped === true, disagree: saved.disagree === true }
  : { ...DEFAULT_FILTERS };
let selectedKey: string | null = saved?.selected ?? null;
let expanded = selectedKey !== null;
/** A restored selection (or else the restored scroll) is shown once its step has loaded. */
let revealSelection = selectedKey !== null;
let pendingScroll = saved?.scrollTop;

let state: RolloutsState | undefined;
let samples: (RolloutSample | undefined)[] = [];
let received = 0;
let search = new SampleSearch([]);
/**
 * The whole responses of a step whose samples carry previews (`response_cut`): asked of the host
 * the first time the text filter needs them; until they are in, the filter searches the previews.
 */
let whole = { asked: false, received: 0, error: null as string | null };
const tokenRequests = new TokenRequests();
let rows: Row[] = [];
let shownSamples = 0;
const rendered = new Map<number, HTMLElement>();

const root = byId('root');
const runTitle = h('span', { id: 'run-title', className: 'run-title' });
const stepPrev = ce('vscode-button', { id: 'step-prev', icon: 'chevron-left', secondary: true, 'aria-label': 'Previous step', title: 'Previous step' });
const stepPicker = ce('vscode-single-select', { id: 'step-picker', 'aria-label': 'Step', combobox: true }) as ValueElement;
const stepNext = ce('vscode-button', { id: 'step-next', icon: 'chevron-right', secondary: true, 'aria-label': 'Next step', title: 'Next step' });
const sortSelect = ce(
  'vscode-single-select',
  { id: 'sort', 'aria-label': 'Sort by' },
  ...SORT_KEYS.map((key) => ce('vscode-option', { value: key, selected: key === filters.sort }, `sort: ${SORT_LABELS[key]}`)),
) as ValueElement;
const sortDirection = ce('vscode-button', { id: 'sort-direction', secondary: true });
const labelSelect = ce(
  'vscode-single-select',
  { id: 'label-filter', 'aria-label': 'Filter by label' },
  ...LABEL_FILTERS.map((key) => ce('vscode-option', { value: key, selected: key === filters.label }, LABEL_NAMES[key])),
) as ValueElement;
const textFilter = ce('vscode-textfield', { id: 'text-filter', placeholder: 'Filter prompt, response, answer', 'aria-label': 'Filter by text', value: filters.text }) as ValueElement;
textFilter.append(ce('vscode-icon', { slot: 'content-before', name: 'search' }));
const criticWrong = ce('vscode-checkbox', { id: 'critic-wrong', label: 'Critic wrong', title: 'σ(ψ) > 0.5 but R = 0, or σ(ψ) ≤ 0.5 but R = 1', checked: filters.criticWrong }) as CheckedElement;
const flipped = ce('vscode-checkbox', { id: 'flipped', label: 'Flipped', title: 'Labels the newest re-verification (Re-verify Run…) changed', checked: filters.flipped }) as CheckedElement;
const disagree = ce('vscode-checkbox', { id: 'disagree', label: 'Checkers disagree', title: 'task.audit_verifier labels the sample differently from the reward', checked: filters.disagree }) as CheckedElement;
const openPanel = ce('vscode-button', { id: 'open-panel', icon: 'link-external', secondary: true, title: 'Open in an editor tab' }, 'Open');
const statusLine = h('p', { id: 'status', className: 'summary', role: 'status' });
const header = h(
  'div',
  { className: 'row header-row', role: 'row' },
  ...['', 'sample', 'R', 'ψ', 'σ(ψ)', 'R − σ', 'w', 'len', 'response'].map((label) => h('span', { role: 'columnheader', className: 'cell' }, label)),
);
const spacer = h('div', { className: 'spacer' });
const list = h('div', { id: 'sample-list', className: 'sample-list', role: 'grid', tabindex: 0, 'aria-label': 'Samples', 'aria-rowcount': 0 }, spacer);
const detail = h('section', { id: 'detail', className: 'detail', 'aria-label': 'Sample detail' });

root.append(
  h(
    'div',
    { className: 'toolbar', role: 'toolbar', 'aria-label': 'Rollouts' },
    runTitle,
    stepPrev,
    stepPicker,
    stepNext,
    sortSelect,
    sortDirection,
    labelSelect,
    textFilter,
    criticWrong,
    flipped,
    disagree,
    openPanel,
  ),
  statusLine,
  h('div', { className: 'inspector' }, h('div', { className: 'list-pane' }, header, list), detail),
);

function persist(): void {
  host.setState({
    runId: state?.run?.id ?? null,
    step: state?.step ?? null,
    following: state !== undefined && state.step !== null && state.step === state.steps[state.steps.length - 1],
    ...filters,
    selected: selectedKey,
    scrollTop: list.scrollTop,
  });
}

function handle(message: RolloutsHostMessage): void {
  switch (message.type) {
    case 'state': {
      const isNewLoad = !state || state.loadId !== message.state.loadId;
      state = message.state;
      if (isNewLoad) {
        samples = new Array<RolloutSample | undefined>(state.total);
        received = 0;
        search = new SampleSearch(samples as RolloutSample[]);
        whole = { asked: false, received: 0, error: null };
        tokenRequests.reset();
      } else if (samples.length < state.total) {
        samples.length = state.total;
      }
      renderToolbar();
      rebuild();
      persist();
      return;
    }
    case 'samples': {
      if (!state || message.loadId !== state.loadId) return;
      message.samples.forEach((sample, i) => {
        samples[message.offset + i] = sample;
      });
      received += message.samples.length;
      // Rows are rebuilt for the first chunk (something to look at at once) and the last; in
      // between only the progress line changes, so a 100k-sample step is not re-sorted 50 times.
      if (received >= state.total || message.offset === 0) rebuild();
      else renderStatusSoon();
      return;
    }
    case 'tokens': {
      if (!state || message.loadId !== state.loadId) return;
      tokenRequests.receive(message.group, message.index, message.details, message.error, message.response);
      const row = rows[activeRow()];
      const shown = row?.kind === 'sample' ? samples[row.sample] : undefined;
      if (shown && sampleKey(shown) === sampleKey(message)) renderDetail();
      return;
    }
    case 'responses': {
      if (!state || message.loadId !== state.loadId) return;
      if (message.error) whole.error = message.error;
      message.responses.forEach((response, i) => {
        const s = samples[message.offset + i];
        if (!s) return;
        const read: RolloutSample = { ...s, response };
        delete read.response_cut;
        samples[message.offset + i] = read;
      });
      whole.received += message.responses.length;
      if (message.error || whole.received >= state.total) {
        search = new SampleSearch(samples as RolloutSample[]);
        rebuild();
      }
      return;
    }
    default:
      assertNever(message, 'rollouts');
  }
}

function renderToolbar(): void {
  if (!state) return;
  const run = state.run;
  runTitle.textContent = run ? `${run.name}` : 'No run';
  runTitle.title = run ? `${run.id} · ${run.status} · step ${run.step}/${run.totalSteps}` : '';
  const wanted = state.steps.join(',');
  if (stepPicker.dataset.steps !== wanted) {
    stepPicker.dataset.steps = wanted;
    clear(stepPicker);
    // Each option carries its own `selected`: the select re-reads its options on slotchange and
    // drops a value set against the old ones, so a step already listed before (a restored panel
    // pinned to its saved step while the run logs new ones) would leave the picker blank.
    for (const step of [...state.steps].reverse()) {
      stepPicker.append(ce('vscode-option', { value: String(step), selected: step === state.step }, `step ${step}`));
    }
  }
  if (state.step !== null) stepPicker.value = String(state.step);
  const at = state.step === null ? -1 : state.steps.indexOf(state.step);
  stepPrev.toggleAttribute('disabled', at <= 0);
  stepNext.toggleAttribute('disabled', at < 0 || at >= state.steps.length - 1);
  openPanel.hidden = state.mode !== 'view';
  sortDirection.setAttribute('icon', filters.descending ? 'arrow-down' : 'arrow-up');
  sortDirection.setAttribute('aria-label', filters.descending ? 'Descending' : 'Ascending');
  sortDirection.title = sortDirection.getAttribute('aria-label') ?? '';
}

/** The text filter searches whole responses: ask for them once a step's samples are all in, if they carry previews. */
function askWholeResponses(): void {
  if (!state || whole.asked || !filters.text.trim() || received < state.total) return;
  if (!samples.some((s) => s?.response_cut)) return;
  whole.asked = true;
  host.post({ type: 'loadResponses', loadId: state.loadId });
}

const searchingPreviews = () => whole.asked && (whole.error !== null || whole.received < (state?.total ?? 0)) && filters.text.trim() !== '';

function rebuild(): void {
  askWholeResponses();
  rows = buildRows(samples, filters, search);
  shownSamples = rows.reduce((n, r) => (r.kind === 'sample' ? n + 1 : n), 0);
  list.setAttribute('aria-rowcount', String(rows.length));
  spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
  for (const element of rendered.values()) element.remove();
  rendered.clear();
  if (received >= (state?.total ?? 0) && rows.length > 0) {
    if (revealSelection && activeRow() >= 0) scrollToRow(activeRow());
    else if (pendingScroll !== undefined) list.scrollTop = pendingScroll;
    revealSelection = false;
    pendingScroll = undefined;
  }
  renderStatus();
  renderVisible();
  renderDetail();
}

const renderStatusSoon = throttle(renderStatus, 250);

function renderStatus(): void {
  if (!state) return;
  const shown = shownSamples;
  const parts: string[] = [];
  if (state.error) parts.push(state.error);
  else if (state.step === null) parts.push(state.run ? 'No rollouts logged yet for this run.' : 'Select a run to inspect its rollouts.');
  else {
    parts.push(`step ${state.step}: ${shown.toLocaleString('en-US')} of ${state.total.toLocaleString('en-US')} samples`);
    if (received < state.total) parts.push(`loading ${received.toLocaleString('en-US')}/${state.total.toLocaleString('en-US')}`);
    if (state.badLines) parts.push(`${state.badLines} unreadable line${state.badLines === 1 ? '' : 's'} skipped`);
    if (searchingPreviews()) parts.push(whole.error ?? 'the text filter searches the first 400 characters of each response until the whole responses are read');
    const reverified = reverifyStatus(state.reverify);
    if (reverified) parts.push(reverified);
  }
  statusLine.textContent = parts.join(' · ');
  list.dataset.loaded = String(received >= (state?.total ?? 0));
}

function renderVisible(): void {
  const top = list.scrollTop;
  const height = list.clientHeight || 400;
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length - 1, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
  for (const [index, element] of rendered) {
    if (index < first || index > last) {
      element.remove();
      rendered.delete(index);
    }
  }
  for (let i = first; i <= last; i++) {
    if (rendered.has(i)) continue;
    const element = renderRow(rows[i], i);
    element.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
    rendered.set(i, element);
    list.append(element);
  }
  markActive();
}

function renderRow(row: Row, rowIndex: number): HTMLElement {
  if (row.kind === 'group') {
    const mixed = row.correct > 0 && row.correct < row.total;
    return h(
      'div',
      { className: 'row group-row', role: 'row', 'aria-rowindex': rowIndex + 1, 'data-group': row.group },
      h(
        'span',
        { role: 'gridcell', className: 'cell group-cell' },
        icon(mixed ? 'split-horizontal' : 'circle-filled'),
        h('strong', {}, `group ${row.group}`),
        h('span', { className: 'group-labels' }, `${row.correct}/${row.total} correct${mixed ? '' : ' (no signal: all labels agree)'}`),
        h('span', { className: 'snippet' }, oneLine(row.prompt)),
      ),
    );
  }
  const s = samples[row.sample] as RolloutSample;
  const correct = isCorrect(s.reward);
  const wrongCritic = isCriticWrong(s);
  return h(
    'div',
    {
      className: `row sample-row${correct ? ' correct' : ' wrong'}${wrongCritic ? ' critic-wrong' : ''}`,
      role: 'row',
      id: rowId(s),
      'aria-rowindex': rowIndex + 1,
      'aria-selected': 'false',
      'data-row': rowIndex,
      'data-key': sampleKey(s),
      'data-group': s.group,
      'data-index': s.index,
      'data-reward': s.reward,
      'data-psi': s.psi,
    },
    h('span', { role: 'gridcell', className: 'cell label' }, icon(correct ? 'pass' : 'error', correct ? 'R = 1' : 'R = 0'), wrongCritic ? icon('warning', 'critic wrong') : null, ...rowMarks(s)),
    h('span', { role: 'gridcell', className: 'cell' }, `${s.group}:${s.index}`),
    h('span', { role: 'gridcell', className: 'cell num' }, formatNumber(s.reward, 2)),
    h('span', { role: 'gridcell', className: 'cell num' }, formatNumber(s.psi)),
    h('span', { role: 'gridcell', className: 'cell num' }, formatNumber(s.p_correct)),
    h('span', { role: 'gridcell', className: 'cell num' }, formatNumber(s.grad_weight)),
    h('span', { role: 'gridcell', className: 'cell num' }, formatNumber(s.weight, 2)),
    h('span', { role: 'gridcell', className: 'cell num' }, formatNumber(s.length), s.truncated ? icon('fold', 'truncated') : null),
    h('span', { role: 'gridcell', className: 'cell snippet' }, oneLine(s.response)),
  );
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').slice(0, 400);
const rowId = (s: RolloutSample) => `sample-${s.group}-${s.index}`;

let activeCache: { rows: Row[]; key: string | null; index: number } | undefined;

/** The selected sample's row index, cached: scrolling asks for it on every frame. */
function activeRow(): number {
  if (activeCache?.rows === rows && activeCache.key === selectedKey) return activeCache.index;
  const index =
    selectedKey === null ? -1 : rows.findIndex((r) => r.kind === 'sample' && sampleKey(samples[r.sample] as RolloutSample) === selectedKey);
  activeCache = { rows, key: selectedKey, index };
  return index;
}

function markActive(): void {
  const active = activeRow();
  for (const [index, element] of rendered) {
    element.setAttribute('aria-selected', String(index === active));
    element.classList.toggle('selected', index === active);
  }
  const element = rendered.get(active);
  if (element) list.setAttribute('aria-activedescendant', element.id);
  else list.removeAttribute('aria-activedescendant');
}

function select(rowIndex: number, expand?: boolean): void {
  const row = rows[rowIndex];
  if (!row || row.kind !== 'sample') return;
  selectedKey = sampleKey(samples[row.sample] as RolloutSample);
  if (expand !== undefined) expanded = expand;
  scrollToRow(rowIndex);
  renderVisible();
  renderDetail();
  persist();
}

function scrollToRow(rowIndex: number): void {
  const top = rowIndex * ROW_HEIGHT;
  if (top < list.scrollTop) list.scrollTop = top;
  else if (top + ROW_HEIGHT > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW_HEIGHT - list.clientHeight;
}

function renderDetail(): void {
  clear(detail);
  const row = rows[activeRow()];
  const s = row?.kind === 'sample' ? samples[row.sample] : undefined;
  detail.hidden = !expanded || !s;
  list.setAttribute('aria-expanded', String(expanded && !!s));
  if (!s || !expanded || !state) return;
  // A Parquet step's samples come without their tokens, and with only a preview of a long response: read them from the file when shown.
  const read = tokenRequests.details(s, (group, index) => {
    if (state) host.post({ type: 'loadTokens', loadId: state.loadId, group, index });
  });
  const response = read?.response ?? (s.response_cut ? null : s.response);
  detail.append(...sampleDetail(s, read, response, {
    rescore: (text) => {
      if (state?.run && state.step !== null) host.post({ type: 'rescore', request: { runId: state.run.id, step: state.step, group: s.group, index: s.index, prompt: s.prompt, response: text } });
    },
    addCase: () => {
      if (state?.run && state.step !== null) host.post({ type: 'addVerifierCase', sample: { runId: state.run.id, step: state.step, group: s.group, index: s.index } });
    },
    close: () => {
      expanded = false;
      renderDetail();
      list.focus();
    },
  }));
}

function requestStep(step: number): void {
  if (!state || step === state.step) return;
  selectedKey = null;
  expanded = false;
  list.scrollTop = 0;
  host.post({ type: 'selectStep', step });
}

function stepBy(delta: number): void {
  if (!state || state.step === null) return;
  const next = state.steps[state.steps.indexOf(state.step) + delta];
  if (next !== undefined) requestStep(next);
}

let frameRequested = false;
const persistScroll = debounce(persist, 200);
list.addEventListener(
  'scroll',
  () => {
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(() => {
      frameRequested = false;
      renderVisible();
    });
    persistScroll();
  },
  { passive: true },
);
new ResizeObserver(() => renderVisible()).observe(list);

list.addEventListener('click', (event) => {
  const row = (event.target as HTMLElement).closest<HTMLElement>('.sample-row');
  if (row) select(Number(row.dataset.row), true);
});

list.addEventListener('keydown', (event) => {
  const page = Math.max(1, Math.floor(list.clientHeight / ROW_HEIGHT) - 1);
  const current = activeRow();
  const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -rows.length, End: rows.length };
  if (event.key in moves) {
    event.preventDefault();
    const from = current < 0 && moves[event.key] > 0 ? -1 : current;
    const target = nextSampleRow(rows, from, moves[event.key]);
    select(target < 0 ? nextSampleRow(rows, -1, 1) : target);
  } else if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    if (current >= 0) select(current, !expanded);
    else select(nextSampleRow(rows, -1, 1), true);
  } else if (event.key === 'Escape' && expanded) {
    expanded = false;
    renderDetail();
    persist();
  }
});

stepPicker.addEventListener('change', () => requestStep(Number(stepPicker.value)));
stepPrev.addEventListener('click', () => stepBy(-1));
stepNext.addEventListener('click', () => stepBy(1));
openPanel.addEventListener('click', () => host.post({ type: 'openInPanel', step: state?.step ?? null }));

function onFilterChange(): void {
  renderToolbar();
  rebuild();
  persist();
}

sortSelect.addEventListener('change', () => {
  filters.sort = sortSelect.value as SortKey;
  onFilterChange();
});
sortDirection.addEventListener('click', () => {
  filters.descending = !filters.descending;
  onFilterChange();
});
labelSelect.addEventListener('change', () => {
  filters.label = labelSelect.value as LabelFilter;
  onFilterChange();
});
const onText = debounce(() => {
  filters.text = textFilter.value;
  onFilterChange();
}, 200);
textFilter.addEventListener('input', onText);
criticWrong.addEventListener('change', () => {
  filters.criticWrong = criticWrong.checked;
  onFilterChange();
});
flipped.addEventListener('change', () => {
  filters.flipped = flipped.checked;
  onFilterChange();
});
disagree.addEventListener('change', () => {
  filters.disagree = disagree.checked;
  onFilterChange();
});

onHostMessage(isRolloutsHostMessage, handle);
host.post({ type: 'ready' });
