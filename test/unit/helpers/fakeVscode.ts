// The slice of the `vscode` API the dashboard, rollouts and Runs tree features use, recorded in memory so
// their host side (commands, panels, serializers, the webview message handshake) runs in plain
// Node. Installed for `require('vscode')` by installFakeVscode().

import Module from 'node:module';

type Listener<T> = (value: T) => void;

export class EventEmitter<T> {
  private listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class FakeUri {
  constructor(readonly path: string) {}
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `https://webview.fake${this.path}`;
  }
}

export const Uri = {
  file: (path: string) => new FakeUri(path),
  joinPath: (base: FakeUri, ...parts: string[]) => new FakeUri([base.path, ...parts].join('/')),
};

export enum ViewColumn {
  Active = -1,
}

export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}
export class ThemeColor {
  constructor(readonly id: string) {}
}
export class MarkdownString {
  value = '';
  isTrusted = false;
  supportHtml = false;
  constructor(
    value?: string,
    readonly supportThemeIcons = false,
  ) {
    this.value = value ?? '';
  }
  appendMarkdown(text: string): this {
    this.value += text;
    return this;
  }
  /** Escapes as VS Code does: markdown syntax, and `$(icon)` when theme icons are on. */
  appendText(text: string): this {
    const escaped = text.replace(/[\\`*_{}[\]()#+\-!~]/g, '\\$&');
    this.value += this.supportThemeIcons ? escaped.replace(/\$\(/g, '\\$(') : escaped;
    return this;
  }
}

export enum TreeItemCheckboxState {
  Unchecked = 0,
  Checked = 1,
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: unknown;
  iconPath?: ThemeIcon;
  contextValue?: string;
  accessibilityInformation?: { label: string };
  constructor(
    readonly label: string,
    readonly collapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

export class FakeTreeView<T> {
  private readonly selectionEmitter = new EventEmitter<{ selection: readonly T[] }>();
  readonly onDidChangeSelection = this.selectionEmitter.event;
  private readonly visibilityEmitter = new EventEmitter<{ visible: boolean }>();
  readonly onDidChangeVisibility = this.visibilityEmitter.event;
  private readonly checkboxEmitter = new EventEmitter<{ items: readonly (readonly [T, TreeItemCheckboxState])[] }>();
  readonly onDidChangeCheckboxState = this.checkboxEmitter.event;
  /** The user ticks or clears these items' checkboxes. */
  check(items: readonly (readonly [T, TreeItemCheckboxState])[]): void {
    this.checkboxEmitter.fire({ items });
  }
  selection: readonly T[] = [];
  visible = true;
  disposed = false;
  constructor(
    readonly id: string,
    readonly options: { treeDataProvider: { getChildren(node?: T): T[] } },
  ) {}
  /** The user selects `nodes` (VS Code fires the event with the whole selection). */
  select(nodes: readonly T[]): void {
    this.selection = nodes;
    this.selectionEmitter.fire({ selection: nodes });
  }
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.visibilityEmitter.fire({ visible });
  }
  reveal(node: T, options?: { select?: boolean }): Promise<void> {
    if (options?.select) this.select([node]);
    return Promise.resolve();
  }
  dispose(): void {
    this.disposed = true;
  }
}

export class FakeWatcher {
  private readonly created = new EventEmitter<FakeUri>();
  private readonly deleted = new EventEmitter<FakeUri>();
  readonly onDidCreate = this.created.event;
  readonly onDidDelete = this.deleted.event;
  constructor(readonly glob: string) {}
  fire(kind: 'create' | 'delete', path: string): void {
    (kind === 'create' ? this.created : this.deleted).fire(new FakeUri(path));
  }
  dispose(): void {}
}

export class FakeWebview {
  options: unknown;
  html = '';
  readonly cspSource = 'https://webview.fake';
  readonly posted: Array<{ type: string; [key: string]: unknown }> = [];
  private readonly received = new EventEmitter<unknown>();
  readonly onDidReceiveMessage = this.received.event;
  asWebviewUri(uri: FakeUri): FakeUri {
    return uri;
  }
  postMessage(message: { type: string }): Promise<boolean> {
    this.posted.push(JSON.parse(JSON.stringify(message)));
    return Promise.resolve(true);
  }
  /** A message from the page. */
  send(message: unknown): void {
    this.received.fire(message);
  }
}

export class FakePanel {
  readonly webview = new FakeWebview();
  visible = true;
  active = true;
  disposed = false;
  private readonly disposeEmitter = new EventEmitter<void>();
  private readonly viewState = new EventEmitter<{ webviewPanel: FakePanel }>();
  readonly onDidDispose = this.disposeEmitter.event;
  readonly onDidChangeViewState = this.viewState.event;
  constructor(
    readonly viewType: string,
    public title: string,
    readonly options: unknown,
  ) {}
  /** Whether the last reveal (or the creation) left the focus where it was. */
  preservedFocus = false;
  reveal(_column?: ViewColumn, preserveFocus = false): void {
    this.visible = true;
    this.preservedFocus = preserveFocus;
  }
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.active = visible;
    this.viewState.fire({ webviewPanel: this });
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.disposeEmitter.fire();
  }
}

export const recorded = {
  panels: [] as FakePanel[],
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  serializers: new Map<string, { deserializeWebviewPanel(panel: FakePanel, state: unknown): Promise<void> }>(),
  viewProviders: new Map<string, { resolveWebviewView(view: unknown): void }>(),
  treeViews: new Map<string, FakeTreeView<unknown>>(),
  watchers: [] as FakeWatcher[],
  executed: [] as Array<[string, unknown[]]>,
  messages: [] as string[],
};

export const commands = {
  registerCommand(id: string, fn: (...args: unknown[]) => unknown) {
    if (recorded.commands.has(id)) throw new Error(`command ${id} registered twice`);
    recorded.commands.set(id, fn);
    return { dispose: () => recorded.commands.delete(id) };
  },
  executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    recorded.executed.push([id, args]);
    const fn = recorded.commands.get(id);
    return Promise.resolve(fn?.(...args));
  },
};

const message = async (text: string) => {
  recorded.messages.push(text);
  return undefined;
};

export const window = {
  createWebviewPanel(viewType: string, title: string, show: ViewColumn | { preserveFocus?: boolean }, options: unknown): FakePanel {
    const panel = new FakePanel(viewType, title, options);
    panel.preservedFocus = typeof show === 'object' && show.preserveFocus === true;
    recorded.panels.push(panel);
    return panel;
  },
  registerWebviewPanelSerializer(viewType: string, serializer: { deserializeWebviewPanel(panel: FakePanel, state: unknown): Promise<void> }) {
    recorded.serializers.set(viewType, serializer);
    return { dispose: () => recorded.serializers.delete(viewType) };
  },
  registerWebviewViewProvider(id: string, provider: { resolveWebviewView(view: unknown): void }) {
    recorded.viewProviders.set(id, provider);
    return { dispose: () => recorded.viewProviders.delete(id) };
  },
  createTreeView<T>(id: string, options: { treeDataProvider: { getChildren(node?: T): T[] } }): FakeTreeView<T> {
    const view = new FakeTreeView<T>(id, options);
    recorded.treeViews.set(id, view as FakeTreeView<unknown>);
    return view;
  },
  showQuickPick: async () => undefined,
  /** A quick pick the user dismisses as soon as it shows (as showQuickPick above). */
  createQuickPick() {
    const hide = new Set<() => void>();
    const pick = {
      items: [] as unknown[],
      activeItems: [] as unknown[],
      selectedItems: [] as unknown[],
      canSelectMany: false,
      placeholder: '',
      matchOnDescription: false,
      matchOnDetail: false,
      onDidAccept: () => ({ dispose: () => undefined }),
      onDidHide: (listener: () => void) => {
        hide.add(listener);
        return { dispose: () => hide.delete(listener) };
      },
      show: () => pick.hide(),
      hide: () => [...hide].forEach((listener) => listener()),
      dispose: () => undefined,
    };
    return pick;
  },
  showErrorMessage: message,
  showWarningMessage: message,
  showInformationMessage: message,
};

export const workspace = {
  createFileSystemWatcher(glob: string): FakeWatcher {
    const watcher = new FakeWatcher(glob);
    recorded.watchers.push(watcher);
    return watcher;
  },
};

/** Makes `require('vscode')` return this module; call before requiring a feature. */
export function installFakeVscode(): void {
  const loader = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolve = loader._resolveFilename;
  loader._resolveFilename = function (request: string, ...rest: unknown[]) {
    return resolve.call(this, request === 'vscode' ? __filename : request, ...rest);
  };
}
