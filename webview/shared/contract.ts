// What every webview's message contract shares: the view types, a run's summary line, and the
// runtime guards. Each webview has its own contract beside it (dashboard/, rollouts/, scorer/
// contract.ts), imported by the host and the page; no DOM and no vscode types here. The host
// waits for the page's `ready`, then sends whole state.

import type { RolloutSample, TokenDetails } from '../../src/run/model/runFormat';
import { isRecord } from '../../src/run/model/runModel';

export type { RolloutSample, TokenDetails };

export const VIEW_TYPES = {
  dashboard: 'pacs.dashboard',
  rolloutInspector: 'pacs.rolloutInspector',
  rolloutsView: 'pacs.rollouts',
} as const;

export interface RunSummary {
  id: string;
  name: string;
  algorithm: string;
  status: string;
  step: number;
  totalSteps: number;
  /** Short commit sha, with `*` when the run trained an uncommitted snapshot; null outside git. */
  commit: string | null;
}

/** One metric of one run, decimated on the host; `ys` holds null where a step has no value. */

export function assertNever(value: never, where: string): never {
  throw new Error(`${where}: unhandled message ${JSON.stringify(value)}`);
}

// Runtime guards: messages cross a process boundary, so each side checks what it receives.

export { isRecord };

export const isInt = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);
export const isString = (value: unknown): value is string => typeof value === 'string';

type MessageChecks<M extends { type: string }> = { [T in Exclude<M['type'], 'ready'>]: (value: Record<string, unknown>) => boolean };

/** A webview's message guard: `{ type: 'ready' }`, or a record whose own `type` has a check that
 * passes. The checks are a table with one entry per message type, so a type added to the union
 * without its check does not compile. */
export function messageGuard<M extends { type: string }>(checks: MessageChecks<M>): (value: unknown) => value is M {
  const table: Record<string, (value: Record<string, unknown>) => boolean> = checks;
  return (value: unknown): value is M => {
    if (!isRecord(value) || typeof value.type !== 'string') return false;
    if (value.type === 'ready') return true;
    return Object.hasOwn(table, value.type) && table[value.type](value);
  };
}
