// The metric charts' x axis: training step, time since the run's first point, or the clock, from
// the event time `t` kept with every point. No DOM here (unit-tested in Node).

import type { ChartFamily, SeriesData, XAxis } from './contract';
import { X_AXES } from './contract';

export function isXAxis(value: unknown): value is XAxis {
  return typeof value === 'string' && (X_AXES as readonly string[]).includes(value);
}

/** Each run's first event time over all its series (Unix seconds): where its relative time is 0. */
export function runStartTimes(families: readonly ChartFamily[]): Map<string, number> {
  const starts = new Map<string, number>();
  for (const family of families) {
    for (const series of family.series) {
      for (const t of series.ts ?? []) {
        if (t === null || !Number.isFinite(t)) continue;
        const start = starts.get(series.runId);
        if (start === undefined || t < start) starts.set(series.runId, t);
      }
    }
  }
  return starts;
}

/**
 * The x of each point on `axis`: the step; seconds since the run's start; or milliseconds since
 * the epoch (a wall clock). Null where a time axis has no time for the point (it is not drawn).
 */
export function xValues(series: SeriesData, axis: XAxis, start: number | undefined): (number | null)[] {
  if (axis === 'step') return series.xs.slice();
  return series.xs.map((_, i) => {
    const t = series.ts?.[i];
    if (t === null || t === undefined || !Number.isFinite(t)) return null;
    if (axis === 'wall') return t * 1000;
    return start === undefined ? null : t - start;
  });
}

export const X_TITLES: Record<XAxis, string> = {
  step: 'step',
  relative: 'time since the run started',
  wall: 'local time',
};

/** A tick label: the step; a duration such as `1h 05m` or `42s`; or the local clock time. */
export function formatX(value: number, axis: XAxis): string {
  if (axis === 'step') return String(Math.round(value * 1000) / 1000);
  if (axis === 'wall') {
    const when = new Date(value);
    const pad = (n: number) => String(n).padStart(2, '0');
    return `${pad(when.getMonth() + 1)}-${pad(when.getDate())} ${pad(when.getHours())}:${pad(when.getMinutes())}`;
  }
  const sign = value < 0 ? '-' : '';
  const s = Math.abs(value);
  if (s < 60) return `${sign}${Math.round(s * 10) / 10}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h === 0) return `${sign}${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${sign}${h}h ${String(m).padStart(2, '0')}m`;
}
