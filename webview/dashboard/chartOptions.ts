// What every metric chart shares: the step zoom kept in step across charts, the legend's toggles,
// the line-chart options and the theme's colours.
import { Chart, type ChartConfiguration, type ChartData, type ChartDataset, type LegendItem, type TooltipItem } from 'chart.js';
import type { XAxis } from './contract';
import { formatNumber } from '../shared/dom';
import { withAlpha, type ThemeColors } from '../shared/theme';
import { formatX } from './axes';
import { view } from './state';
import { Tagged } from './metricDatasets';
import { resetZoomButton } from './layout';

export function stepZoomOptions(colors: ThemeColors) {
  // resetZoom reports a completed zoom too: one applied by setZoom itself is not synced back.
  const sync = ({ chart }: { chart: Chart }) => {
    if (!view.applyingZoom) setZoom({ min: chart.scales.x.min, max: chart.scales.x.max });
  };
  return {
    limits: { x: { min: view.xAxis === 'wall' ? ('original' as const) : 0 } },
    zoom: {
      mode: 'x' as const,
      drag: { enabled: true, backgroundColor: withAlpha(colors.series[0], 0.15), borderColor: colors.series[0], borderWidth: 1 },
      wheel: { enabled: true, modifierKey: 'ctrl' as const },
      onZoomComplete: sync,
    },
    pan: { enabled: true, mode: 'x' as const, modifierKey: 'shift' as const, onPanComplete: sync },
  };
}

/** Shows `range` of steps, widened to whole steps, on every metric chart, or all steps (null). */
export function setZoom(range: { min: number; max: number } | null): void {
  if (range && view.xAxis === 'step') range = { min: Math.max(0, Math.floor(range.min)), max: Math.max(Math.ceil(range.max), Math.floor(range.min) + 1) };
  view.zoomRange = range;
  view.applyingZoom = true;
  try {
    for (const [id, chart] of view.charts) {
      if (id === 'psi-histogram' || id === 'reliability') continue;
      if (range === null) chart.resetZoom('none');
      else chart.zoomScale('x', range, 'none');
      markRange(chart);
    }
  } finally {
    view.applyingZoom = false;
  }
  resetZoomButton.hidden = range === null;
  document.body.dataset.zoom = range ? `${range.min}..${range.max}` : '';
}

/** The drawn axis ranges, as attributes for tests. */
export function markRange(chart: Chart): void {
  const canvas = chart.canvas;
  canvas.dataset.xMin = String(chart.scales.x?.min);
  canvas.dataset.xMax = String(chart.scales.x?.max);
  canvas.dataset.yMin = String(chart.scales.y?.min);
  canvas.dataset.yMax = String(chart.scales.y?.max);
}

export function legendFilter(item: LegendItem, data: ChartData): boolean {
  const dataset = data.datasets[item.datasetIndex ?? -1] as Tagged | undefined;
  return !dataset?.raw && !dataset?.band;
}

/** A legend click hides or shows a series with its raw line, and the choice survives redraws. */
export function legendClick(chart: Chart, familyId: string, item: LegendItem): void {
  const index = item.datasetIndex ?? -1;
  const key = (chart.data.datasets[index] as Tagged | undefined)?.key;
  if (key === undefined) {
    chart.setDatasetVisibility(index, !chart.isDatasetVisible(index));
    chart.update();
    return;
  }
  const hidden = view.hiddenSeries.get(familyId) ?? new Set<string>();
  view.hiddenSeries.set(familyId, hidden);
  if (hidden.has(key)) hidden.delete(key);
  else hidden.add(key);
  for (const dataset of chart.data.datasets as Tagged[]) {
    if (dataset.key === key) dataset.hidden = hidden.has(key);
  }
  chart.update();
}

export function lineConfig(
  datasets: ChartDataset<'line'>[],
  colors: ThemeColors,
  xTitle: string,
  yType: 'linear' | 'logarithmic' = 'linear',
  xAxis: XAxis = view.xAxis,
): ChartConfiguration<'line'> {
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

export interface Themeable {
  scales?: Record<string, unknown>;
  plugins?: { legend?: { labels?: Record<string, unknown> }; tooltip?: Record<string, unknown> };
}

export function applyColors(options: Themeable, colors: ThemeColors): void {
  for (const scale of Object.values(options.scales ?? {}) as Record<string, Record<string, unknown>>[]) {
    scale.ticks = { ...(scale.ticks ?? {}), color: colors.muted };
    scale.grid = { ...(scale.grid ?? {}), color: colors.grid };
    scale.border = { ...(scale.border ?? {}), color: colors.grid };
    scale.title = { ...(scale.title ?? {}), color: colors.muted };
  }
  if (options.plugins?.legend?.labels) options.plugins.legend.labels.color = colors.foreground;
}
