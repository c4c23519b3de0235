// The one place that turns a webview bundle into the page VS Code shows (see src/core/webviewPage.ts).

import * as vscode from 'vscode';
import { makeNonce, webviewPageHtml } from './core/webviewPage';

export type WebviewBundle = 'dashboard' | 'rollouts' | 'scorer' | 'diagnostics';

/** Webviews may load only the built bundles and the media folder. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

export function webviewHtml(
  webview: vscode.Webview,
  extensionUri: vscode.Uri,
  bundle: WebviewBundle,
  title: string,
  data: Record<string, string> = {},
): string {
  const asset = (...path: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...path)).toString();
  return webviewPageHtml({
    cspSource: webview.cspSource,
    nonce: makeNonce(),
    title,
    scriptUri: asset('dist', 'webview', `${bundle}.js`),
    styleUris: [asset('media', 'webview.css')],
    codiconUri: asset('dist', 'webview', 'codicon.css'),
    data: { view: bundle, ...data },
  });
}

/** Hands each message from the page that passes `guard` to `handle`; logs and drops the rest. */
export function onWebviewMessage<M>(
  webview: vscode.Webview,
  guard: (value: unknown) => value is M,
  handle: (message: M) => void,
  source: string,
): vscode.Disposable {
  return webview.onDidReceiveMessage((message: unknown) => {
    if (guard(message)) handle(message);
    else console.warn(`PACS Lab: the ${source} sent an unknown message`, message);
  });
}
