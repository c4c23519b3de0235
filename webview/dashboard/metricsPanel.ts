// The metric charts panel: one chart per metric family (filter, log scale, legend toggles, data
// table, PNG export), drawn with Chart.js from the host's series.
import { Chart } from 'chart.js';
import { type ChartFamily, type DashboardState, type SeriesData } from './contract';
import { type RunSummary } from '../shared/contract';
import { formatNumber, h } from '../shared/dom';
import { cssVar, type ThemeColors } from '../shared/theme';
import { setAlertMarkers } from './alertMarkers';
import { formatX, runStartTimes, X_TITLES } from './axes';
import { seedGroups } from './seeds';
import { render } from './render';
import { host, persist, view } from './state';
import { type Themeable, applyColors, legendClick, legendFilter, lineConfig, markRange, setZoom, stepZoomOptions } from './chartOptions';
import { type Tagged, activeSeedGroups, familyDatasets } from './metricDatasets';
import { chartGrid, groupSeedsBox, seedControls, seedLinesBox } from './layout';

export function renderFamilies(s: DashboardState, colors: ThemeColors): void {
  const seen = new Set<string>();
  const starts = runStartTimes(s.families);
  const filter = view.metricFilter.trim().toLowerCase();
  const groups = activeSeedGroups(s);
  seedControls.hidden = seedGroups(s.runs, s.configDiff).length === 0;
  groupSeedsBox.disabled = view.xAxis !== 'step';
  seedLinesBox.disabled = !view.groupSeeds || view.xAxis !== 'step';
  for (const family of s.families) {
    seen.add(family.id);
    const { drawn, constants } = splitConstant(family.series.filter((series) => !view.hiddenRuns.has(series.runId)));
    const datasets = familyDatasets(family, drawn, s.runs, colors, s.smoothing ?? 0, view.hiddenSeries.get(family.id), starts, groups);
    const weight = datasets.some((d) => (d as Tagged).raw) ? s.smoothing : 0;
    const points = family.series.reduce((sum, series) => sum + series.rawCount, 0);
    let chart = view.charts.get(family.id);
    if (!chart) {
      chart = createMetricChart(family, datasets, colors);
    } else {
      chart.data.datasets = datasets;
      applyColors(chart.options as unknown as Themeable, colors);
      chart.update('none');
    }
    setAlertMarkers(chart, s.alerts ?? [], view.hiddenRuns, view.xAxis === 'step', (name) => cssVar(name, '#cca700'));
    const canvas = chart.canvas;
    canvas.dataset.points = String(points);
    markRange(chart);
    canvas.dataset.series = String(drawn.length);
    canvas.dataset.smoothing = String(weight);
    canvas.dataset.xAxis = view.xAxis;
    canvas.dataset.log = String(view.logCharts.has(family.id));
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
  for (const [id, chart] of view.charts) {
    if (seen.has(id) || id === 'psi-histogram' || id === 'reliability') continue;
    chart.canvas.closest('figure')?.remove();
    chart.destroy();
    view.charts.delete(id);
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

export function seriesLabel(series: SeriesData, runs: readonly RunSummary[]): string {
  return runs.length > 1 ? `${view.labels.get(series.runId) ?? series.runId} · ${series.metric}` : series.metric;
}

function chartLabel(family: ChartFamily, drawn: readonly SeriesData[]): string {
  return `${family.title} chart, ${drawn.length} series against ${X_TITLES[view.xAxis]}. The data table under it lists the values.`;
}

function createMetricChart(family: ChartFamily, datasets: Tagged[], colors: ThemeColors): Chart {
  const canvas = h('canvas', { id: `chart-${family.id}`, role: 'img', tabindex: 0 });
  const logButton = h('button', { type: 'button', className: 'chart-action log-toggle', 'data-chart': family.id, 'aria-pressed': String(view.logCharts.has(family.id)), title: 'Logarithmic y axis (values ≤ 0 are not drawn)' }, 'log y');
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
  const config = lineConfig(datasets, colors, X_TITLES[view.xAxis], view.logCharts.has(family.id) ? 'logarithmic' : 'linear');
  const plugins = config.options?.plugins;
  if (plugins?.legend) {
    plugins.legend.labels = { ...plugins.legend.labels, filter: legendFilter };
    plugins.legend.onClick = (_event, item, element) => legendClick(element.chart as unknown as Chart, family.id, item);
  }
  if (plugins) plugins.zoom = stepZoomOptions(colors);
  const chart = new Chart(canvas, config);
  view.charts.set(family.id, chart);
  canvas.addEventListener('dblclick', () => setZoom(null));
  canvas.addEventListener('keydown', (event) => chartKey(chart, event));
  logButton.addEventListener('click', () => {
    if (view.logCharts.has(family.id)) view.logCharts.delete(family.id);
    else view.logCharts.add(family.id);
    rebuildCharts([family.id]);
  });
  pngButton.addEventListener('click', () => host.post({ type: 'exportPng', name: family.id, dataUrl: opaquePng(chart.canvas) }));
  table.addEventListener('toggle', () => {
    if (table.open) fillDataTable(table, family.id);
  });
  if (view.zoomRange) chart.zoomScale('x', view.zoomRange, 'none');
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
  const chart = view.charts.get(familyId);
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
    body.append(h('tr', {}, h('th', { scope: 'row' }, formatX(x, view.xAxis)), ...(rows.get(x) ?? []).map((y) => h('td', {}, y === null ? '–' : formatNumber(y)))));
  }
  details.append(
    h('table', { className: 'diff-table' },
      h('caption', { className: 'hint' }, `${rows.size} points as drawn (decimated to at most 1000 per series; Export CSV has every point)`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, X_TITLES[view.xAxis]), ...lines.map((line) => h('th', { scope: 'col' }, String(line.label ?? ''))))),
      body),
  );
}

/** Re-creates charts (all, or those named) with the current axes; a zoom is dropped when the x axis changes. */
export function rebuildCharts(ids?: readonly string[]): void {
  for (const [id, chart] of view.charts) {
    if (id === 'psi-histogram' || id === 'reliability' || (ids && !ids.includes(id))) continue;
    chart.canvas.closest('figure')?.remove();
    chart.destroy();
    view.charts.delete(id);
  }
  persist();
  render();
}

/** A line dataset with the series it draws (`key`: run + metric) and whether it is the faint raw line behind a smoothed one. */
