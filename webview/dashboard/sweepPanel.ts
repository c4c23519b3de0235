// The dashboard's sweep section (Compare Sweep): the sweep's progress and best trial, a
// parallel-coordinates chart of parameters → metric with one line per trial (chartjs-chart-pcp),
// Optuna's parameter importance as a table, and why trials were pruned. Text from the sweep folder
// is untrusted: it is set as text, never as HTML.
import { Chart } from 'chart.js';
import {
  LinearAxis,
  LineSegment,
  LogarithmicAxis,
  LogarithmicParallelCoordinatesController,
  ParallelCoordinatesController,
  PCPScale,
} from 'chartjs-chart-pcp';
import type { SweepView } from './contract';
import { clear, formatNumber, h } from '../shared/dom';
import { withAlpha, type ThemeColors } from '../shared/theme';

Chart.register(ParallelCoordinatesController, LogarithmicParallelCoordinatesController, PCPScale, LineSegment);
Chart.registry.addElements(LinearAxis, LogarithmicAxis);

let chart: { destroy(): void } | undefined;
let shown = '';

/** Whether an axis of these values reads better on a log scale (all > 0, spanning 100× or more). */
export function wantsLogAxis(values: readonly (number | null)[]): boolean {
  const v = values.filter((x): x is number => x !== null);
  return v.length > 1 && v.every((x) => x > 0) && Math.max(...v) / Math.min(...v) >= 100;
}

export function renderSweep(section: HTMLElement, view: SweepView | null | undefined, colors: ThemeColors): void {
  section.hidden = !view;
  if (!view) {
    chart?.destroy();
    chart = undefined;
    shown = '';
    return;
  }
  const key = JSON.stringify([view, colors]);
  if (key === shown) return;
  shown = key;
  chart?.destroy();
  chart = undefined;
  clear(section);
  section.append(
    h('h2', { id: 'sweep-title' }, `Sweep ${view.name}`),
    h('p', { className: 'summary', id: 'sweep-progress', role: 'status' }, `${view.status} · ${view.progress}${view.best ? ` · ${view.best}` : ''}`),
  );
  const rows = view.pcp.rows;
  if (rows.length === 0) {
    section.append(h('p', { className: 'hint' }, 'The parallel-coordinates chart appears with the first finished trial.'));
  } else {
    const canvas = h('canvas', { id: 'chart-sweep-pcp', role: 'img', 'aria-label': `Parallel coordinates: ${view.pcp.axes.join(', ')} of ${rows.length} trials` });
    section.append(h('figure', { className: 'chart-card', id: 'card-sweep-pcp' }, h('figcaption', {}, `Parameters → ${view.metric} (one line per trial)`), h('div', { className: 'chart-box' }, canvas)));
    const color = (i: number) => {
      const row = rows[i];
      if (row?.trial === view.bestTrial) return colors.positive;
      return row?.state === 'pruned' ? withAlpha(colors.muted, 0.6) : colors.series[0];
    };
    chart = new Chart(canvas, {
      type: 'pcp',
      data: {
        labels: rows.map((r) => `trial ${r.trial}${r.state === 'pruned' ? ' (pruned)' : ''}`),
        datasets: view.pcp.axes.map((axis, a) => {
          const values = rows.map((r) => r.values[a]);
          const cats = view.pcp.categories[a];
          return {
            type: !cats && wantsLogAxis(values) ? 'logarithmicPcp' : 'pcp',
            label: cats ? `${axis} (${cats.map((c, i) => `${i}=${c}`).join(', ')})` : axis,
            data: values.map((v) => v ?? Number.NaN),
            borderColor: (ctx: { dataIndex: number }) => color(ctx.dataIndex),
            backgroundColor: (ctx: { dataIndex: number }) => color(ctx.dataIndex),
          };
        }) as never,
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        color: colors.foreground,
        plugins: { legend: { display: false } },
      } as never,
    });
  }
  const table = h('table', { id: 'sweep-importance', className: 'scores' },
    h('caption', {}, `Parameter importance for ${view.metric} (Optuna)`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Parameter'), h('th', { scope: 'col' }, 'Importance'))),
    h('tbody', {}, ...view.importance.map((row) => h('tr', {}, h('td', {}, row.param), h('td', {}, formatNumber(row.value))))));
  section.append(view.importance.length ? table : h('p', { className: 'hint', id: 'sweep-importance-note' }, `Parameter importance: ${view.importanceNote ?? 'not computed yet'}.`));
  if (view.pruned.length || view.failed.length) {
    section.append(h('ul', { id: 'sweep-notes' },
      ...view.pruned.map((p) => h('li', {}, `Trial ${p.trial} pruned at step ${p.step}: ${p.reason}`)),
      ...view.failed.map((f) => h('li', {}, `Trial ${f.trial} failed: ${f.error}`))));
  }
}
