// How a run looks in VS Code: its status codicon and one-line description.
import * as vscode from 'vscode';
import type { RunStatus } from '../core/runFormat';
import { runSummary } from './runText';
import type { RunState } from '../core/runStore';

const STATUS_ICONS: Record<RunStatus, [codicon: string, color?: string]> = {
  starting: ['loading~spin'],
  running: ['sync~spin', 'charts.blue'],
  paused: ['debug-pause', 'charts.yellow'],
  suspended: ['debug-stop'],
  stopped: ['debug-stop'],
  finished: ['pass', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  crashed: ['warning', 'problemsWarningIcon.foreground'],
};

export function statusIcon(status: RunStatus): vscode.ThemeIcon {
  const [id, color] = STATUS_ICONS[status];
  return new vscode.ThemeIcon(id, color ? new vscode.ThemeColor(color) : undefined);
}

export function runDescription(run: RunState): string {
  return runSummary(run.info, run.latest['reward/mean']);
}
