// The summary panel: one row per run (reward, accuracy, critic AUC/ECE, eval sets, differing
// config keys), sortable, and seed groups' mean ± std.
import { type DashboardState, type RunScore } from './contract';
import { clear, formatNumber, h } from '../shared/dom';
import { type ThemeColors } from '../shared/theme';
import { meanStd, type SeedGroup } from './seeds';
import { scoresSection } from './layout';
import { activeSeedGroups } from './metricDatasets';
import { persist, view } from './state';
import { render } from './render';
import { runColor, statusIcon } from './runsPanel';

interface ScoreColumn {
  key: string;
  title: string;
  /** The value to compare and show; null for a blank cell. */
  value: (score: RunScore) => number | null;
  text: (score: RunScore) => string;
  /** Set for columns where a higher value is better: the best run's cell is marked when comparing. */
  higherIsBetter?: boolean;
  /** For text columns (config values): what the column sorts by. */
  sortText?: (score: RunScore) => string | null;
}

const percent = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(100 * v).toFixed(1)}%`);

const SCORE_COLUMNS: ScoreColumn[] = [
  {
    key: 'best-accuracy', title: 'best eval accuracy', higherIsBetter: true,
    value: (c) => c.bestAccuracy?.value ?? null,
    text: (c) => (c.bestAccuracy ? `${percent(c.bestAccuracy.value)} @ ${c.bestAccuracy.step}` : '–'),
  },
  {
    key: 'last-accuracy', title: 'last eval accuracy', higherIsBetter: true,
    value: (c) => c.lastAccuracy?.value ?? null,
    text: (c) => (c.lastAccuracy ? `${percent(c.lastAccuracy.value)} @ ${c.lastAccuracy.step}` : '–'),
  },
  {
    key: 'pass-at-k', title: 'last pass@k', higherIsBetter: true,
    value: (c) => c.lastPassAtK?.value ?? null,
    text: (c) => (c.lastPassAtK ? `${percent(c.lastPassAtK.value)} (${c.lastPassAtK.metric.replace('eval/', '')})` : '–'),
  },
  { key: 'reward', title: 'reward', higherIsBetter: true, value: (c) => c.reward, text: (c) => formatNumber(c.reward) },
  { key: 'critic-auc', title: 'critic AUC', higherIsBetter: true, value: (c) => c.criticAuc, text: (c) => formatNumber(c.criticAuc) },
  { key: 'critic-accuracy', title: 'critic accuracy', higherIsBetter: true, value: (c) => c.criticAccuracy, text: (c) => percent(c.criticAccuracy) },
];

/** A column per named eval set (config eval.sets): its newest accuracy and the step. */
function evalSetColumns(scores: RunScore[]): ScoreColumn[] {
  const names = [...new Set(scores.flatMap((c) => (c.evalSets ?? []).map((set) => set.name)))].sort();
  return names.map((name) => {
    const last = (c: RunScore) => c.evalSets?.find((set) => set.name === name)?.last ?? null;
    return {
      key: `eval-set-${name}`, title: `${name} accuracy`, higherIsBetter: true,
      value: (c) => last(c)?.value ?? null,
      text: (c) => { const v = last(c); return v ? `${percent(v.value)} @ ${v.step}` : '–'; },
    };
  });
}

/** A column per config key that differs between the runs (at most 8; the config section lists every one). */
function configColumns(s: DashboardState): ScoreColumn[] {
  return s.configDiff.rows.slice(0, 8).map((row) => {
    const valueOf = (c: RunScore) => row.values[s.configDiff.runIds.indexOf(c.runId)] ?? null;
    return { key: `config:${row.key}`, title: row.key, sortText: valueOf, value: () => null, text: (c) => valueOf(c) ?? '(not set)' };
  });
}

/**
 * The runs table: one row per run with its status, step, best and newest held-out numbers,
 * reward and critic quality over its last tenth of steps, and the config keys that differ. A
 * header sorts by its column (again: the other way); a row's checkbox shows or hides the run on
 * the charts.
 */
export function renderScores(s: DashboardState, colors: ThemeColors): void {
  clear(scoresSection);
  const scores = s.scores ?? [];
  if (!s.runs.length) return;
  const compare = s.runs.length > 1;
  const best = new Map<string, number>();
  const columns = [...SCORE_COLUMNS, ...evalSetColumns(scores), ...(compare ? configColumns(s) : [])];
  for (const column of columns) {
    const values = scores.map(column.value).filter((v): v is number => v !== null);
    if (compare && column.higherIsBetter && values.length > 1) best.set(column.key, Math.max(...values));
  }
  const header = (key: string, title: string) => {
    const sorted = view.sortBy?.key === key ? (view.sortBy.descending ? 'descending' : 'ascending') : 'none';
    const button = h('button', { type: 'button', className: 'sort-header', 'data-sort': key }, title);
    button.addEventListener('click', () => {
      view.sortBy = view.sortBy?.key === key ? { key, descending: !view.sortBy.descending } : { key, descending: true };
      render();
    });
    return h('th', { scope: 'col', 'aria-sort': sorted }, button);
  };
  const table = h(
    'table',
    { id: 'scores', className: 'diff-table', 'aria-label': 'Runs: summary and config' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'on charts'), header('run', 'run'), header('status', 'status'), header('step', 'step'),
      ...columns.map((c) => header(c.key, c.title)))),
  );
  const body = h('tbody');
  const rows = s.runs.map((run, i) => ({ run, i, score: scores.find((c) => c.runId === run.id) }));
  if (view.sortBy) {
    const key = view.sortBy.key;
    const column = columns.find((c) => c.key === key);
    const sortValue = (row: (typeof rows)[number]): number | string | null => {
      if (key === 'run') return view.labels.get(row.run.id) ?? row.run.name;
      if (key === 'status') return row.run.status;
      if (key === 'step') return row.run.step;
      if (!column || !row.score) return null;
      return column.sortText ? column.sortText(row.score) : column.value(row.score);
    };
    const sign = view.sortBy.descending ? -1 : 1;
    rows.sort((a, b) => compareValues(sortValue(a), sortValue(b), sign) || a.i - b.i);
  }
  for (const { run, i, score } of rows) {
    const swatch = h('span', { className: 'swatch', 'aria-hidden': 'true' });
    swatch.style.setProperty('--swatch', runColor(colors, s.runs, run.id));
    const toggle = h('input', { type: 'checkbox', className: 'run-toggle', 'data-run-id': run.id, 'aria-label': `Show ${view.labels.get(run.id) ?? run.name} on the charts`, checked: !view.hiddenRuns.has(run.id) });
    toggle.addEventListener('change', () => {
      if (toggle.checked) view.hiddenRuns.delete(run.id);
      else view.hiddenRuns.add(run.id);
      persist();
      render();
    });
    const cells = columns.map((column) => {
      const value = score ? column.value(score) : null;
      const isBest = value !== null && best.get(column.key) === value;
      return h('td', { 'data-col': column.key, 'data-value': value === null ? null : String(value), className: isBest ? 'best' : null },
        score ? column.text(score) : '–');
    });
    body.append(h('tr', { 'data-run-id': run.id, 'data-index': String(i), className: view.hiddenRuns.has(run.id) ? 'run-hidden' : null },
      h('td', {}, toggle),
      h('th', { scope: 'row', title: run.id }, swatch, view.labels.get(run.id) ?? run.name),
      h('td', { 'data-col': 'status', 'data-value': run.status }, statusIcon(run.status), ` ${run.status}`),
      h('td', { 'data-col': 'step' }, `${run.step}/${run.totalSteps}`), ...cells));
  }
  table.append(body);
  const windows = scores.map((c) => c.window).filter((w): w is [number, number] => w !== null);
  const note = windows.length
    ? `Reward and critic columns: means over each run's last tenth of training steps${windows.length === 1 ? ` (steps ${windows[0][0]}–${windows[0][1]})` : ''}.${compare ? ' The best value of a column is in bold; a header sorts by it.' : ''}`
    : 'No training steps logged yet.';
  scoresSection.append(table, h('p', { className: 'hint', id: 'scores-note' }, note));
  const groups = activeSeedGroups(s);
  if (groups.length) scoresSection.append(seedTable(groups, scores));
}

/** Each seed group's numbers as mean ± std over its seeds. */
function seedTable(groups: readonly SeedGroup[], scores: readonly RunScore[]): HTMLElement {
  const columns = SCORE_COLUMNS.filter((c) => c.key !== 'pass-at-k');
  const body = h('tbody');
  for (const group of groups) {
    const own = scores.filter((c) => group.runIds.includes(c.runId));
    body.append(h('tr', { 'data-group': group.id }, h('th', { scope: 'row' }, group.name), ...columns.map((column) => {
      const values = own.map(column.value).filter((v): v is number => v !== null);
      if (!values.length) return h('td', { 'data-col': column.key }, '–');
      const { mean, std } = meanStd(values);
      return h('td', { 'data-col': column.key, 'data-mean': String(mean), 'data-std': String(std) }, `${formatNumber(mean)} ± ${formatNumber(std)}`);
    })));
  }
  return h('table', { id: 'seed-groups', className: 'diff-table', 'aria-label': 'Seed groups: mean ± std over their runs' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'seed group'), ...columns.map((c) => h('th', { scope: 'col' }, c.title)))), body);
}

/** Blanks last whichever the direction; numbers by value, text in natural order. */
function compareValues(a: number | string | null, b: number | string | null, sign: number): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return sign * (a - b);
  return sign * String(a).localeCompare(String(b), undefined, { numeric: true });
}
