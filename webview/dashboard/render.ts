// Draws the whole page from the host's last state, at most every REDRAW_INTERVAL_MS: the runs,
// the summary, the metric charts, the prompt-health charts, the critic view, the config table and a sweep's section, in that order.
import { throttle } from '../shared/dom';
import { themeColors } from '../shared/theme';
import { renderConfig } from './configPanel';
import { renderCritic } from './criticPanel';
import { renderFamilies } from './metricsPanel';
import { renderPromptHealth } from './promptHealthPanel';
import { runLabels } from './runLabels';
import { renderRuns } from './runsPanel';
import { renderScores } from './scoresPanel';
import { sweepSection } from './layout';
import { renderSweep } from './sweepPanel';
import { view } from './state';

const REDRAW_INTERVAL_MS = 250;

export const render = throttle(() => {
  if (!view.state) return;
  const colors = themeColors();
  view.labels = runLabels(view.state.runs);
  renderRuns(view.state, colors);
  renderScores(view.state, colors);
  renderFamilies(view.state, colors);
  renderPromptHealth(view.state, colors);
  renderCritic(view.state, colors);
  renderConfig(view.state);
  renderSweep(sweepSection, view.state.sweep, colors);
  view.renders++;
  document.body.dataset.renders = String(view.renders);
  if (view.pendingScroll !== undefined) {
    window.scrollTo(0, view.pendingScroll);
    view.pendingScroll = undefined;
  }
}, REDRAW_INTERVAL_MS);
