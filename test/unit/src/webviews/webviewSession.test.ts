// The webview session base (src/webviews/webviewSession.ts) against the in-memory `vscode`: the
// ready handshake, a hidden page, disposal with the panel, the session set, a panel session's own
// tab, the restorer.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakePanel, installFakeVscode, recorded, Uri } from '../../helpers/fakeVscode';

installFakeVscode();
/* eslint-disable @typescript-eslint/no-require-imports */
const { PanelSession, registerPanelRestorer, SessionSet, WebviewSession } = require('../../../../src/webviews/webviewSession') as typeof import('../../../../src/webviews/webviewSession');
/* eslint-enable @typescript-eslint/no-require-imports */

type In = { type: 'ready' } | { type: 'ping'; n: number };
const isIn = (value: unknown): value is In => typeof value === 'object' && value !== null && ['ready', 'ping'].includes((value as In).type);

class Echo extends WebviewSession<In, { type: 'pong'; n: number }> {
  readies = 0;
  protected onReady(): void {
    this.readies++;
    void this.post({ type: 'pong', n: 0 });
  }
  protected handle(message: { type: 'ping'; n: number }): void {
    void this.post({ type: 'pong', n: message.n });
  }
  send(n: number): Promise<boolean> {
    return this.post({ type: 'pong', n });
  }
}

const asPanel = (panel: FakePanel) => panel as unknown as import('vscode').WebviewPanel;
const extensionUri = Uri.file('/ext') as unknown as import('vscode').Uri;

class Tab extends PanelSession<In, { type: 'pong'; n: number }> {
  static readonly page = { viewType: 'tab.test', bundle: 'scorer', title: 'A <Tab>', guard: isIn, source: 'tab' } as const;
  constructor(panel?: import('vscode').WebviewPanel) {
    super(extensionUri, Tab.page, panel);
  }
  protected onReady(): void {
    void this.post({ type: 'pong', n: 0 });
  }
  protected handle(message: { type: 'ping'; n: number }): void {
    void this.post({ type: 'pong', n: message.n });
  }
  get tab(): FakePanel {
    return this.panel as unknown as FakePanel;
  }
}

describe('WebviewSession', () => {
  it('posts nothing before ready, and waits for a new ready once the page was hidden', async () => {
    const panel = new FakePanel('t', 't', {});
    const session = new Echo(asPanel(panel), isIn, 'test');
    assert.equal(await session.send(1), false);
    panel.webview.send({ type: 'ping', n: 2 });
    await Promise.resolve();
    assert.equal(panel.webview.posted.length, 0, 'no page yet');
    panel.webview.send({ type: 'ready' });
    panel.webview.send({ type: 'ping', n: 3 });
    await Promise.resolve();
    assert.deepEqual(panel.webview.posted.map((m) => m.n), [0, 3]);
    panel.setVisible(false);
    assert.equal(await session.send(4), false, 'a hidden page is gone');
    panel.setVisible(true);
    panel.webview.send({ type: 'ready' });
    assert.equal(session.readies, 2);
    assert.equal(await session.send(5), true);
    panel.webview.send({ type: 'nonsense' });
    session.dispose();
  });

  it('closing the panel disposes the session, disposing the session closes the panel, and a set forgets it', () => {
    const set = new SessionSet<InstanceType<typeof Echo>>();
    const a = set.add(new Echo(asPanel(new FakePanel('t', 'a', {})), isIn, 'test'));
    const panelB = new FakePanel('t', 'b', {});
    const b = set.add(new Echo(asPanel(panelB), isIn, 'test'));
    let disposedA = 0;
    a.onDidDispose(() => disposedA++);
    a.dispose();
    a.dispose();
    assert.equal(disposedA, 1);
    assert.equal(set.find(() => true), b);
    panelB.dispose();
    assert.equal(set.find(() => true), undefined);
    const c = set.add(new Echo(asPanel(new FakePanel('t', 'c', {})), isIn, 'test'));
    set.dispose();
    assert.equal(((c as unknown as { surface: FakePanel }).surface).disposed, true);
  });

  it('a panel session opens a tab of its view type showing its page, or shows its page in the tab it is given', () => {
    const before = recorded.panels.length;
    const made = new Tab();
    assert.equal(recorded.panels.length, before + 1);
    assert.equal(made.tab, recorded.panels.at(-1));
    assert.equal(made.tab.viewType, 'tab.test');
    assert.ok((made.tab.options as { enableScripts?: boolean }).enableScripts);
    assert.match(made.tab.webview.html, /dist\/webview\/scorer\.js/);
    assert.match(made.tab.webview.html, /<title>A &lt;Tab&gt;<\/title>/);
    made.tab.webview.send({ type: 'ready' });
    made.tab.webview.send({ type: 'ping', n: 4 });
    assert.deepEqual(made.tab.webview.posted.map((m) => m.n), [0, 4]);
    const restored = new FakePanel('tab.test', '', {});
    const again = new Tab(asPanel(restored));
    assert.equal(recorded.panels.length, before + 1, 'no second tab for a restored one');
    assert.equal(again.tab, restored);
    assert.match(restored.webview.html, /dist\/webview\/scorer\.js/);
    made.dispose();
    again.dispose();
    assert.equal(restored.disposed, true);
  });

  it('the restorer closes a panel whose saved state does not parse and sets the options of one that does', async () => {
    const restored: Array<[FakePanel, number]> = [];
    const registration = registerPanelRestorer('restore.test', Uri.file('/ext') as unknown as import('vscode').Uri,
      (state) => (typeof state === 'number' ? state : undefined), (panel, n) => {
        restored.push([panel as unknown as FakePanel, n]);
      });
    const serializer = recorded.serializers.get('restore.test');
    const bad = new FakePanel('restore.test', '', {});
    await serializer?.deserializeWebviewPanel(bad, { not: 'a number' });
    assert.equal(bad.disposed, true);
    const good = new FakePanel('restore.test', '', {});
    await serializer?.deserializeWebviewPanel(good, 7);
    assert.deepEqual(restored.map(([, n]) => n), [7]);
    assert.equal(good.disposed, false);
    assert.ok((good.webview.options as { enableScripts?: boolean }).enableScripts);
    registration.dispose();
  });
});
