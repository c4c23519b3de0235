// The dashboard's Prompts section: the critic run's prompt ledger as the share of the prompts seen
// in each status and the share of its groups all correct / all wrong / mixed, over steps (the same
// charts as the Diagnostics panel, webview/shared/shareCharts.ts). Hidden for a run without a ledger.
import type { DashboardState } from './contract';
import { renderShareCharts } from '../shared/shareCharts';
import { groupSharesCanvas, promptHealthSection, promptHealthSummary, promptStatusCanvas } from './layout';

export function renderPromptHealth(state: DashboardState): void {
  const health = state.promptHealth ?? null;
  promptHealthSection.hidden = !health;
  if (!health) return;
  const drawn = health.shares.length < health.steps ? ` (${health.shares.length} of them drawn)` : '';
  promptHealthSummary.textContent = `${health.runName} · ${health.runId}: ${health.steps} steps of its prompt ledger${drawn}. PACS: Open Diagnostics lists every prompt.`;
  renderShareCharts(promptStatusCanvas, groupSharesCanvas, health.shares);
}
