// Every feature owns what it registers: `track` it, and `dispose` releases it all, newest first.
import type * as vscode from 'vscode';

export class Disposer implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;

  track<T extends vscode.Disposable>(disposable: T): T {
    if (this.disposed) {
      disposable.dispose();
    } else {
      this.disposables.push(disposable);
    }
    return disposable;
  }

  dispose(): void {
    this.disposed = true;
    for (const disposable of this.disposables.splice(0).reverse()) {
      try {
        disposable.dispose();
      } catch (err) {
        console.error('pacs-lab: dispose failed:', err);
      }
    }
  }
}
