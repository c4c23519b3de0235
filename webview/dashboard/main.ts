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
} from 'chart.js';
import zoomPlugin from 'chartjs-plugin-zoom';
import { isDashboardHostMessage, type DashboardHostMessage, type SeriesRef } from './contract';
import { assertNever } from '../shared/contract';
import { clear, debounce } from '../shared/dom';
import { onThemeChange } from '../shared/theme';
import { onHostMessage } from '../shared/vscodeApi';
import { clampSmoothing } from '../../src/dashboard/model/smoothing';
import { annotationPlugin } from './alertMarkers';
import { isXAxis } from './axes';
import { setZoom } from './chartOptions';
import { rebuildCharts } from './metricsPanel';
import { render } from './render';
import { host, persist, view } from './state';
import { chartGrid, criticRun, exportCsvButton, groupSeedsBox, inspectButton, metricFilterBox, resetZoomButton, seedLinesBox, smoothingLabel, smoothingSlider, stepLabel, stepSlider, xAxisSelect } from './layout';

Chart.register(Filler, LineController, LineElement, PointElement, LinearScale, LogarithmicScale, CategoryScale, BarController, BarElement, Legend, Tooltip, zoomPlugin, annotationPlugin);

function handle(message: DashboardHostMessage): void {
  switch (message.type) {
    case 'state':
      view.state = message.state;
      persist();
      render();
      return;
    default:
      assertNever(message.type, 'dashboard');
  }
}

const requestStep = debounce((runId: string, step: number) => host.post({ type: 'selectCriticStep', runId, step }), 150);

stepSlider.addEventListener('input', () => {
  if (!view.state?.criticRunId) return;
  const step = view.state.rolloutSteps[Number(stepSlider.value)];
  if (step === undefined) return;
  stepLabel.textContent = `step ${step}`;
  stepSlider.setAttribute('aria-valuetext', stepLabel.textContent);
  requestStep(view.state.criticRunId, step);
});

criticRun.addEventListener('change', () => {
  const runId = (criticRun as HTMLElement & { value: string }).value;
  if (runId && runId !== view.state?.criticRunId) host.post({ type: 'selectCriticStep', runId, step: -1 });
});

inspectButton.addEventListener('click', () => {
  if (view.state?.critic) host.post({ type: 'inspectRollouts', runId: view.state.critic.runId, step: view.state.critic.step });
});

resetZoomButton.addEventListener('click', () => setZoom(null));

const requestSmoothing = debounce((weight: number) => host.post({ type: 'setSmoothing', weight }), 100);

// The host computes the EMA over every raw point (before decimation) and sends it with the state.
smoothingSlider.addEventListener('input', () => {
  view.smoothing = clampSmoothing(Number(smoothingSlider.value));
  smoothingLabel.textContent = view.smoothing.toFixed(2);
  smoothingSlider.setAttribute('aria-valuetext', smoothingLabel.textContent);
  persist();
  requestSmoothing(view.smoothing);
});

xAxisSelect.addEventListener('change', () => {
  if (!isXAxis(xAxisSelect.value)) return;
  view.xAxis = xAxisSelect.value;
  setZoom(null);
  rebuildCharts();
});

metricFilterBox.addEventListener('input', debounce(() => {
  view.metricFilter = metricFilterBox.value;
  persist();
  render();
}, 150));

groupSeedsBox.addEventListener('change', () => {
  view.groupSeeds = groupSeedsBox.checked;
  persist();
  render();
});

seedLinesBox.addEventListener('change', () => {
  view.seedLines = seedLinesBox.checked;
  persist();
  render();
});

exportCsvButton.addEventListener('click', () => host.post({ type: 'exportCsv', series: shownSeries() }));

/** The series on the charts the filter shows, less the runs toggled off and the lines hidden from a legend. */
function shownSeries(): SeriesRef[] {
  if (!view.state) return [];
  return view.state.families
    .filter((family) => !document.getElementById(`card-${family.id}`)?.hidden)
    .flatMap((family) => family.series
      .filter((series) => !view.hiddenRuns.has(series.runId) && !view.hiddenSeries.get(family.id)?.has(`${series.runId}\u0000${series.metric}`))
      .map((series) => ({ runId: series.runId, metric: series.metric })));
}

window.addEventListener('scroll', debounce(persist, 200), { passive: true });

onThemeChange(() => {
  // The charts are rebuilt; a zoom survives it (new charts take zoomRange).
  for (const chart of view.charts.values()) chart.destroy();
  view.charts.clear();
  clear(chartGrid);
  render();
});

onHostMessage(isDashboardHostMessage, handle);
host.post({ type: 'ready' });
host.post({ type: 'setSmoothing', weight: view.smoothing });
