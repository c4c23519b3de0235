// Draws the whole page from the host's last state, at most every REDRAW_INTERVAL_MS: the runs,
// the summary, the metric charts, the critic view and the config table, in that order.
import { throttle } from '../shared/dom';
import { themeColors } from '../shared/theme';
import { renderConfig } from './configPanel';
import { renderCritic } from './criticPanel';
import { renderFamilies } from './metricsPanel';
import { runLabels } from './runLabels';
import { renderRuns } from './runsPanel';
import { renderScores } from './scoresPanel';
import { view } from './state';

const REDRAW_INTERVAL_MS = 250;

export const render = throttle(() => {
  if (!view.state) return;
  const colors = themeColors();
  view.labels = runLabels(view.state.runs);
  renderRuns(view.state, colors);
  renderScores(view.state, colors);
  renderFamilies(view.state, colors);
  renderCritic(view.state, colors);
  renderConfig(view.state);
  view.renders++;
  document.body.dataset.renders = String(view.renders);
  if (view.pendingScroll !== undefined) {
    window.scrollTo(0, view.pendingScroll);
    view.pendingScroll = undefined;
  }
}, REDRAW_INTERVAL_MS);
