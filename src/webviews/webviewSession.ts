// The host side of one webview (an editor tab or a side view), shared by the dashboard, the
// rollout inspector, the scorer and the diagnostics panel: the ready handshake, posting, disposal
// with its panel, the set of open panels, a session on a tab of its own (`PanelSession`), and the serializer that restores a panel after a window reload; and the page
// itself: a webview bundle turned into the HTML VS Code shows (model/webviewPage.ts writes it, CSP
// included, without vscode, so the browser tests render exactly what the extension serves).
import * as vscode from 'vscode';
import { makeNonce, webviewPageHtml } from './model/webviewPage';
import { Disposer } from '../vscode/disposer';

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

type Surface = vscode.WebviewPanel | vscode.WebviewView;
type Ready = { type: 'ready' };

const isPanel = (surface: Surface): surface is vscode.WebviewPanel => 'onDidChangeViewState' in surface;

/**
 * Nothing is posted before the page says `ready`. Webviews are not retained when hidden, so a
 * hidden page is gone: the session waits for the `ready` of the page shown again, and then sends
 * whole state (`onReady`). Disposing the session closes its panel; closing the panel disposes it.
 */
export abstract class WebviewSession<In extends { type: string }, Out> extends Disposer {
  private pageReady = false;
  private closed = false;
  private readonly disposeEmitter = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.disposeEmitter.event;

  constructor(
    protected readonly surface: Surface,
    guard: (value: unknown) => value is In,
    source: string,
  ) {
    super();
    this.track(this.disposeEmitter);
    this.track(
      onWebviewMessage(surface.webview, guard, (message) => {
        if (message.type !== 'ready') return this.handle(message as Exclude<In, Ready>);
        this.pageReady = true;
        this.onReady();
      }, source),
    );
    const hidden = () => {
      if (!surface.visible) this.pageReady = false;
    };
    this.track(isPanel(surface) ? surface.onDidChangeViewState(hidden) : surface.onDidChangeVisibility(hidden));
    this.track(surface.onDidDispose(() => this.dispose()));
  }

  /** True between the page's `ready` and its going away. */
  protected get ready(): boolean {
    return this.pageReady && !this.closed;
  }

  /** The page said `ready`: send it whole state. */
  protected abstract onReady(): void;

  protected abstract handle(message: Exclude<In, Ready>): void;

  /** Posts to a ready page; false when there is none (it sends `ready` again when it comes back). */
  protected async post(message: Out): Promise<boolean> {
    if (!this.ready) return false;
    try {
      return await this.surface.webview.postMessage(message);
    } catch {
      this.pageReady = false;
      return false;
    }
  }

  /** Shows the panel; `preserveFocus` leaves the keyboard focus where it is (a tree the user is working in). */
  reveal(preserveFocus = false): void {
    if (isPanel(this.surface)) this.surface.reveal(undefined, preserveFocus);
  }

  override dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.disposeEmitter.fire();
    super.dispose();
    if (isPanel(this.surface)) this.surface.dispose();
  }
}

/** The open sessions of one kind; a session leaves the set when it is disposed. */
export class SessionSet<T extends { onDidDispose: vscode.Event<void>; dispose(): void }> implements vscode.Disposable {
  private readonly sessions = new Set<T>();

  add(session: T): T {
    this.sessions.add(session);
    session.onDidDispose(() => this.sessions.delete(session));
    return session;
  }

  find(predicate: (session: T) => boolean): T | undefined {
    return [...this.sessions].find(predicate);
  }

  [Symbol.iterator](): Iterator<T> {
    return this.sessions[Symbol.iterator]();
  }

  dispose(): void {
    for (const session of [...this.sessions]) session.dispose();
  }
}

/** A new editor tab for a webview bundle: scripts on, only the built assets loadable, not retained when hidden. */
export function createWebviewPanel(viewType: string, title: string, extensionUri: vscode.Uri, preserveFocus = false): vscode.WebviewPanel {
  return vscode.window.createWebviewPanel(viewType, title, { viewColumn: vscode.ViewColumn.Active, preserveFocus }, { ...webviewOptions(extensionUri), retainContextWhenHidden: false });
}

/** The page an editor tab of its own shows: its view type, bundle, title and the guard of its messages. */
export interface PanelPage<In> {
  readonly viewType: string;
  readonly bundle: WebviewBundle;
  readonly title: string;
  readonly guard: (value: unknown) => value is In;
  /** Who sent a message that fails the guard, for the log. */
  readonly source: string;
}

/** A session on an editor tab of its own: a new tab (or the one a reload restored) showing its page. */
export abstract class PanelSession<In extends { type: string }, Out> extends WebviewSession<In, Out> {
  constructor(
    extensionUri: vscode.Uri,
    page: PanelPage<In>,
    protected readonly panel: vscode.WebviewPanel = createWebviewPanel(page.viewType, '', extensionUri),
  ) {
    super(panel, page.guard, page.source);
    panel.webview.html = webviewHtml(panel.webview, extensionUri, page.bundle, page.title);
  }
}

/**
 * Restores the panels of `viewType` after a window reload: `parse` checks the state the page
 * saved (untrusted: the page wrote it); a panel whose state does not parse is closed.
 */
export function registerPanelRestorer<S>(
  viewType: string,
  extensionUri: vscode.Uri,
  parse: (state: unknown) => S | undefined,
  restore: (panel: vscode.WebviewPanel, state: S) => void | Promise<void>,
): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(viewType, {
    deserializeWebviewPanel: async (panel, state: unknown) => {
      const saved = parse(state);
      if (saved === undefined) {
        panel.dispose();
        return;
      }
      panel.webview.options = webviewOptions(extensionUri);
      await restore(panel, saved);
    },
  });
}
