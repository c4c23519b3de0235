// One step at the reasoning shape in the core RunStore (bench/extension_scale/reasoning.py writes
// the run): time and memory to open the step, then one shown sample's token details and whole
// response (the detail's heat-map), for a spread of samples, then every whole response (what the
// inspector's text filter reads the first time it searches the step).
// Run: node --expose-gc --import tsx bench/extension_scale/reasoning.ts RUNS_ROOT OUT.json

import { performance } from 'node:perf_hooks';
import { RunStore } from '../../src/runs/model/runStore';
import { memory, mib, ms, rootAndOut, writeResult } from './common';

const [root, out] = rootAndOut('reasoning.ts');
const rss = () => memory().rss_mib * 2 ** 20;

async function main(): Promise<object> {
  const store = new RunStore({ roots: [root], detectCrashes: false });
  await store.refresh();
  const [run] = store.runs();
  const before = rss();
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  const { samples } = await store.loadRollouts(run.id, 1);
  const openMs = ms(t0);
  const peak = process.resourceUsage().maxRSS * 1024;
  const after = rss();
  // the heat-map of samples spread over the step, the longest among them
  const picked = samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 24)) === 0);
  const times: number[] = [];
  let tokens = 0;
  for (const s of picked) {
    const t = performance.now();
    const whole = await store.loadSample(run.id, 1, s.group, s.index);
    times.push(ms(t));
    tokens += whole?.tokens?.length ?? 0;
  }
  const sorted = [...times].sort((a, b) => a - b);
  const step = await store.loadRollouts(run.id, 1);
  const t2 = performance.now();
  const responses = await step.responses();
  const responsesMs = ms(t2);
  const afterResponses = rss();
  // the same step opened by a second store in this process: the reader's code already compiled, as
  // in an extension host that has opened a step before
  const again = new RunStore({ roots: [root], detectCrashes: false });
  await again.refresh();
  const t1 = performance.now();
  await again.loadRollouts(run.id, 1);
  const againMs = ms(t1);
  again.dispose();
  const result = {
    samples: samples.length,
    previews: samples.filter((s) => s.response_cut).length,
    open_step_ms: openMs,
    open_step_again_ms: againMs,
    added_rss_mib: mib(after - before),
    peak_added_rss_mib: mib(Math.max(0, peak - Math.max(peakBefore, before))),
    heatmap_ms: { samples: picked.length, tokens, median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] },
    whole_responses: { ms: responsesMs, chars: responses.reduce((n, r) => n + r.length, 0), added_rss_mib: mib(afterResponses - before) },
  };
  store.dispose();
  return result;
}

writeResult(out, main);
