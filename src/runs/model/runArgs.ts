// How run commands read their optional argument: a run id, an object with `runId` (tree items,
// webview messages), an object with `runIds` (a config group in the Runs tree), or an array of
// those (multi-selection, pacs.compareRuns). No vscode here.

export function runIdOf(value: unknown): string | undefined {
  if (typeof value === 'string') {
    return value.length > 0 ? value : undefined;
  }
  if (typeof value === 'object' && value !== null && 'runId' in value) {
    const runId = (value as { runId: unknown }).runId;
    return typeof runId === 'string' && runId.length > 0 ? runId : undefined;
  }
  return undefined;
}

/**
 * The run ids a command was invoked with. A tree context menu passes (clicked item, selected
 * items): the selection wins when it holds more than the clicked item.
 */
export function runIdsFromArgs(arg: unknown, selection?: unknown): string[] {
  const fromSelection = Array.isArray(selection) ? collect(selection) : [];
  if (fromSelection.length > 1) {
    return fromSelection;
  }
  return Array.isArray(arg) ? collect(arg) : collect([arg]);
}

function collect(values: readonly unknown[]): string[] {
  const ids = values.flatMap(idsOf);
  return [...new Set(ids)];
}

function idsOf(value: unknown): string[] {
  if (typeof value === 'object' && value !== null && 'runIds' in value) {
    const runIds = (value as { runIds: unknown }).runIds;
    return Array.isArray(runIds) ? runIds.flatMap(idsOf) : [];
  }
  const id = runIdOf(value);
  return id === undefined ? [] : [id];
}
