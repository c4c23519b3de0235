import assert from 'node:assert/strict';
import { test } from 'node:test';
import { showLivePick, type Disposable, type LiveQuickPick } from '../../../../../src/runs/model/livePick';

interface Item {
  id: string;
  label: string;
}

class FakePick implements LiveQuickPick<Item> {
  items: readonly Item[] = [];
  activeItems: readonly Item[] = [];
  selectedItems: readonly Item[] = [];
  shown = false;
  disposed = false;
  private accept: (() => void)[] = [];
  private hideListeners: (() => void)[] = [];
  constructor(readonly canSelectMany = false) {}
  onDidAccept(listener: () => void): Disposable {
    this.accept.push(listener);
    return { dispose: () => (this.accept = this.accept.filter((l) => l !== listener)) };
  }
  onDidHide(listener: () => void): Disposable {
    this.hideListeners.push(listener);
    return { dispose: () => (this.hideListeners = this.hideListeners.filter((l) => l !== listener)) };
  }
  show(): void {
    this.shown = true;
    if (this.activeItems.length === 0) this.activeItems = this.items.slice(0, 1);
  }
  hide(): void {
    for (const l of [...this.hideListeners]) l();
  }
  dispose(): void {
    this.disposed = true;
  }
  pressEnter(): void {
    for (const l of [...this.accept]) l();
  }
}

function source(initial: Record<string, number>) {
  const steps = { ...initial };
  const listeners = new Set<() => void>();
  return {
    steps,
    load: () => Object.entries(steps).map(([id, step]) => ({ id, label: `${id} step ${step}` })),
    onChange: (listener: () => void): Disposable => {
      listeners.add(listener);
      return { dispose: () => listeners.delete(listener) };
    },
    change: () => listeners.forEach((l) => l()),
    listeners,
  };
}

test('the labels follow the source while the pick is open and the active item is kept', async () => {
  const src = source({ a: 60, b: 10 });
  const pick = new FakePick();
  const result = showLivePick(pick, src.load, (item) => item.id, src.onChange);
  assert.equal(pick.shown, true);
  assert.deepEqual(pick.items.map((i) => i.label), ['a step 60', 'b step 10']);
  pick.activeItems = [pick.items[1]];
  src.steps.a = 374;
  src.steps.b = 11;
  src.change();
  assert.deepEqual(pick.items.map((i) => i.label), ['a step 374', 'b step 11']);
  assert.deepEqual(pick.activeItems.map((i) => i.label), ['b step 11']);
  pick.pressEnter();
  assert.deepEqual(await result, [{ id: 'b', label: 'b step 11' }]);
  assert.equal(pick.disposed, true);
  assert.equal(src.listeners.size, 0, 'no longer listens once hidden');
});

test('the first item as it is now is accepted; a dismissed pick gives nothing', async () => {
  const src = source({ run: 60 });
  const pick = new FakePick();
  const result = showLivePick(pick, src.load, (item) => item.id, src.onChange);
  src.steps.run = 374;
  src.change();
  pick.pressEnter();
  assert.deepEqual(await result, [{ id: 'run', label: 'run step 374' }]);

  const dismissed = new FakePick();
  const none = showLivePick(dismissed, src.load, (item) => item.id, src.onChange);
  dismissed.hide();
  assert.deepEqual(await none, []);
});

test('a multi-select pick keeps its selection across a reload', async () => {
  const src = source({ a: 1, b: 2, c: 3 });
  const pick = new FakePick(true);
  const result = showLivePick(pick, src.load, (item) => item.id, src.onChange);
  pick.selectedItems = [pick.items[0], pick.items[2]];
  src.steps.c = 30;
  src.change();
  pick.pressEnter();
  assert.deepEqual((await result).map((i) => i.label), ['a step 1', 'c step 30']);
});
