// The implicit critic panel: one run at one step, the ψ_post histogram by label and the
// reliability diagram of σ(ψ_post), with the step slider and "Inspect rollouts".
import { Chart, type ChartConfiguration, type ChartDataset } from 'chart.js';
import { type CriticView, type DashboardState } from './contract';
import { ce, clear, formatNumber } from '../shared/dom';
import { withAlpha, type ThemeColors } from '../shared/theme';
import { view } from './state';
import { criticRun, criticSummary, histogramCanvas, inspectButton, reliabilityCanvas, stepLabel, stepSlider } from './layout';
import { type Themeable, applyColors, lineConfig } from './chartOptions';

export function renderCritic(s: DashboardState, colors: ThemeColors): void {
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
  let chart = view.charts.get('psi-histogram') as Chart<'bar'> | undefined;
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
    view.charts.set('psi-histogram', chart as unknown as Chart);
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
  let chart = view.charts.get('reliability') as Chart<'line'> | undefined;
  if (!chart) {
    const config = lineConfig(datasets, colors, 'mean σ(ψ_post) in bin');
    const scales = config.options?.scales as Record<string, Record<string, unknown>>;
    scales.x.min = 0;
    scales.x.max = 1;
    scales.y.min = 0;
    scales.y.max = 1;
    scales.y.title = { display: true, text: 'fraction with R = 1', color: colors.muted };
    chart = new Chart(reliabilityCanvas, config);
    view.charts.set('reliability', chart as unknown as Chart);
  } else {
    chart.data.datasets = datasets;
    applyColors(chart.options as unknown as Themeable, colors);
    chart.update('none');
  }
  reliabilityCanvas.dataset.points = String(bins.length);
  reliabilityCanvas.dataset.ece = critic?.reliability.ece?.toFixed(4) ?? '';
}
