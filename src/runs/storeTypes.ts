// The slice of core's RunStore the run adapters use.
import type { RunInfo } from '../core/runFormat';

export interface StoreRun {
  id: string;
  dir: string;
  info: RunInfo;
}

export interface StoreRuns {
  runs(): readonly StoreRun[];
  get(id: string): StoreRun | undefined;
}
