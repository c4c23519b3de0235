// The HTML page of every PACS Lab webview. Pure, so the browser tests render exactly what the
// extension serves, Content-Security-Policy included.

import { randomBytes } from 'node:crypto';

export interface WebviewPageOptions {
  /** `webview.cspSource`: the origin the webview loads local resources from. */
  cspSource: string;
  nonce: string;
  title: string;
  scriptUri: string;
  styleUris: readonly string[];
  /** codicon.css; vscode-elements' <vscode-icon> finds it by the id `vscode-codicon-stylesheet`. */
  codiconUri: string;
  /** `data-*` attributes of <body>, e.g. { view: 'rollouts', mode: 'view' }. */
  data: Readonly<Record<string, string>>;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * default-src 'none'; scripts only with the page's nonce; styles, fonts and images only from
 * the extension's own files. No 'unsafe-inline' anywhere: the webviews style elements through
 * the CSSOM (element.style), which style-src does not govern. base-uri and form-action do not
 * fall back to default-src, so they are closed by name.
 */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

const escapeAttr = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function webviewPageHtml(o: WebviewPageOptions): string {
  const data = Object.entries(o.data)
    .filter(([key]) => /^[a-z][a-z0-9-]*$/.test(key))
    .map(([key, value]) => ` data-${key}="${escapeAttr(value)}"`)
    .join('');
  const styles = o.styleUris.map((uri) => `  <link rel="stylesheet" href="${escapeAttr(uri)}">`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(o.cspSource, o.nonce))}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <title>${escapeAttr(o.title)}</title>
  <link rel="stylesheet" href="${escapeAttr(o.codiconUri)}" id="vscode-codicon-stylesheet">
${styles}
</head>
<body${data}>
  <div id="root"></div>
  <script nonce="${escapeAttr(o.nonce)}" src="${escapeAttr(o.scriptUri)}"></script>
</body>
</html>
`;
}
