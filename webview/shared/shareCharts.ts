// The two prompt-health charts of a run's ledger, drawn alike by the Diagnostics panel and the
// dashboard: the share of the prompts seen so far in each status (stacked) and the share of each
// step's groups all correct, all wrong and mixed. Each canvas says what it holds in `data-points`
// (steps drawn) and `data-last-step`.
import { CategoryScale, Chart, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import type { StepShares } from '../../src/diagnostics/model/promptLedger';
import { STATUSES } from '../../src/diagnostics/model/promptLedger';
import { themeColors, withAlpha } from './theme';

Chart.register(CategoryScale, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip);

export const STATUS_CHART_LABEL = 'Share of seen prompts in each status over steps';
export const GROUP_CHART_LABEL = 'Share of groups all correct, all wrong and mixed over steps';

const charts = new WeakMap<HTMLCanvasElement, Chart>();

function lineChart(canvas: HTMLCanvasElement, steps: number[], series: Array<[string, number[]]>, stacked: boolean): void {
  const colors = themeColors().series;
  const datasets = series.map(([label, data], i) => ({
    label, data, borderColor: colors[i % colors.length], backgroundColor: withAlpha(colors[i % colors.length], 0.35),
    fill: stacked ? (i === 0 ? 'origin' : '-1') : false,
    pointRadius: 0, borderWidth: 1.5,
  }));
  canvas.dataset.points = String(steps.length);
  canvas.dataset.lastStep = String(steps.at(-1) ?? '');
  const existing = charts.get(canvas);
  if (existing) {
    existing.data.labels = steps;
    existing.data.datasets = datasets;
    existing.update('none');
    return;
  }
  charts.set(canvas, new Chart(canvas, {
    type: 'line',
    data: { labels: steps, datasets },
    options: { animation: false, maintainAspectRatio: false, scales: { y: { min: 0, max: 1, stacked }, x: { title: { display: true, text: 'step' } } } },
  }));
}

export function renderShareCharts(statusCanvas: HTMLCanvasElement, groupCanvas: HTMLCanvasElement, shares: readonly StepShares[]): void {
  const steps = shares.map((x) => x.step);
  lineChart(statusCanvas, steps, STATUSES.map((st) => [st, shares.map((x) => x.status[st])]), true);
  lineChart(groupCanvas, steps, [['all correct', shares.map((x) => x.allCorrect)], ['all wrong', shares.map((x) => x.allWrong)],
    ['mixed', shares.map((x) => x.mixed)]], false);
}
