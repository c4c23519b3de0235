// Reads the resolved config.yaml of a run for the config-diff table, cached by modification time.

import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { RUN_FILES } from '../core/runFormat';

export class RunConfigCache {
  private readonly cache = new Map<string, { mtimeMs: number; config: unknown | null }>();

  /** The run's config.yaml as an object; null while it is missing or unreadable. */
  async read(runDir: string): Promise<unknown | null> {
    const path = join(runDir, RUN_FILES.config);
    const info = await stat(path).catch(() => null);
    if (!info) return null;
    const cached = this.cache.get(path);
    if (cached && cached.mtimeMs === info.mtimeMs) return cached.config;
    let config: unknown | null = null;
    try {
      config = parse(await readFile(path, 'utf8')) ?? null;
    } catch (err) {
      console.warn(`PACS Lab: cannot read ${path}: ${(err as Error).message}`);
    }
    this.cache.set(path, { mtimeMs: info.mtimeMs, config });
    return config;
  }
}
