// The extension host side at scale: opens the synthetic run (bench/extension_scale/generate.py)
// with the core RunStore, loads one step's rollouts, shapes the dashboard's host message, and
// reports time and memory. Run: node --expose-gc --import tsx bench/extension_scale/measure.ts RUNS_ROOT OUT.json

import { performance } from 'node:perf_hooks';
import { dashboardState, loadCritic } from '../../src/dashboard/model/dashboardState';
import { RunStore } from '../../src/runs/model/runStore';
import { memory, ms, rootAndOut, writeResult } from './common';

const [root, out] = rootAndOut('measure.ts');

async function main(): Promise<object> {
  const baseline = memory();
  let t0 = performance.now();
  const store = new RunStore({ roots: [root], detectCrashes: false });
  await store.refresh();
  const openMs = ms(t0);
  const runs = store.runs();
  if (runs.length !== 1) throw new Error(`expected one run under ${root}, found ${runs.length}`);
  const id = runs[0].id;
  const series = store.metricSeries(id);
  const steps = store.rolloutSteps(id);
  const afterOpen = memory();

  const middle = steps[Math.floor(steps.length / 2)];
  t0 = performance.now();
  const { samples } = await store.loadRollouts(id, middle);
  const stepMs = ms(t0);
  t0 = performance.now();
  const other = await store.loadRollouts(id, steps[steps.length - 1]);
  const step2Ms = ms(t0);

  t0 = performance.now();
  const critic = await loadCritic(store, id, middle);
  const state = dashboardState(store, [id], id, new Map([[id, null]]), critic);
  const message = JSON.stringify({ type: 'state', state });
  const dashboardStateMs = ms(t0);
  const afterStep = memory();

  const result = {
    run: { id, steps: steps.length, metrics: series.size, samples_per_step: samples.length, rollouts: steps.length * samples.length },
    open_run_ms: openMs,
    load_step_ms: stepMs,
    load_step_again_other_step_ms: step2Ms,
    other_step_samples: other.samples.length,
    dashboard_state_ms: dashboardStateMs,
    dashboard_message_kib: Math.round(message.length / 1024),
    memory_baseline: baseline,
    memory_after_open: afterOpen,
    memory_after_step: afterStep,
  };
  store.dispose();
  return result;
}

writeResult(out, main);
