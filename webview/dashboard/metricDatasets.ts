// The Chart.js datasets of one metric family: a line per run and metric (smoothed, with the raw
// curve faint behind it), or per group of seeds their mean with a ± 1 std band.
import { type ChartDataset } from 'chart.js';
import { type ChartFamily, type DashboardState, type SeriesData, type XAxis } from './contract';
import { type RunSummary } from '../shared/contract';
import { withAlpha, type ThemeColors } from '../shared/theme';
import { xValues } from './axes';
import { groupSeries, meanBand, seedGroups, type SeedGroup } from './seeds';
import { view } from './state';
import { runColor } from './runsPanel';
import { seriesLabel } from './metricsPanel';

// Five: the Prompts chart draws five statuses per run.
const DASHES: number[][] = [[], [6, 3], [2, 2], [8, 3, 2, 3], [12, 3, 2, 3, 2, 3]];

export type Tagged = ChartDataset<'line'> & { key?: string; raw?: boolean; band?: boolean; group?: { mean: number | null; std: number | null } };

/**
 * One line per series; with a smoothing weight above 0, the smoothed line in the series' colour
 * (the host's EMA over every raw point) over its raw line, faint and left out of the legend (the
 * legend toggles both).
 */
export function familyDatasets(
  family: ChartFamily,
  drawn: readonly SeriesData[],
  runs: readonly RunSummary[],
  colors: ThemeColors,
  weight: number,
  hidden: ReadonlySet<string> | undefined,
  starts: ReadonlyMap<string, number>,
  groups: readonly SeedGroup[],
  xAxis: XAxis = view.xAxis,
): Tagged[] {
  const metrics = [...new Set(family.series.map((s) => s.metric))];
  const compare = runs.length > 1;
  const lines: Tagged[] = [];
  const raws: Tagged[] = [];
  const grouped = new Set(groups.flatMap((g) => g.runIds));
  for (const series of drawn) {
    if (grouped.has(series.runId)) {
      if (view.seedLines) raws.push(seedLine(series, runs, colors, weight));
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

/** The seed groups drawn now: with "Group seeds", on a chart on the step axis. */
export function activeSeedGroups(s: DashboardState, onStepAxis = view.xAxis === 'step'): SeedGroup[] {
  return view.groupSeeds && onStepAxis ? seedGroups(s.runs.filter((r) => !view.hiddenRuns.has(r.id)), s.configDiff) : [];
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
