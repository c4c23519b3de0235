// The dashboard page's elements, made once: the runs header, the summary, the metric charts with
// their toolbar, the prompt-health charts of every run, the critic view and the config table. The panels fill them in.
import { byId, ce, h } from '../shared/dom';
import { GROUP_CHART_LABEL, STATUS_CHART_LABEL } from '../shared/shareCharts';
import { MAX_SMOOTHING } from '../../src/dashboard/model/smoothing';
import { view } from './state';

const root = byId('root');
export const runsHeader = h('header', { id: 'runs', className: 'runs', 'aria-label': 'Runs' });
export const notice = h('p', { id: 'notice', className: 'notice', role: 'status' });
export const chartGrid = h('div', { id: 'charts', className: 'chart-grid' });
export const smoothingSlider = h('input', {
  id: 'smoothing', type: 'range', min: 0, max: MAX_SMOOTHING, step: 0.01, value: view.smoothing,
  'aria-label': 'Smoothing of the training metric curves',
});
export const smoothingLabel = h('output', { id: 'smoothing-label', for: 'smoothing' }, view.smoothing.toFixed(2));
export const xAxisSelect = h('select', { id: 'x-axis', 'aria-label': 'X axis of the metric charts' },
  h('option', { value: 'step' }, 'step'), h('option', { value: 'relative' }, 'relative time'), h('option', { value: 'wall' }, 'wall-clock time'));
xAxisSelect.value = view.xAxis;
export const metricFilterBox = h('input', { id: 'metric-filter', type: 'search', placeholder: 'Filter metrics', value: view.metricFilter, 'aria-label': 'Show only the charts whose title or metrics contain this text' });
export const groupSeedsBox = h('input', { id: 'group-seeds', type: 'checkbox', checked: view.groupSeeds });
export const seedLinesBox = h('input', { id: 'seed-lines', type: 'checkbox', checked: view.seedLines });
export const seedControls = h('span', { id: 'seed-controls', className: 'seed-controls', hidden: true },
  groupSeedsBox, h('label', { for: 'group-seeds', title: 'Runs whose configs differ only by seed: their mean with a ± 1 std band (step axis)' }, 'Group seeds'),
  seedLinesBox, h('label', { for: 'seed-lines' }, 'Per-seed lines'));
export const exportCsvButton = ce('vscode-button', { id: 'export-csv', secondary: true, icon: 'desktop-download' }, 'Export CSV');
export const resetZoomButton = ce('vscode-button', { id: 'reset-zoom', secondary: true, icon: 'zoom-out', hidden: true }, 'All steps');
const zoomHint = h('span', { className: 'hint', id: 'zoom-hint' }, 'Drag across a chart to zoom into steps (Ctrl + wheel zooms, Shift + drag pans); double-click for all steps.');
export const criticRun = ce('vscode-single-select', { id: 'critic-run', 'aria-label': 'Run for the critic view' });
export const stepSlider = h('input', { id: 'critic-step', type: 'range', min: 0, max: 0, step: 1, value: 0, 'aria-label': 'Step for the critic view' });
export const stepLabel = h('output', { id: 'critic-step-label', for: 'critic-step' });
export const inspectButton = ce('vscode-button', { id: 'inspect-rollouts', secondary: true, icon: 'list-flat' }, 'Inspect rollouts');
export const criticSummary = h('p', { id: 'critic-summary', className: 'summary', role: 'status' });
export const histogramCanvas = h('canvas', { id: 'chart-psi-histogram', role: 'img', 'aria-label': 'Histogram of psi_post split by label' });
export const reliabilityCanvas = h('canvas', { id: 'chart-reliability', role: 'img', 'aria-label': 'Reliability diagram of sigma(psi_post)' });
export const promptStatusCanvas = h('canvas', { id: 'chart-prompt-status', role: 'img', 'aria-label': STATUS_CHART_LABEL });
export const groupSharesCanvas = h('canvas', { id: 'chart-group-shares', role: 'img', 'aria-label': GROUP_CHART_LABEL });
export const promptHealthSummary = h('p', { id: 'prompt-health-summary', className: 'summary', role: 'status' });
export const promptHealthMissing = h('p', { id: 'prompt-health-missing', className: 'hint', hidden: true });
export const promptHealthSection = h('section', { id: 'prompt-health', 'aria-labelledby': 'prompt-health-title', hidden: true }, // promptHealthPanel.ts
  h('h2', { id: 'prompt-health-title' }, 'Prompts'),
  promptHealthSummary,
  promptHealthMissing,
  h('div', { className: 'chart-grid' },
    chartCard('prompt-status', '', promptStatusCanvas), // titled from the host's families
    chartCard('group-shares', '', groupSharesCanvas)));
export const configSection = h('div', { id: 'config-diff-container' });
export const scoresSection = h('div', { id: 'scores-container' });
export const sweepSection = h('section', { id: 'sweep', 'aria-labelledby': 'sweep-title', hidden: true }); // Compare Sweep (sweepPanel.ts)

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
  promptHealthSection,
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
