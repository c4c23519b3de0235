// Workspace Trust: in Restricted Mode PACS Lab inspects runs but runs no workspace code.
import * as vscode from 'vscode';

/**
 * True when the workspace is trusted. Otherwise explains why `action` is refused (e.g. "launch
 * training") and offers the trust editor.
 */
export async function requireTrust(action: string): Promise<boolean> {
  if (vscode.workspace.isTrusted) return true;
  const manage = 'Manage Workspace Trust';
  const choice = await vscode.window.showErrorMessage(
    `PACS Lab does not ${action} in Restricted Mode: it would run code and configs from this workspace. ` +
      'Trust the workspace to continue; existing runs can still be inspected.',
    manage,
  );
  if (choice === manage) await vscode.commands.executeCommand('workbench.trust.manage');
  return false;
}
