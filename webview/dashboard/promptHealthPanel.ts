// The dashboard's Prompts section: each run's prompt ledger as the share of its prompts seen so far
// in each status and the share of its groups all correct / all wrong / mixed, over steps. Drawn as
// the metric charts are (familyDatasets: colour = run and dash = share when comparing, runs toggled
// off in the runs table left out, seed groups as mean ± std), always on the step axis: a ledger line
// has no time. Hidden when no run shown has a ledger; the runs without one are named.
import { Chart } from 'chart.js';
import type { DashboardState, PromptCharts } from './contract';
import type { ThemeColors } from '../shared/theme';
import { type Themeable, applyColors, legendClick, legendFilter, lineConfig } from './chartOptions';
import { activeSeedGroups, familyDatasets, type Tagged } from './metricDatasets';
import { groupSharesCanvas, promptHealthMissing, promptHealthSection, promptHealthSummary, promptStatusCanvas } from './layout';
import { view } from './state';

const CANVASES: Record<string, HTMLCanvasElement> = { 'prompt-status': promptStatusCanvas, 'group-shares': groupSharesCanvas };
const charts = new Map<string, Chart>();
const NO_STARTS = new Map<string, number>();

export function renderPromptHealth(state: DashboardState, colors: ThemeColors): void {
  const prompts = state.prompts;
  promptHealthSection.hidden = !prompts?.ledgers.length;
  if (!prompts?.ledgers.length) return;
  const label = (runId: string) => view.labels.get(runId) ?? runId;
  promptHealthSummary.textContent = `${summary(prompts, label)} PACS: Open Diagnostics lists every prompt.`;
  promptHealthMissing.textContent = prompts.withoutLedger.length ? `No prompt ledger, so no series: ${prompts.withoutLedger.map(label).join(', ')}.` : '';
  promptHealthMissing.hidden = prompts.withoutLedger.length === 0;
  const shown = prompts.ledgers.filter((l) => !view.hiddenRuns.has(l.runId));
  const groups = activeSeedGroups(state, true);
  for (const family of prompts.families) {
    const canvas = CANVASES[family.id];
    if (!canvas) continue;
    const caption = canvas.closest('figure')?.querySelector('figcaption');
    if (caption) caption.textContent = family.title;
    const drawn = family.series.filter((series) => !view.hiddenRuns.has(series.runId));
    const datasets = familyDatasets(family, drawn, state.runs, colors, 0, view.hiddenSeries.get(family.id), NO_STARTS, groups, 'step');
    const chart = charts.get(family.id);
    if (chart) {
      chart.data.datasets = datasets;
      applyColors(chart.options as unknown as Themeable, colors);
      chart.update('none');
    } else {
      charts.set(family.id, createShareChart(canvas, family.id, datasets, colors));
    }
    canvas.dataset.points = String(shown.reduce((sum, l) => sum + l.drawn, 0));
    canvas.dataset.lastStep = String(Math.max(...drawn.map((s) => s.xs.at(-1) ?? 0), 0));
    canvas.dataset.series = String(drawn.length);
    canvas.dataset.groups = String(datasets.filter((d) => d.group).length);
    canvas.dataset.runs = [...new Set(drawn.map((s) => s.runId))].join(' ');
    // What the legend shows, for tests: each line's label and colour.
    canvas.dataset.lines = JSON.stringify(datasets.filter((d) => !d.raw && !d.band).map((d) => [d.label, d.borderColor]));
  }
}

/** Each run's steps of its ledger (and those drawn, and lines skipped). */
function summary(prompts: PromptCharts, label: (runId: string) => string): string {
  return prompts.ledgers
    .map((l) => {
      const drawn = l.drawn < l.steps ? ` (${l.drawn} of them drawn)` : '';
      const bad = l.badLines ? `, ${l.badLines} unreadable line${l.badLines === 1 ? '' : 's'} skipped` : '';
      return `${label(l.runId)}: ${l.steps} steps of its prompt ledger${drawn}${bad}.`;
    })
    .join(' ');
}

function createShareChart(canvas: HTMLCanvasElement, familyId: string, datasets: Tagged[], colors: ThemeColors): Chart {
  const config = lineConfig(datasets, colors, 'step', 'linear', 'step');
  const y = config.options?.scales?.y;
  if (y) Object.assign(y, { min: 0, max: 1 });
  const plugins = config.options?.plugins;
  if (plugins?.legend) {
    plugins.legend.labels = { ...plugins.legend.labels, filter: legendFilter };
    plugins.legend.onClick = (_event, item, element) => legendClick(element.chart as unknown as Chart, familyId, item);
  }
  return new Chart(canvas, config);
}
