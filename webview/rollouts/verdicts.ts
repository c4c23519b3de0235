// The inspector's view of a sample's other verdicts: the audit checker's (task.audit_verifier) and
// the newest re-verification's (Re-verify Run…). Model and checker text is set as text only.

import type { ReverifySummary } from './contract';
import type { RolloutSample } from '../shared/contract';
import { h, icon } from '../shared/dom';
import { auditLabel, checkersDisagree } from './model';

const arrow = (from: number, to: number) => `${from}→${to}`;

/** Badges for the detail head: a flipped label, checkers that disagree. */
export function verdictBadges(s: RolloutSample): HTMLElement[] {
  const badges: HTMLElement[] = [];
  if (s.reverified) {
    badges.push(h('span', { className: 'badge flipped', id: 'badge-flipped', title: `re-verified with ${s.reverified.verifier}` },
      icon('arrow-swap'), `flipped ${arrow(s.reverified.before.label, s.reverified.after.label)}`));
  }
  if (checkersDisagree(s)) badges.push(h('span', { className: 'badge disagree', id: 'badge-disagree' }, icon('law'), 'checkers disagree'));
  return badges;
}

/** Row icons beside the label: flipped, and checkers that disagree. */
export function rowMarks(s: RolloutSample): HTMLElement[] {
  const marks: HTMLElement[] = [];
  if (s.reverified) marks.push(icon('arrow-swap', `flipped ${arrow(s.reverified.before.label, s.reverified.after.label)}`));
  if (checkersDisagree(s)) marks.push(icon('law', 'checkers disagree'));
  return marks;
}

/** Both verdicts, as entries of the detail's metrics list. */
export function verdictEntries(s: RolloutSample): [string, string][] {
  const entries: [string, string][] = [];
  const audit = auditLabel(s);
  if (audit !== null || s.audit?.error) {
    entries.push(['audit checker label', audit === null ? '—' : String(audit)]);
    if (s.audit?.detail) entries.push(['audit detail', String(s.audit.detail)]);
    if (s.audit?.error) entries.push(['audit error', String(s.audit.error)]);
  }
  if (s.reverified) {
    const { before, after, verifier } = s.reverified;
    entries.push(['recorded label', `${before.label}${before.detail ? ` (${before.detail})` : ''}`]);
    entries.push([`re-verified label (${verifier})`, `${after.label}${after.detail ? ` (${after.detail})` : ''}`]);
    if (after.error) entries.push(['re-verification error', after.error]);
  }
  return entries;
}

/** The status line's part about the newest re-verification. */
export function reverifyStatus(summary: ReverifySummary | null | undefined): string | null {
  if (!summary) return null;
  const { step, total, verifier } = summary;
  const changed = (c: { up: number; down: number; checked: number }) => `${c.up + c.down} of ${c.checked} labels changed (${c.up} 0→1, ${c.down} 1→0)`;
  const here = step ? `this step ${changed(step)}` : 'this step not re-verified';
  return `re-verified with ${verifier}: ${here}; overall ${changed(total)}`;
}
