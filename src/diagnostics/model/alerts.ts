// Health alerts (`alert` events, docs/diagnostics.md) as every reader shows them: the store's fold,
// one line of text for the CLI, the log and the Runs tree. Pure: no VS Code, no Node APIs.
import type { AlertEvent } from '../../run/model/runFormat';

/**
 * The run's alerts with `alert` added, oldest first, the newest `max`: a resumed run that fires a
 * rule again at a step it already recorded replaces the earlier record of that rule from that step on.
 */
export function foldAlert(alerts: readonly AlertEvent[], alert: AlertEvent, max: number): AlertEvent[] {
  const kept = alerts.filter((a) => !(a.rule === alert.rule && a.step >= alert.step));
  kept.push(alert);
  return kept.slice(-max);
}

const shown = (x: number | null): string => (x === null ? '-' : Number.isInteger(x) ? String(x) : x.toPrecision(3));

/** `step 12: no_signal (pause) 1 > 0.9: <message>`; the message is untrusted text, shown as plain text by the caller. */
export function alertLine(alert: AlertEvent): string {
  const measured = alert.value === null && alert.threshold === null ? '' : ` ${shown(alert.value)} vs ${shown(alert.threshold)}`;
  return `step ${alert.step}: ${alert.rule} (${alert.action})${measured}: ${alert.message}`;
}

/** The Runs tree's badge text for a run's alerts: `⚠ 2` (the count), or '' without alerts. */
export function alertBadge(alerts: readonly AlertEvent[]): string {
  return alerts.length ? `⚠ ${alerts.length}` : '';
}
