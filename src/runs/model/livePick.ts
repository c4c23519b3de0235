// A quick pick whose items follow a changing source while it is open (no vscode import: the
// caller passes VS Code's QuickPick, the unit tests a fake). A run's step and reward in a pick
// that stays open would otherwise read as they were when it was shown.

export interface Disposable {
  dispose(): void;
}

/** The part of vscode.QuickPick used here. */
export interface LiveQuickPick<T> {
  items: readonly T[];
  activeItems: readonly T[];
  selectedItems: readonly T[];
  readonly canSelectMany: boolean;
  onDidAccept(listener: () => void): Disposable;
  onDidHide(listener: () => void): Disposable;
  show(): void;
  hide(): void;
  dispose(): void;
}

/**
 * Shows `pick` with `load()`'s items, reloads them on every `onChange` keeping the active (and
 * selected) items by `key`, and resolves to the accepted items as `load()` last gave them
 * ([] when dismissed).
 */
export function showLivePick<T>(
  pick: LiveQuickPick<T>,
  load: () => T[],
  key: (item: T) => string,
  onChange: (listener: () => void) => Disposable,
): Promise<T[]> {
  const fill = () => {
    const active = new Set(pick.activeItems.map(key));
    const selected = new Set(pick.selectedItems.map(key));
    const items = load();
    pick.items = items;
    if (active.size) pick.activeItems = items.filter((item) => active.has(key(item)));
    if (pick.canSelectMany && selected.size) pick.selectedItems = items.filter((item) => selected.has(key(item)));
  };
  fill();
  return new Promise((resolve) => {
    let result: T[] = [];
    const disposables = [
      onChange(fill),
      pick.onDidAccept(() => {
        result = pick.canSelectMany ? [...pick.selectedItems] : pick.activeItems.slice(0, 1);
        pick.hide();
      }),
      pick.onDidHide(() => {
        for (const d of disposables) d.dispose();
        pick.dispose();
        resolve(result);
      }),
    ];
    pick.show();
  });
}
