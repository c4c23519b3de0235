// How a run looks in VS Code: its status codicon, one-line description and tooltip.
import * as vscode from 'vscode';
import type { RunStatus } from '../run/model/runFormat';
import type { RunState } from './model/runStore';
import { commitLabel, STATUS_CODICONS } from '../run/model/runModel';
import { formatNumber, localTime, runSummary } from './model/runText';
import { alertBadge, alertLine } from '../diagnostics/model/alerts';

/** A live run on another host whose heartbeat stopped (RunState.lost). */
const LOST_ICON: StatusIcon = { codicon: 'question', color: 'problemsWarningIcon.foreground' };

type StatusIcon = (typeof STATUS_CODICONS)[RunStatus];

export function statusIcon(status: RunStatus): vscode.ThemeIcon {
  return themeIcon(STATUS_CODICONS[status]);
}

/** The run's icon: its status's, or the lost one. */
export function runIcon(run: RunState): vscode.ThemeIcon {
  return run.lost ? themeIcon(LOST_ICON) : statusIcon(run.status);
}

function themeIcon({ codicon, spin, color }: StatusIcon): vscode.ThemeIcon {
  return new vscode.ThemeIcon(spin ? `${codicon}~spin` : codicon, color ? new vscode.ThemeColor(color) : undefined);
}

/** `running`, `queued`, ..., or `lost` for a live run on another host whose heartbeat stopped. */
export function shownStatus(run: RunState): string {
  return run.lost ? 'lost' : run.status;
}

export function runDescription(run: RunState): string {
  const parts = [runSummary(run.info, run.latest['reward/mean'])];
  if (run.lost) parts.unshift('lost');
  else if (run.status === 'queued') parts.unshift('queued in Slurm');
  // The same run id in two runs roots: each names its root.
  if (run.idInOtherRoot) parts.push(`in ${run.root}`);
  const badge = alertBadge(run.alerts);
  if (badge) parts.unshift(badge);
  return parts.join(' · ');
}

/** Every field comes from files a trainer wrote: appended as escaped text, never as markdown. */
export function runTooltip(run: RunState): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.isTrusted = false;
  md.supportHtml = false;
  md.appendMarkdown(`$(${run.lost ? LOST_ICON.codicon : STATUS_CODICONS[run.status].codicon}) `);
  md.appendText(`${run.info.name} — ${shownStatus(run)}`);
  md.appendMarkdown('\n\n');
  const { info } = run;
  const rows: Array<[string, string | null | undefined]> = [
    ['Run', run.id],
    ['Algorithm', info.algorithm],
    ['Step', info.total_steps > 0 ? `${info.step} / ${info.total_steps}` : String(info.step)],
    ['Reward', run.latest['reward/mean'] === undefined ? undefined : formatNumber(run.latest['reward/mean'])],
    ['Eval accuracy', run.latest['eval/accuracy'] === undefined ? undefined : formatNumber(run.latest['eval/accuracy'])],
    ['Speed', run.stepsPerSecond === null ? undefined : `${formatNumber(run.stepsPerSecond)} steps/s`],
    ['Config', info.config_path],
    ['Seed', String(info.seed)],
    ['Code', codeLine(run)],
    ['Device', typeof info.versions.device === 'string' ? info.versions.device : undefined],
    ['Host', info.host],
    ['Slurm job', typeof info.slurm_job_id === 'string' ? info.slurm_job_id : undefined],
    ['Lost', run.lost],
    ['Created', localCreatedAt(info.created_at)],
    ['Last checkpoint', run.checkpoints.length ? `step ${run.checkpoints[run.checkpoints.length - 1].step}` : undefined],
    ['Warnings', run.warningCount ? `${run.warningCount}, the last: ${run.warnings[run.warnings.length - 1].message}` : undefined],
    ['Alerts', run.alerts.length ? `${run.alerts.length}, the last: ${alertLine(run.alerts[run.alerts.length - 1])}` : undefined],
    ['Unreadable event lines', run.events.badLines ? String(run.events.badLines) : undefined],
    ['Error', run.lastError?.message],
    ['Folder', run.dir],
    ['Runs root', run.idInOtherRoot ? run.root : undefined],
  ];
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === '') continue;
    md.appendMarkdown(`**${label}:** `);
    md.appendText(value);
    md.appendMarkdown('  \n');
  }
  return md;
}

function codeLine(run: RunState): string {
  const git = run.info.git;
  if (!git) return 'not in a git repository (code not recorded)';
  const branch = git.branch ? ` on ${git.branch}` : '';
  const dirty = git.dirty ? ', with uncommitted work saved in a snapshot' : '';
  return `${commitLabel(git) ?? ''}${branch}${dirty}`;
}

/** run.json's `created_at` (ISO, UTC) in the user's local time; as written when it is no date. */
function localCreatedAt(createdAt: string): string {
  const when = new Date(createdAt);
  return Number.isNaN(when.getTime()) ? createdAt : `${when.getFullYear()}-${localTime(when)}`;
}
