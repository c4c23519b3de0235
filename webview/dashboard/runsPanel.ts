// The runs header: one chip per run, its colour and status, a click hides or shows it on the charts.
import { type DashboardState } from './contract';
import { type RunSummary } from '../shared/contract';
import { STATUS_CODICONS } from '../../src/run/model/runModel';
import { isRunStatus } from '../../src/run/model/runFormat';
import { clear, h, icon } from '../shared/dom';
import { type ThemeColors } from '../shared/theme';
import { notice, runsHeader } from './layout';

export function runColor(colors: ThemeColors, runs: readonly RunSummary[], runId: string): string {
  const i = Math.max(0, runs.findIndex((r) => r.id === runId));
  return colors.series[i % colors.series.length];
}

export function renderRuns(s: DashboardState, colors: ThemeColors): void {
  clear(runsHeader);
  for (const run of s.runs) {
    const swatch = h('span', { className: 'swatch', 'aria-hidden': 'true' });
    swatch.style.setProperty('--swatch', runColor(colors, s.runs, run.id));
    runsHeader.append(
      h(
        'div',
        { className: 'run', 'data-run-id': run.id, title: run.id },
        swatch,
        h('strong', {}, run.name),
        h('span', { className: `status status-${run.status}` }, statusIcon(run.status), run.status),
        h('span', {}, `${run.algorithm} · step ${run.step}/${run.totalSteps}`),
        h('span', { className: 'commit' }, icon('git-commit'), run.commit ?? 'no git'),
        h('span', { className: 'run-id' }, run.id),
      ),
    );
  }
  const problems: string[] = [];
  if (s.missing.length) problems.push(`Not found in the runs folder: ${s.missing.join(', ')}.`);
  if (s.runs.length && !s.families.length) problems.push('No metrics yet: the charts appear with the first logged step.');
  notice.textContent = problems.join(' ');
  notice.hidden = problems.length === 0;
}

export function statusIcon(status: string): HTMLElement {
  const known = isRunStatus(status) ? STATUS_CODICONS[status] : undefined;
  return icon(known ? `${known.codicon}${known.spin ? ' codicon-modifier-spin' : ''}` : 'circle-outline');
}
