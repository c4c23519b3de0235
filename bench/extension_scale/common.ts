// What the extension_scale Node measurements share: their two arguments, and time and memory in
// the units their results use.

import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** RUNS_ROOT and OUT.json from the command line, or exit 2 with the script's usage. */
export function rootAndOut(script: string): [string, string] {
  const [root, out] = process.argv.slice(2);
  if (!root || !out) {
    console.error(`usage: node --expose-gc --import tsx bench/extension_scale/${script} RUNS_ROOT OUT.json`);
    process.exit(2);
  }
  return [root, out];
}

export const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
export const ms = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;

/** The process's memory after a GC (run under --expose-gc), in MiB. */
export function memory() {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss_mib: mib(m.rss), heap_used_mib: mib(m.heapUsed), heap_total_mib: mib(m.heapTotal), external_mib: mib(m.external) };
}

/** Runs a measurement and writes its result to `out` (and stdout); a failure sets the exit code. */
export function writeResult(out: string, measure: () => Promise<object>): void {
  measure().then(
    (result) => {
      writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
      console.log(JSON.stringify(result));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
