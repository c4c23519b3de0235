// The dashboard webview: renders the host's DashboardState (metric charts, the implicit critic
// at one step, the config keys that differ). It keeps no data of its own beyond the last state.

import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import {
  BarController,
  BarElement,
  Filler,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LogarithmicScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartData,
  type ChartDataset,
  type LegendItem,
  type TooltipItem,
} from 'chart.js';
import zoomPlugin from 'chartjs-plugin-zoom';
import {
  assertNever,
  isDashboardHostMessage,
  type ChartFamily,
  type CriticView,
  type DashboardHostMessage,
  type DashboardPersistedState,
  type DashboardState,
  type DashboardWebviewMessage,
  type RunScore,
  type RunSummary,
  type SeriesData,
  type SeriesRef,
  type XAxis,
} from '../contract';
import { STATUS_CODICONS } from '../../src/core/runModel';
import { isRunStatus } from '../../src/core/runFormat';
import { byId, ce, clear, debounce, formatNumber, h, icon, throttle } from '../shared/dom';
import { cssVar, onThemeChange, themeColors, withAlpha, type ThemeColors } from '../shared/theme';
import { connect, onHostMessage } from '../shared/vscodeApi';
import { clampSmoothing, MAX_SMOOTHING } from '../../src/core/smoothing';
import { formatX, isXAxis, runStartTimes, X_TITLES, xValues } from './axes';
import { runLabels } from './runLabels';
import { groupSeries, meanBand, meanStd, seedGroups, type SeedGroup } from './seeds';
import { renderSweep } from './sweepPanel';

Chart.register(Filler, LineController, LineElement, PointElement, LinearScale, LogarithmicScale, CategoryScale, BarController, BarElement, Legend, Tooltip, zoomPlugin);

const REDRAW_INTERVAL_MS = 250;
const DASHES: number[][] = [[], [6, 3], [2, 2], [8, 3, 2, 3]];

const host = connect<DashboardWebviewMessage, DashboardPersistedState>();
/** Where the page was scrolled before the webview was hidden (or the window reloaded). */
let pendingScroll = host.getState()?.scrollY;
/** The smoothing weight of the training-metric charts (TensorBoard's EMA), kept across sessions. */
let smoothing = clampSmoothing(host.getState()?.smoothing);
/** The step range every metric chart shows after a drag-to-zoom (null: all steps). */
let zoomRange: { min: number; max: number } | null = null;
/** The metric charts' x axis, kept across sessions. */
let xAxis: XAxis = isXAxis(host.getState()?.xAxis) ? (host.getState()?.xAxis as XAxis) : 'step';
/** Charts drawn with a logarithmic y axis. */
const logCharts = new Set<string>((host.getState()?.logCharts ?? []).filter((id) => typeof id === 'string'));
/** Runs toggled off the charts in the runs table. */
const hiddenRuns = new Set<string>((host.getState()?.hiddenRuns ?? []).filter((id) => typeof id === 'string'));
let metricFilter = typeof host.getState()?.metricFilter === 'string' ? (host.getState()?.metricFilter as string) : '';
/** Runs that differ only by seed drawn as their mean ± std (on the step axis); their own lines on demand. */
let groupSeeds = host.getState()?.groupSeeds === true;
let seedLines = host.getState()?.seedLines === true;
/** The summary table's sort: a column key and direction (null: the order the runs were given in). */
let sortBy: { key: string; descending: boolean } | null = null;
/** Per chart, the series (run + metric) the user hid from its legend. */
const hiddenSeries = new Map<string, Set<string>>();
let state: DashboardState | undefined;
/** What the charts and tables call each run: its name, with the end of its id where names repeat. */
let labels = new Map<string, string>();
let renders = 0;
const charts = new Map<string, Chart>();

const root = byId('root');
const runsHeader = h('header', { id: 'runs', className: 'runs', 'aria-label': 'Runs' });
const notice = h('p', { id: 'notice', className: 'notice', role: 'status' });
const chartGrid = h('div', { id: 'charts', className: 'chart-grid' });
const smoothingSlider = h('input', {
  id: 'smoothing', type: 'range', min: 0, max: MAX_SMOOTHING, step: 0.01, value: smoothing,
  'aria-label': 'Smoothing of the training metric curves',
});
const smoothingLabel = h('output', { id: 'smoothing-label', for: 'smoothing' }, smoothing.toFixed(2));
const xAxisSelect = h('select', { id: 'x-axis', 'aria-label': 'X axis of the metric charts' },
  h('option', { value: 'step' }, 'step'), h('option', { value: 'relative' }, 'relative time'), h('option', { value: 'wall' }, 'wall-clock time'));
xAxisSelect.value = xAxis;
const metricFilterBox = h('input', { id: 'metric-filter', type: 'search', placeholder: 'Filter metrics', value: metricFilter, 'aria-label': 'Show only the charts whose title or metrics contain this text' });
const groupSeedsBox = h('input', { id: 'group-seeds', type: 'checkbox', checked: groupSeeds });
const seedLinesBox = h('input', { id: 'seed-lines', type: 'checkbox', checked: seedLines });
const seedControls = h('span', { id: 'seed-controls', className: 'seed-controls', hidden: true },
  groupSeedsBox, h('label', { for: 'group-seeds', title: 'Runs whose configs differ only by seed: their mean with a ± 1 std band (step axis)' }, 'Group seeds'),
  seedLinesBox, h('label', { for: 'seed-lines' }, 'Per-seed lines'));
const exportCsvButton = ce('vscode-button', { id: 'export-csv', secondary: true, icon: 'desktop-download' }, 'Export CSV');
const resetZoomButton = ce('vscode-button', { id: 'reset-zoom', secondary: true, icon: 'zoom-out', hidden: true }, 'All steps');
const zoomHint = h('span', { className: 'hint', id: 'zoom-hint' }, 'Drag across a chart to zoom into steps (Ctrl + wheel zooms, Shift + drag pans); double-click for all steps.');
const criticRun = ce('vscode-single-select', { id: 'critic-run', 'aria-label': 'Run for the critic view' });
const stepSlider = h('input', { id: 'critic-step', type: 'range', min: 0, max: 0, step: 1, value: 0, 'aria-label': 'Step for the critic view' });
const stepLabel = h('output', { id: 'critic-step-label', for: 'critic-step' });
const inspectButton = ce('vscode-button', { id: 'inspect-rollouts', secondary: true, icon: 'list-flat' }, 'Inspect rollouts');
const criticSummary = h('p', { id: 'critic-summary', className: 'summary', role: 'status' });
const histogramCanvas = h('canvas', { id: 'chart-psi-histogram', role: 'img', 'aria-label': 'Histogram of psi_post split by label' });
const reliabilityCanvas = h('canvas', { id: 'chart-reliability', role: 'img', 'aria-label': 'Reliability diagram of sigma(psi_post)' });
const configSection = h('div', { id: 'config-diff-container' });
const scoresSection = h('div', { id: 'scores-container' });
const sweepSection = h('section', { id: 'sweep', 'aria-labelledby': 'sweep-title', hidden: true }); // Compare Sweep (sweepPanel.ts)

root.append(
  runsHeader,
  notice,
  sweepSection,
  h('section', { id: 'summary', 'aria-labelledby': 'summary-title' }, h('h2', { id: 'summary-title' }, 'Summary'), scoresSection),
  h(
    'section',
    { id: 'metrics', 'aria-labelledby': 'metrics-title' },
    h('h2', { id: 'metrics-title' }, 'Metrics'),
    h(
      'div',
      { className: 'toolbar' },
      h('label', { for: 'smoothing', title: 'Exponential moving average, as in TensorBoard; evaluations are drawn as logged' }, 'Smoothing'),
      smoothingSlider,
      smoothingLabel,
      h('label', { for: 'x-axis' }, 'X axis'),
      xAxisSelect,
      metricFilterBox,
      seedControls,
      exportCsvButton,
      resetZoomButton,
      zoomHint,
    ),
    chartGrid,
  ),
  h(
    'section',
    { id: 'critic', 'aria-labelledby': 'critic-title' },
    h('h2', { id: 'critic-title' }, 'Implicit critic'),
    h('div', { className: 'toolbar' }, criticRun, h('label', { for: 'critic-step' }, 'Step'), stepSlider, stepLabel, inspectButton),
    criticSummary,
    h(
      'div',
      { className: 'chart-grid' },
      chartCard('psi-histogram', 'ψ_post by label (R = 1 vs R = 0)', histogramCanvas),
      chartCard('reliability', 'Reliability of σ(ψ_post)', reliabilityCanvas),
    ),
  ),
  h('section', { id: 'config', 'aria-labelledby': 'config-title' }, h('h2', { id: 'config-title' }, 'Config differences'), configSection),
);

function chartCard(id: string, title: string, canvas: HTMLCanvasElement): HTMLElement {
  return h('figure', { className: 'chart-card', id: `card-${id}` }, h('figcaption', {}, title), h('div', { className: 'chart-box' }, canvas));
}

const render = throttle(() => {
  if (!state) return;
  const colors = themeColors();
  labels = runLabels(state.runs);
  renderRuns(state, colors);
  renderScores(state, colors);
  renderFamilies(state, colors);
  renderCritic(state, colors);
  renderConfig(state);
  renderSweep(sweepSection, state.sweep, colors);
  renders++;
  document.body.dataset.renders = String(renders);
  if (pendingScroll !== undefined) {
    window.scrollTo(0, pendingScroll);
    pendingScroll = undefined;
  }
}, REDRAW_INTERVAL_MS);

function handle(message: DashboardHostMessage): void {
  switch (message.type) {
    case 'state':
      state = message.state;
      persist();
      render();
      return;
    default:
      assertNever(message.type, 'dashboard');
  }
}

function persist(): void {
  if (!state) return;
  host.setState({
    runIds: [...state.runs.map((r) => r.id), ...state.missing],
    criticRunId: state.criticRunId,
    criticStep: state.critic?.step ?? null,
    scrollY: window.scrollY,
    smoothing,
    xAxis,
    logCharts: [...logCharts],
    metricFilter,
    hiddenRuns: [...hiddenRuns],
    groupSeeds,
    seedLines,
  });
}

function runColor(colors: ThemeColors, runs: readonly RunSummary[], runId: string): string {
  const i = Math.max(0, runs.findIndex((r) => r.id === runId));
  return colors.series[i % colors.series.length];
}

function renderRuns(s: DashboardState, colors: ThemeColors): void {
  clear(runsHeader);
  for (const run of s.runs) {
    const swatch = h('span', { className: 'swatch', 'aria-hidden': 'true' });
    swatch.style.setProperty('--swatch', runColor(colors, s.runs, run.id));
    runsHeader.append(
      h(
        'div',
        { className: 'run', 'data-run-id': run.id, title: run.id },
        swatch,
        h('strong', {}, run.name),
        h('span', { className: `status status-${run.status}` }, statusIcon(run.status), run.status),
        h('span', {}, `${run.algorithm} · step ${run.step}/${run.totalSteps}`),
        h('span', { className: 'commit' }, icon('git-commit'), run.commit ?? 'no git'),
        h('span', { className: 'run-id' }, run.id),
      ),
    );
  }
  const problems: string[] = [];
  if (s.missing.length) problems.push(`Not found in the runs folder: ${s.missing.join(', ')}.`);
  if (s.runs.length && !s.families.length) problems.push('No metrics yet: the charts appear with the first logged step.');
  notice.textContent = problems.join(' ');
  notice.hidden = problems.length === 0;
}

function statusIcon(status: string): HTMLElement {
  const known = isRunStatus(status) ? STATUS_CODICONS[status] : undefined;
  return icon(known ? `${known.codicon}${known.spin ? ' codicon-modifier-spin' : ''}` : 'circle-outline');
}

function renderFamilies(s: DashboardState, colors: ThemeColors): void {
  const seen = new Set<string>();
  const starts = runStartTimes(s.families);
  const filter = metricFilter.trim().toLowerCase();
  const groups = activeSeedGroups(s);
  seedControls.hidden = seedGroups(s.runs, s.configDiff).length === 0;
  groupSeedsBox.disabled = xAxis !== 'step';
  seedLinesBox.disabled = !groupSeeds || xAxis !== 'step';
  for (const family of s.families) {
    seen.add(family.id);
    const { drawn, constants } = splitConstant(family.series.filter((series) => !hiddenRuns.has(series.runId)));
    const datasets = familyDatasets(family, drawn, s.runs, colors, s.smoothing ?? 0, hiddenSeries.get(family.id), starts, groups);
    const weight = datasets.some((d) => (d as Tagged).raw) ? s.smoothing : 0;
    const points = family.series.reduce((sum, series) => sum + series.rawCount, 0);
    let chart = charts.get(family.id);
    if (!chart) {
      chart = createMetricChart(family, datasets, colors);
    } else {
      chart.data.datasets = datasets;
      applyColors(chart.options as unknown as Themeable, colors);
      chart.update('none');
    }
    const canvas = chart.canvas;
    canvas.dataset.points = String(points);
    markRange(chart);
    canvas.dataset.series = String(drawn.length);
    canvas.dataset.smoothing = String(weight);
    canvas.dataset.xAxis = xAxis;
    canvas.dataset.log = String(logCharts.has(family.id));
    canvas.dataset.yType = chart.scales.y?.type ?? '';
    // The first series' newest drawn value, for tests to check the curve against the data.
    const first = datasets.find((d) => !(d as Tagged).raw);
    const last = first?.data.at(-1) as { y: number } | undefined;
    canvas.dataset.lastY = last === undefined ? '' : String(last.y);
    canvas.dataset.lastX = last === undefined ? '' : String((last as unknown as { x: number }).x);
    const groupLine = datasets.find((d) => (d as Tagged).group);
    canvas.dataset.groups = String(datasets.filter((d) => (d as Tagged).group).length);
    canvas.dataset.groupLast = groupLine ? JSON.stringify((groupLine as Tagged).group) : '';
    canvas.setAttribute('aria-label', chartLabel(family, drawn));
    const card = canvas.closest('figure');
    if (!card) continue;
    const note = card.querySelector('.chart-note') as HTMLElement;
    note.textContent = constants.length
      ? `Constant, not drawn: ${[...new Set(constants.map((c) => `${seriesLabel(c, s.runs)} = ${formatNumber(c.constant)}`))].join('; ')}.`
      : '';
    note.hidden = constants.length === 0;
    card.hidden = filter !== '' && ![family.title, family.id, ...family.series.map((x) => x.metric)].some((text) => text.toLowerCase().includes(filter));
    const table = card.querySelector('details.data-table') as HTMLDetailsElement;
    if (table.open) fillDataTable(table, family.id);
    chartGrid.append(card);
  }
  for (const [id, chart] of charts) {
    if (seen.has(id) || id === 'psi-histogram' || id === 'reliability') continue;
    chart.canvas.closest('figure')?.remove();
    chart.destroy();
    charts.delete(id);
  }
}

/**
 * Next to series that move, a series that never does (`pacs/weight_mean` at 1) would squash
 * their axis to show its flat line: it is named in a note instead. A chart of only constant
 * series draws them (on an axis of ±5% around their value).
 */
function splitConstant(series: readonly SeriesData[]): { drawn: SeriesData[]; constants: (SeriesData & { constant: number })[] } {
  const constants = series.filter((x): x is SeriesData & { constant: number } => x.constant !== null && x.constant !== undefined);
  if (constants.length === series.length) return { drawn: [...series], constants: [] };
  return { drawn: series.filter((x) => x.constant === null || x.constant === undefined), constants };
}

function seriesLabel(series: SeriesData, runs: readonly RunSummary[]): string {
  return runs.length > 1 ? `${labels.get(series.runId) ?? series.runId} · ${series.metric}` : series.metric;
}

function chartLabel(family: ChartFamily, drawn: readonly SeriesData[]): string {
  return `${family.title} chart, ${drawn.length} series against ${X_TITLES[xAxis]}. The data table under it lists the values.`;
}

function createMetricChart(family: ChartFamily, datasets: Tagged[], colors: ThemeColors): Chart {
  const canvas = h('canvas', { id: `chart-${family.id}`, role: 'img', tabindex: 0 });
  const logButton = h('button', { type: 'button', className: 'chart-action log-toggle', 'data-chart': family.id, 'aria-pressed': String(logCharts.has(family.id)), title: 'Logarithmic y axis (values ≤ 0 are not drawn)' }, 'log y');
  const pngButton = h('button', { type: 'button', className: 'chart-action png-export', 'data-chart': family.id, title: 'Save this chart as a PNG image' }, 'PNG');
  const table = h('details', { className: 'data-table', 'data-chart': family.id }, h('summary', {}, 'Data table'));
  const card = h(
    'figure',
    { className: 'chart-card', id: `card-${family.id}` },
    h('figcaption', {}, h('span', { className: 'chart-title' }, family.title), h('span', { className: 'chart-actions' }, logButton, pngButton)),
    h('div', { className: 'chart-box' }, canvas),
    h('p', { className: 'chart-note hint', hidden: true }),
    table,
  );
  chartGrid.append(card);
  const config = lineConfig(datasets, colors, X_TITLES[xAxis], logCharts.has(family.id) ? 'logarithmic' : 'linear');
  const plugins = config.options?.plugins;
  if (plugins?.legend) {
    plugins.legend.labels = { ...plugins.legend.labels, filter: legendFilter };
    plugins.legend.onClick = (_event, item, element) => legendClick(element.chart as unknown as Chart, family.id, item);
  }
  if (plugins) plugins.zoom = stepZoomOptions(colors);
  const chart = new Chart(canvas, config);
  charts.set(family.id, chart);
  canvas.addEventListener('dblclick', () => setZoom(null));
  canvas.addEventListener('keydown', (event) => chartKey(chart, event));
  logButton.addEventListener('click', () => {
    if (logCharts.has(family.id)) logCharts.delete(family.id);
    else logCharts.add(family.id);
    rebuildCharts([family.id]);
  });
  pngButton.addEventListener('click', () => host.post({ type: 'exportPng', name: family.id, dataUrl: opaquePng(chart.canvas) }));
  table.addEventListener('toggle', () => {
    if (table.open) fillDataTable(table, family.id);
  });
  if (zoomRange) chart.zoomScale('x', zoomRange, 'none');
  return chart;
}

/**
 * The chart as a PNG on the dashboard's background: a chart canvas is transparent, so a dark theme's
 * light axes and labels would vanish in a light image viewer or a paper.
 */
function opaquePng(canvas: HTMLCanvasElement): string {
  const image = h('canvas', { width: canvas.width, height: canvas.height });
  const context = image.getContext('2d');
  if (!context) return canvas.toDataURL('image/png');
  context.fillStyle = cssVar('--vscode-editor-background', getComputedStyle(document.body).backgroundColor);
  context.fillRect(0, 0, image.width, image.height);
  context.drawImage(canvas, 0, 0);
  return image.toDataURL('image/png');
}

/** ← / → (Home / End) walk the tooltip along the chart's first drawn line: the chart is readable without a pointer. */
function chartKey(chart: Chart, event: KeyboardEvent): void {
  const moves: Record<string, (i: number, n: number) => number> = {
    ArrowRight: (i, n) => Math.min(n - 1, i + 1),
    ArrowLeft: (i) => Math.max(0, i - 1),
    Home: () => 0,
    End: (_i, n) => n - 1,
  };
  const move = moves[event.key];
  if (!move) return;
  const datasetIndex = chart.data.datasets.findIndex((d, i) => !(d as Tagged).raw && chart.isDatasetVisible(i));
  const n = datasetIndex < 0 ? 0 : chart.data.datasets[datasetIndex].data.length;
  if (n === 0) return;
  event.preventDefault();
  const current = chart.tooltip?.getActiveElements()[0]?.index ?? -1;
  const index = move(current < 0 ? (event.key === 'ArrowLeft' ? n : -1) : current, n);
  const point = chart.getDatasetMeta(datasetIndex).data[index];
  chart.tooltip?.setActiveElements([{ datasetIndex, index }], { x: point?.x ?? 0, y: point?.y ?? 0 });
  chart.update('none');
  chart.canvas.dataset.activeIndex = String(index);
}

/** The chart's drawn series as a table (x, then a column per line): what a screen reader reads. */
function fillDataTable(details: HTMLDetailsElement, familyId: string): void {
  const chart = charts.get(familyId);
  details.querySelector('table')?.remove();
  if (!chart) return;
  const lines = (chart.data.datasets as Tagged[]).filter((d) => !d.raw && !d.band);
  const rows = new Map<number, (number | null)[]>();
  lines.forEach((line, column) => {
    for (const point of line.data as { x: number; y: number }[]) {
      const row = rows.get(point.x) ?? new Array<number | null>(lines.length).fill(null);
      row[column] = Number.isFinite(point.y) ? point.y : null;
      rows.set(point.x, row);
    }
  });
  const body = h('tbody');
  for (const x of [...rows.keys()].sort((a, b) => a - b)) {
    body.append(h('tr', {}, h('th', { scope: 'row' }, formatX(x, xAxis)), ...(rows.get(x) ?? []).map((y) => h('td', {}, y === null ? '–' : formatNumber(y)))));
  }
  details.append(
    h('table', { className: 'diff-table' },
      h('caption', { className: 'hint' }, `${rows.size} points as drawn (decimated to at most 1000 per series; Export CSV has every point)`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, X_TITLES[xAxis]), ...lines.map((line) => h('th', { scope: 'col' }, String(line.label ?? ''))))),
      body),
  );
}

/** Re-creates charts (all, or those named) with the current axes; a zoom is dropped when the x axis changes. */
function rebuildCharts(ids?: readonly string[]): void {
  for (const [id, chart] of charts) {
    if (id === 'psi-histogram' || id === 'reliability' || (ids && !ids.includes(id))) continue;
    chart.canvas.closest('figure')?.remove();
    chart.destroy();
    charts.delete(id);
  }
  persist();
  render();
}

/** A line dataset with the series it draws (`key`: run + metric) and whether it is the faint raw line behind a smoothed one. */
type Tagged = ChartDataset<'line'> & { key?: string; raw?: boolean; band?: boolean; group?: { mean: number | null; std: number | null } };

/**
 * One line per series; with a smoothing weight above 0, the smoothed line in the series' colour
 * (the host's EMA over every raw point) over its raw line, faint and left out of the legend (the
 * legend toggles both).
 */
function familyDatasets(
  family: ChartFamily,
  drawn: readonly SeriesData[],
  runs: readonly RunSummary[],
  colors: ThemeColors,
  weight: number,
  hidden: ReadonlySet<string> | undefined,
  starts: ReadonlyMap<string, number>,
  groups: readonly SeedGroup[],
): Tagged[] {
  const metrics = [...new Set(family.series.map((s) => s.metric))];
  const compare = runs.length > 1;
  const lines: Tagged[] = [];
  const raws: Tagged[] = [];
  const grouped = new Set(groups.flatMap((g) => g.runIds));
  for (const series of drawn) {
    if (grouped.has(series.runId)) {
      if (seedLines) raws.push(seedLine(series, runs, colors, weight));
      continue;
    }
    const metricIndex = metrics.indexOf(series.metric);
    const color = compare ? runColor(colors, runs, series.runId) : colors.series[metricIndex % colors.series.length];
    const sparse = series.xs.length <= 60;
    const key = `${series.runId}\u0000${series.metric}`;
    const label = seriesLabel(series, runs);
    const xs = xValues(series, xAxis, starts.get(series.runId));
    const points = (ys: readonly (number | null)[]) =>
      xs.flatMap((x, i) => (x === null ? [] : [{ x, y: ys[i] ?? NaN }]));
    const smoothed = weight > 0 ? series.smoothed : null;
    const common = { key, hidden: hidden?.has(key) ?? false, borderDash: compare ? DASHES[metricIndex % DASHES.length] : [], tension: 0, spanGaps: false };
    lines.push({
      ...common,
      label,
      data: points(smoothed ?? series.ys),
      borderColor: color,
      backgroundColor: color,
      borderWidth: colors.highContrast ? 2.5 : 1.5,
      pointRadius: sparse ? 2.5 : 0,
      pointHoverRadius: 4,
      order: 0,
    });
    if (smoothed) {
      const faint = withAlpha(color, colors.highContrast ? 0.45 : 0.25);
      raws.push({
        ...common,
        label: `${label} (raw)`,
        raw: true,
        data: points(series.ys),
        borderColor: faint,
        backgroundColor: faint,
        borderWidth: 1,
        pointRadius: 0,
        pointHoverRadius: 3,
        order: 1, // drawn beneath the smoothed lines
      });
    }
  }
  return [...lines, ...raws, ...groups.flatMap((group) => groupDatasets(group, drawn, runs, colors, weight))];
}

/** The seed groups drawn now: with "Group seeds" on the step axis. */
function activeSeedGroups(s: DashboardState): SeedGroup[] {
  return groupSeeds && xAxis === 'step' ? seedGroups(s.runs.filter((r) => !hiddenRuns.has(r.id)), s.configDiff) : [];
}

/** One seed's own line under its group's band: thin, faint, out of the legend. */
function seedLine(series: SeriesData, runs: readonly RunSummary[], colors: ThemeColors, weight: number): Tagged {
  const color = withAlpha(runColor(colors, runs, series.runId), 0.45);
  const ys = (weight > 0 ? series.smoothed : null) ?? series.ys;
  return {
    label: `${seriesLabel(series, runs)} (seed)`, raw: true, data: series.xs.map((x, i) => ({ x, y: ys[i] ?? NaN })),
    borderColor: color, backgroundColor: color, borderWidth: 1, pointRadius: 0, tension: 0, order: 1,
  };
}

/** Per metric, a group's mean line over a ± 1 std band (Chart.js fill between the band's edges). */
function groupDatasets(group: SeedGroup, drawn: readonly SeriesData[], runs: readonly RunSummary[], colors: ThemeColors, weight: number): Tagged[] {
  const metrics = [...new Set(drawn.filter((s) => group.runIds.includes(s.runId)).map((s) => s.metric))];
  const color = runColor(colors, runs, group.runIds[0]);
  return metrics.flatMap((metric, m) => {
    const band = meanBand(groupSeries(group, drawn, metric).map((s) => ({ xs: s.xs, ys: (weight > 0 ? s.smoothed : null) ?? s.ys })));
    const edge = (sign: number) => band.xs.map((x, i) => ({ x, y: band.mean[i] + sign * band.std[i] }));
    const faint = withAlpha(color, colors.highContrast ? 0.35 : 0.18);
    const last = band.xs.length - 1;
    return [
      { label: `${group.name} · ${metric} − std`, band: true, data: edge(-1), borderWidth: 0, pointRadius: 0, borderColor: faint, backgroundColor: faint, fill: false, order: 2 },
      { label: `${group.name} · ${metric} + std`, band: true, data: edge(1), borderWidth: 0, pointRadius: 0, borderColor: faint, backgroundColor: faint, fill: '-1', order: 2 },
      {
        label: `${group.name} · ${metric}`, key: `${group.id}\u0000${metric}`, data: band.xs.map((x, i) => ({ x, y: band.mean[i] })),
        group: last < 0 ? { mean: null, std: null } : { mean: band.mean[last], std: band.std[last] },
        borderColor: color, backgroundColor: color, borderWidth: colors.highContrast ? 2.5 : 2, borderDash: DASHES[m % DASHES.length],
        pointRadius: 0, pointHoverRadius: 4, tension: 0, order: 0,
      },
    ] as Tagged[];
  });
}

/**
 * Drag-to-zoom on the step axis (Ctrl + wheel zooms, Shift + drag pans): every metric chart
 * follows the one zoomed, so the same steps are in view everywhere.
 */
function stepZoomOptions(colors: ThemeColors) {
  // resetZoom reports a completed zoom too: one applied by setZoom itself is not synced back.
  const sync = ({ chart }: { chart: Chart }) => {
    if (!applyingZoom) setZoom({ min: chart.scales.x.min, max: chart.scales.x.max });
  };
  return {
    limits: { x: { min: xAxis === 'wall' ? ('original' as const) : 0 } },
    zoom: {
      mode: 'x' as const,
      drag: { enabled: true, backgroundColor: withAlpha(colors.series[0], 0.15), borderColor: colors.series[0], borderWidth: 1 },
      wheel: { enabled: true, modifierKey: 'ctrl' as const },
      onZoomComplete: sync,
    },
    pan: { enabled: true, mode: 'x' as const, modifierKey: 'shift' as const, onPanComplete: sync },
  };
}

let applyingZoom = false;

/** Shows `range` of steps, widened to whole steps, on every metric chart, or all steps (null). */
function setZoom(range: { min: number; max: number } | null): void {
  if (range && xAxis === 'step') range = { min: Math.max(0, Math.floor(range.min)), max: Math.max(Math.ceil(range.max), Math.floor(range.min) + 1) };
  zoomRange = range;
  applyingZoom = true;
  try {
    for (const [id, chart] of charts) {
      if (id === 'psi-histogram' || id === 'reliability') continue;
      if (range === null) chart.resetZoom('none');
      else chart.zoomScale('x', range, 'none');
      markRange(chart);
    }
  } finally {
    applyingZoom = false;
  }
  resetZoomButton.hidden = range === null;
  document.body.dataset.zoom = range ? `${range.min}..${range.max}` : '';
}

/** The drawn axis ranges, as attributes for tests. */
function markRange(chart: Chart): void {
  const canvas = chart.canvas;
  canvas.dataset.xMin = String(chart.scales.x?.min);
  canvas.dataset.xMax = String(chart.scales.x?.max);
  canvas.dataset.yMin = String(chart.scales.y?.min);
  canvas.dataset.yMax = String(chart.scales.y?.max);
}

function legendFilter(item: LegendItem, data: ChartData): boolean {
  const dataset = data.datasets[item.datasetIndex ?? -1] as Tagged | undefined;
  return !dataset?.raw && !dataset?.band;
}

/** A legend click hides or shows a series with its raw line, and the choice survives redraws. */
function legendClick(chart: Chart, familyId: string, item: LegendItem): void {
  const index = item.datasetIndex ?? -1;
  const key = (chart.data.datasets[index] as Tagged | undefined)?.key;
  if (key === undefined) {
    chart.setDatasetVisibility(index, !chart.isDatasetVisible(index));
    chart.update();
    return;
  }
  const hidden = hiddenSeries.get(familyId) ?? new Set<string>();
  hiddenSeries.set(familyId, hidden);
  if (hidden.has(key)) hidden.delete(key);
  else hidden.add(key);
  for (const dataset of chart.data.datasets as Tagged[]) {
    if (dataset.key === key) dataset.hidden = hidden.has(key);
  }
  chart.update();
}

function lineConfig(datasets: ChartDataset<'line'>[], colors: ThemeColors, xTitle: string, yType: 'linear' | 'logarithmic' = 'linear'): ChartConfiguration<'line'> {
  const config: ChartConfiguration<'line'> = {
    type: 'line',
    data: { datasets },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        // Steps are never negative: with a single point (an eval at step 0) Chart.js would
        // otherwise pad the axis to −1…1.
        x: { type: 'linear', min: xAxis === 'wall' ? undefined : 0, title: { display: true, text: xTitle }, ticks: { callback: (value) => formatX(Number(value), xAxis) } },
        y: { type: yType, afterDataLimits: padFlatRange },
      },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 12, boxHeight: 2 } },
        tooltip: { callbacks: { label: tooltipLabel } },
      },
    },
  };
  applyColors(config.options ?? {}, colors);
  return config;
}

/**
 * A series that is constant up to float rounding (a constant learning rate logged as
 * 0.0010000000000000002 and 0.0009999999999999998) would get an axis spanning that rounding, with
 * ticks to match: give such an axis ±5% of its value instead.
 */
function padFlatRange(scale: { min: number; max: number }): void {
  const magnitude = Math.max(Math.abs(scale.min), Math.abs(scale.max));
  if (magnitude > 0 && scale.max - scale.min < magnitude * 1e-9) {
    scale.min -= magnitude * 0.05;
    scale.max += magnitude * 0.05;
  }
}

function tooltipLabel(item: TooltipItem<'line'>): string {
  const binned = item.raw as { n?: number };
  const label = `${item.dataset.label}: ${formatNumber(item.parsed.y)}`;
  return binned.n === undefined ? label : `${label} at mean σ ${formatNumber(item.parsed.x)} (${binned.n} samples)`;
}

interface Themeable {
  scales?: Record<string, unknown>;
  plugins?: { legend?: { labels?: Record<string, unknown> }; tooltip?: Record<string, unknown> };
}

function applyColors(options: Themeable, colors: ThemeColors): void {
  for (const scale of Object.values(options.scales ?? {}) as Record<string, Record<string, unknown>>[]) {
    scale.ticks = { ...(scale.ticks ?? {}), color: colors.muted };
    scale.grid = { ...(scale.grid ?? {}), color: colors.grid };
    scale.border = { ...(scale.border ?? {}), color: colors.grid };
    scale.title = { ...(scale.title ?? {}), color: colors.muted };
  }
  if (options.plugins?.legend?.labels) options.plugins.legend.labels.color = colors.foreground;
}

function renderCritic(s: DashboardState, colors: ThemeColors): void {
  renderCriticRunPicker(s);
  const steps = s.rolloutSteps;
  const critic = s.critic;
  stepSlider.max = String(Math.max(0, steps.length - 1));
  stepSlider.disabled = steps.length < 2;
  if (critic && document.activeElement !== stepSlider) {
    stepSlider.value = String(Math.max(0, steps.indexOf(critic.step)));
  }
  stepLabel.textContent = critic ? `step ${critic.step}` : '–';
  stepSlider.setAttribute('aria-valuetext', stepLabel.textContent);
  inspectButton.toggleAttribute('disabled', !critic);
  criticSummary.textContent = criticText(s, critic);
  renderHistogram(critic, colors);
  renderReliability(critic, colors);
}

function criticText(s: DashboardState, critic: CriticView | null): string {
  if (!s.criticRunId) return 'No run selected.';
  if (s.criticError) return s.criticError;
  if (!critic) return s.rolloutSteps.length ? 'Loading the step…' : 'No rollouts logged yet (logging.rollouts_every).';
  const parts = [
    `step ${critic.step}`,
    `${critic.samples} samples`,
    `ECE ${formatNumber(critic.reliability.ece)}`,
  ];
  if (critic.badLines) parts.push(`${critic.badLines} unreadable line${critic.badLines === 1 ? '' : 's'} skipped`);
  return parts.join(' · ');
}

function renderCriticRunPicker(s: DashboardState): void {
  criticRun.hidden = s.runs.length < 2;
  const wanted = s.runs.map((r) => r.id).join('\n');
  if (criticRun.dataset.options !== wanted) {
    criticRun.dataset.options = wanted;
    clear(criticRun);
    for (const run of s.runs) criticRun.append(ce('vscode-option', { value: run.id, description: run.id }, run.name));
  }
  if (s.criticRunId) (criticRun as HTMLElement & { value: string }).value = s.criticRunId;
}

function renderHistogram(critic: CriticView | null, colors: ThemeColors): void {
  const hist = critic?.histogram;
  const labels = hist ? hist.positive.map((_, i) => formatNumber((hist.edges[i] + hist.edges[i + 1]) / 2, 2)) : [];
  const datasets: ChartDataset<'bar'>[] = [
    { label: 'R = 1 (correct)', data: hist?.positive ?? [], backgroundColor: withAlpha(colors.positive, 0.75), borderColor: colors.positive, borderWidth: colors.highContrast ? 1 : 0 },
    { label: 'R = 0 (wrong)', data: hist?.negative ?? [], backgroundColor: withAlpha(colors.negative, 0.75), borderColor: colors.negative, borderWidth: colors.highContrast ? 1 : 0 },
  ];
  let chart = charts.get('psi-histogram') as Chart<'bar'> | undefined;
  if (!chart) {
    const config: ChartConfiguration<'bar'> = {
      type: 'bar',
      data: { labels, datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { stacked: true, title: { display: true, text: 'ψ_post' } },
          y: { stacked: true, title: { display: true, text: 'samples' } },
        },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
      },
    };
    applyColors(config.options as Themeable, colors);
    chart = new Chart(histogramCanvas, config);
    charts.set('psi-histogram', chart as unknown as Chart);
  } else {
    chart.data.labels = labels;
    chart.data.datasets = datasets;
    applyColors(chart.options as unknown as Themeable, colors);
    chart.update('none');
  }
  histogramCanvas.dataset.points = String(critic?.samples ?? 0);
}

function renderReliability(critic: CriticView | null, colors: ThemeColors): void {
  const bins = critic?.reliability.bins.filter((b) => b.count > 0) ?? [];
  const datasets: ChartDataset<'line'>[] = [
    {
      label: 'perfect calibration',
      data: [{ x: 0, y: 0 }, { x: 1, y: 1 }],
      borderColor: colors.muted,
      borderDash: [4, 4],
      borderWidth: 1,
      pointRadius: 0,
    },
    {
      label: critic ? `σ(ψ_post), ECE ${formatNumber(critic.reliability.ece)}` : 'σ(ψ_post)',
      data: bins.map((b) => ({ x: b.confidence ?? NaN, y: b.accuracy ?? NaN, n: b.count })),
      borderColor: colors.series[0],
      backgroundColor: colors.series[0],
      borderWidth: colors.highContrast ? 2.5 : 1.5,
      // The area of a point follows the samples in its bin.
      pointRadius: bins.map((b) => 2.5 + 6 * Math.sqrt(b.count / Math.max(1, ...bins.map((x) => x.count)))),
    },
  ];
  let chart = charts.get('reliability') as Chart<'line'> | undefined;
  if (!chart) {
    const config = lineConfig(datasets, colors, 'mean σ(ψ_post) in bin');
    const scales = config.options?.scales as Record<string, Record<string, unknown>>;
    scales.x.min = 0;
    scales.x.max = 1;
    scales.y.min = 0;
    scales.y.max = 1;
    scales.y.title = { display: true, text: 'fraction with R = 1', color: colors.muted };
    chart = new Chart(reliabilityCanvas, config);
    charts.set('reliability', chart as unknown as Chart);
  } else {
    chart.data.datasets = datasets;
    applyColors(chart.options as unknown as Themeable, colors);
    chart.update('none');
  }
  reliabilityCanvas.dataset.points = String(bins.length);
  reliabilityCanvas.dataset.ece = critic?.reliability.ece?.toFixed(4) ?? '';
}

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
function renderScores(s: DashboardState, colors: ThemeColors): void {
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
    const sorted = sortBy?.key === key ? (sortBy.descending ? 'descending' : 'ascending') : 'none';
    const button = h('button', { type: 'button', className: 'sort-header', 'data-sort': key }, title);
    button.addEventListener('click', () => {
      sortBy = sortBy?.key === key ? { key, descending: !sortBy.descending } : { key, descending: true };
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
  if (sortBy) {
    const key = sortBy.key;
    const column = columns.find((c) => c.key === key);
    const sortValue = (row: (typeof rows)[number]): number | string | null => {
      if (key === 'run') return labels.get(row.run.id) ?? row.run.name;
      if (key === 'status') return row.run.status;
      if (key === 'step') return row.run.step;
      if (!column || !row.score) return null;
      return column.sortText ? column.sortText(row.score) : column.value(row.score);
    };
    const sign = sortBy.descending ? -1 : 1;
    rows.sort((a, b) => compareValues(sortValue(a), sortValue(b), sign) || a.i - b.i);
  }
  for (const { run, i, score } of rows) {
    const swatch = h('span', { className: 'swatch', 'aria-hidden': 'true' });
    swatch.style.setProperty('--swatch', runColor(colors, s.runs, run.id));
    const toggle = h('input', { type: 'checkbox', className: 'run-toggle', 'data-run-id': run.id, 'aria-label': `Show ${labels.get(run.id) ?? run.name} on the charts`, checked: !hiddenRuns.has(run.id) });
    toggle.addEventListener('change', () => {
      if (toggle.checked) hiddenRuns.delete(run.id);
      else hiddenRuns.add(run.id);
      persist();
      render();
    });
    const cells = columns.map((column) => {
      const value = score ? column.value(score) : null;
      const isBest = value !== null && best.get(column.key) === value;
      return h('td', { 'data-col': column.key, 'data-value': value === null ? null : String(value), className: isBest ? 'best' : null },
        score ? column.text(score) : '–');
    });
    body.append(h('tr', { 'data-run-id': run.id, 'data-index': String(i), className: hiddenRuns.has(run.id) ? 'run-hidden' : null },
      h('td', {}, toggle),
      h('th', { scope: 'row', title: run.id }, swatch, labels.get(run.id) ?? run.name),
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

function renderConfig(s: DashboardState): void {
  clear(configSection);
  const diff = s.configDiff;
  if (s.runs.length < 2) {
    configSection.append(h('p', { className: 'hint' }, 'Compare two or more runs (PACS: Compare Runs) to see the config keys that differ.'));
    return;
  }
  const names = diff.runIds.map((id) => s.runs.find((r) => r.id === id));
  const table = h(
    'table',
    { id: 'config-diff', className: 'diff-table', 'aria-label': 'Config keys that differ between the runs' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'key'), ...names.map((run, i) => h('th', { scope: 'col', title: diff.runIds[i] }, (run && labels.get(run.id)) ?? diff.runIds[i])))),
  );
  const body = h('tbody');
  body.append(h('tr', { className: 'commit-row', 'data-key': 'commit' }, h('th', { scope: 'row' }, 'commit'), ...names.map((run) => h('td', {}, run?.commit ?? 'no git'))));
  for (const row of diff.rows) {
    body.append(
      h(
        'tr',
        { 'data-key': row.key },
        h('th', { scope: 'row' }, row.key),
        ...row.values.map((v) => (v === null ? h('td', { className: 'missing' }, '(not set)') : h('td', {}, v))),
      ),
    );
  }
  table.append(body);
  const summary =
    diff.rows.length === 0
      ? `All ${diff.keyCount} config keys are the same.`
      : `${diff.rows.length} of ${diff.keyCount} config keys differ.`;
  configSection.append(h('p', { className: 'summary', id: 'config-summary' }, summary), table);
}

const requestStep = debounce((runId: string, step: number) => host.post({ type: 'selectCriticStep', runId, step }), 150);

stepSlider.addEventListener('input', () => {
  if (!state?.criticRunId) return;
  const step = state.rolloutSteps[Number(stepSlider.value)];
  if (step === undefined) return;
  stepLabel.textContent = `step ${step}`;
  stepSlider.setAttribute('aria-valuetext', stepLabel.textContent);
  requestStep(state.criticRunId, step);
});

criticRun.addEventListener('change', () => {
  const runId = (criticRun as HTMLElement & { value: string }).value;
  if (runId && runId !== state?.criticRunId) host.post({ type: 'selectCriticStep', runId, step: -1 });
});

inspectButton.addEventListener('click', () => {
  if (state?.critic) host.post({ type: 'inspectRollouts', runId: state.critic.runId, step: state.critic.step });
});

resetZoomButton.addEventListener('click', () => setZoom(null));

const requestSmoothing = debounce((weight: number) => host.post({ type: 'setSmoothing', weight }), 100);

// The host computes the EMA over every raw point (before decimation) and sends it with the state.
smoothingSlider.addEventListener('input', () => {
  smoothing = clampSmoothing(Number(smoothingSlider.value));
  smoothingLabel.textContent = smoothing.toFixed(2);
  smoothingSlider.setAttribute('aria-valuetext', smoothingLabel.textContent);
  persist();
  requestSmoothing(smoothing);
});

xAxisSelect.addEventListener('change', () => {
  if (!isXAxis(xAxisSelect.value)) return;
  xAxis = xAxisSelect.value;
  setZoom(null);
  rebuildCharts();
});

metricFilterBox.addEventListener('input', debounce(() => {
  metricFilter = metricFilterBox.value;
  persist();
  render();
}, 150));

groupSeedsBox.addEventListener('change', () => {
  groupSeeds = groupSeedsBox.checked;
  persist();
  render();
});

seedLinesBox.addEventListener('change', () => {
  seedLines = seedLinesBox.checked;
  persist();
  render();
});

exportCsvButton.addEventListener('click', () => host.post({ type: 'exportCsv', series: shownSeries() }));

/** The series on the charts the filter shows, less the runs toggled off and the lines hidden from a legend. */
function shownSeries(): SeriesRef[] {
  if (!state) return [];
  return state.families
    .filter((family) => !document.getElementById(`card-${family.id}`)?.hidden)
    .flatMap((family) => family.series
      .filter((series) => !hiddenRuns.has(series.runId) && !hiddenSeries.get(family.id)?.has(`${series.runId}\u0000${series.metric}`))
      .map((series) => ({ runId: series.runId, metric: series.metric })));
}

window.addEventListener('scroll', debounce(persist, 200), { passive: true });

onThemeChange(() => {
  // The charts are rebuilt; a zoom survives it (new charts take zoomRange).
  for (const chart of charts.values()) chart.destroy();
  charts.clear();
  clear(chartGrid);
  render();
});

onHostMessage(isDashboardHostMessage, handle);
host.post({ type: 'ready' });
host.post({ type: 'setSmoothing', weight: smoothing });
