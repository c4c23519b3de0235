// Everything the dashboard page holds, in one object: the host's last DashboardState, the user's
// view choices (the smoothing, x axis, filter, log charts, hidden runs and seed grouping are kept
// across sessions in the webview's persisted state) and the charts drawn. The panels and main.ts's
// toolbar handlers change it; nothing else holds page state.
import type { Chart } from 'chart.js';
import { type DashboardPersistedState, type DashboardState, type DashboardWebviewMessage, type XAxis } from './contract';
import { connect } from '../shared/vscodeApi';
import { clampSmoothing } from '../../src/dashboard/model/smoothing';
import { isXAxis } from './axes';

export const host = connect<DashboardWebviewMessage, DashboardPersistedState>();
const saved = host.getState();

export interface DashboardView {
  /** Where the page was scrolled before the webview was hidden (or the window reloaded). */
  pendingScroll: number | undefined;
  /** The smoothing weight of the training-metric charts (TensorBoard's EMA), kept across sessions. */
  smoothing: number;
  /** The step range every metric chart shows after a drag-to-zoom (null: all steps). */
  zoomRange: { min: number; max: number } | null;
  /** The metric charts' x axis, kept across sessions. */
  xAxis: XAxis;
  /** Charts drawn with a logarithmic y axis. */
  logCharts: Set<string>;
  /** Runs toggled off the charts in the runs table. */
  hiddenRuns: Set<string>;
  metricFilter: string;
  /** Runs that differ only by seed drawn as their mean ± std (on the step axis); their own lines on demand. */
  groupSeeds: boolean;
  seedLines: boolean;
  /** The summary table's sort: a column key and direction (null: the order the runs were given in). */
  sortBy: { key: string; descending: boolean } | null;
  /** Per chart, the series (run + metric) the user hid from its legend. */
  hiddenSeries: Map<string, Set<string>>;
  state: DashboardState | undefined;
  /** What the charts and tables call each run: its name, with the end of its id where names repeat. */
  labels: Map<string, string>;
  renders: number;
  charts: Map<string, Chart>;
  applyingZoom: boolean;
}

export const view: DashboardView = {
  pendingScroll: saved?.scrollY,
  smoothing: clampSmoothing(saved?.smoothing),
  zoomRange: null,
  xAxis: isXAxis(saved?.xAxis) ? (saved?.xAxis as XAxis) : 'step',
  logCharts: new Set<string>((saved?.logCharts ?? []).filter((id) => typeof id === 'string')),
  hiddenRuns: new Set<string>((saved?.hiddenRuns ?? []).filter((id) => typeof id === 'string')),
  metricFilter: typeof saved?.metricFilter === 'string' ? (saved?.metricFilter as string) : '',
  groupSeeds: saved?.groupSeeds === true,
  seedLines: saved?.seedLines === true,
  sortBy: null,
  hiddenSeries: new Map<string, Set<string>>(),
  state: undefined,
  labels: new Map<string, string>(),
  renders: 0,
  charts: new Map<string, Chart>(),
  applyingZoom: false,
};

export function persist(): void {
  if (!view.state) return;
  host.setState({
    runIds: [...view.state.runs.map((r) => r.id), ...view.state.missing],
    criticRunId: view.state.criticRunId,
    criticStep: view.state.critic?.step ?? null,
    scrollY: window.scrollY,
    smoothing: view.smoothing,
    xAxis: view.xAxis,
    logCharts: [...view.logCharts],
    metricFilter: view.metricFilter,
    hiddenRuns: [...view.hiddenRuns],
    groupSeeds: view.groupSeeds,
    seedLines: view.seedLines,
  });
}
