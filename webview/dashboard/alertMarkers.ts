// Markers at alert steps on the dashboard's metric charts (chartjs-plugin-annotation): a dashed
// vertical line per `alert` event of the runs shown, labelled with its rule on hover, on the step
// axis only (an alert has a step, not its own time).
import type { Chart } from 'chart.js';
import annotationPlugin from 'chartjs-plugin-annotation';
import type { AnnotationOptions } from 'chartjs-plugin-annotation';
import type { AlertMarker } from './contract';

export { annotationPlugin };

const ACTION_COLORS: Record<string, string> = { warn: '--vscode-charts-yellow', pause: '--vscode-charts-orange', stop: '--vscode-charts-red' };

/** The chart's alert lines: one per alert of a run not hidden, when the x axis is the step. */
export function setAlertMarkers(chart: Chart, alerts: readonly AlertMarker[], hiddenRuns: ReadonlySet<string>, onStepAxis: boolean, color: (cssVar: string) => string): void {
  const annotations: Record<string, AnnotationOptions> = {};
  if (onStepAxis) {
    alerts.filter((a) => !hiddenRuns.has(a.runId)).forEach((a, i) => {
      annotations[`alert${i}`] = {
        type: 'line', scaleID: 'x', value: a.step, borderColor: color(ACTION_COLORS[a.action] ?? ACTION_COLORS.warn), borderWidth: 1, borderDash: [4, 3],
        label: { display: false, content: `${a.rule} (${a.action}) at step ${a.step}`, position: 'start' },
        enter: ({ element }) => {
          if (element.label) element.label.options.display = true;
          return true;
        },
        leave: ({ element }) => {
          if (element.label) element.label.options.display = false;
          return true;
        },
      };
    });
  }
  // the chart's own config (not the resolved options): a plugin option added later is read from there
  const plugins = chart.config.options?.plugins as { annotation?: { annotations: Record<string, AnnotationOptions> } } | undefined;
  const key = Object.values(annotations).map((a) => `${(a as { value: number }).value}:${String(a.borderColor)}`).join(',');
  if (!plugins || chart.canvas.dataset.alertKey === key) return;
  plugins.annotation = { annotations };
  chart.canvas.dataset.alertKey = key;
  chart.canvas.dataset.alerts = String(Object.keys(annotations).length);
  chart.update('none');
}
