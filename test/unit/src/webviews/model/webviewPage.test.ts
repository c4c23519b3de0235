import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentSecurityPolicy, makeNonce, webviewPageHtml } from '../../../../../src/webviews/model/webviewPage';

describe('webview page', () => {
  const html = webviewPageHtml({
    cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
    nonce: 'abc123',
    title: 'Rollouts: <run> "x"',
    scriptUri: 'https://cdn/x/dist/webview/rollouts.js',
    styleUris: ['https://cdn/x/media/webview.css'],
    codiconUri: 'https://cdn/x/dist/webview/codicon.css',
    data: { view: 'rollouts', mode: 'view', 'bad key"': 'x' },
  });

  it('has a strict CSP: nothing by default, scripts only by nonce, no inline styles', () => {
    const csp = contentSecurityPolicy('https://src', 'n1');
    assert.match(csp, /^default-src 'none'; /);
    assert.match(csp, /script-src 'nonce-n1'/);
    assert.match(csp, /style-src https:\/\/src(;|$)/);
    assert.doesNotMatch(csp, /unsafe-(inline|eval)/);
    assert.match(csp, /base-uri 'none'/);
    assert.match(csp, /form-action 'none'/);
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'nonce-abc123'/);
  });

  it('loads one nonce-tagged script and local styles, escapes attributes and drops odd data keys', () => {
    assert.equal(html.match(/<script/g)?.length, 1);
    assert.match(html, /<script nonce="abc123" src="https:\/\/cdn\/x\/dist\/webview\/rollouts.js"><\/script>/);
    assert.match(html, /id="vscode-codicon-stylesheet"/);
    assert.match(html, /<title>Rollouts: &lt;run&gt; &quot;x&quot;<\/title>/);
    assert.match(html, /<body data-view="rollouts" data-mode="view">/);
    assert.doesNotMatch(html, /bad key/);
  });

  it('makes a fresh unguessable nonce each time', () => {
    const a = makeNonce();
    assert.notEqual(a, makeNonce());
    assert.match(a, /^[A-Za-z0-9_-]{24}$/);
  });
});
