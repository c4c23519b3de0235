// Reads the resolved config of a run for the config-diff table: config.yaml, or, for a run
// directory without one, the `config` of its `run_started` event. config.yaml is cached by
// modification time; a run_started config, once found, for good.

import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { openRunFile, readRunFile } from '../../run/model/runFiles';
import { RUN_FILES } from '../../run/model/runFormat';

/** run_started is the first event; a config is a few KB, so the head of the file holds it. */
const EVENTS_HEAD_BYTES = 256 * 1024;

export class RunConfigCache {
  private readonly cache = new Map<string, { mtimeMs: number; config: unknown | null }>();

  /** The run's config as an object; null while neither source is readable. */
  async read(runDir: string): Promise<unknown | null> {
    const yamlPath = join(runDir, RUN_FILES.config);
    const fromYaml = await this.cached(yamlPath, async () => parse(await readRunFile(yamlPath)) ?? null);
    if (fromYaml !== undefined) return fromYaml;
    const eventsPath = join(runDir, RUN_FILES.events);
    // run_started is written once, first: events appended while the run trains do not change it.
    const found = this.cache.get(eventsPath)?.config;
    if (found) return found;
    return (await this.cached(eventsPath, () => runStartedConfig(eventsPath))) ?? null;
  }

  /** undefined when the file does not exist; a link is not followed (load refuses it). */
  private async cached(path: string, load: () => Promise<unknown | null>): Promise<unknown | null | undefined> {
    const info = await lstat(path).catch(() => null);
    if (!info) return undefined;
    const hit = this.cache.get(path);
    if (hit && hit.mtimeMs === info.mtimeMs) return hit.config;
    let config: unknown | null = null;
    try {
      config = await load();
    } catch (err) {
      console.warn(`PACS Lab: cannot read the config in ${path}: ${(err as Error).message}`);
    }
    this.cache.set(path, { mtimeMs: info.mtimeMs, config });
    return config;
  }
}

async function runStartedConfig(eventsPath: string): Promise<unknown | null> {
  const handle = await openRunFile(eventsPath);
  try {
    const buffer = Buffer.alloc(EVENTS_HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, EVENTS_HEAD_BYTES, 0);
    for (const line of buffer.subarray(0, bytesRead).toString('utf8').split('\n')) {
      try {
        const event = JSON.parse(line) as { type?: unknown; config?: unknown };
        if (event.type === 'run_started' && typeof event.config === 'object') return event.config;
      } catch {
        // not a whole JSON line (or the cut-off last one): keep looking
      }
    }
    return null;
  } finally {
    await handle.close();
  }
}
