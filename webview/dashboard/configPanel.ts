// The config panel: the resolved-config keys that differ between the runs.
import { type DashboardState } from './contract';
import { clear, h } from '../shared/dom';
import { view } from './state';
import { configSection } from './layout';

export function renderConfig(s: DashboardState): void {
  clear(configSection);
  const diff = s.configDiff;
  if (s.runs.length < 2) {
    configSection.append(h('p', { className: 'hint' }, 'Compare two or more runs (PACS: Compare Runs) to see the config keys that differ.'));
    return;
  }
  const names = diff.runIds.map((id) => s.runs.find((r) => r.id === id));
  const table = h(
    'table',
    { id: 'config-diff', className: 'diff-table', 'aria-label': 'Config keys that differ between the runs' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'key'), ...names.map((run, i) => h('th', { scope: 'col', title: diff.runIds[i] }, (run && view.labels.get(run.id)) ?? diff.runIds[i])))),
  );
  const body = h('tbody');
  body.append(h('tr', { className: 'commit-row', 'data-key': 'commit' }, h('th', { scope: 'row' }, 'commit'), ...names.map((run) => h('td', {}, run?.commit ?? 'no git'))));
  for (const row of diff.rows) {
    body.append(
      h(
        'tr',
        { 'data-key': row.key },
        h('th', { scope: 'row' }, row.key),
        ...row.values.map((v) => (v === null ? h('td', { className: 'missing' }, '(not set)') : h('td', {}, v))),
      ),
    );
  }
  table.append(body);
  const summary =
    diff.rows.length === 0
      ? `All ${diff.keyCount} config keys are the same.`
      : `${diff.rows.length} of ${diff.keyCount} config keys differ.`;
  configSection.append(h('p', { className: 'summary', id: 'config-summary' }, summary), table);
}
