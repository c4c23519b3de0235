// Times RunScorer.score (src/scoring/model, onnxruntime-node) on one (prompt, response), as the
// editor's "Score a Response" does: median of N calls after W warm-up calls, the session open
// timed apart. Run: node --import tsx bench/onnx_latency/score.ts RUN_DIR PROMPT RESPONSE N W OUT.json

import { writeFileSync } from 'node:fs';
import { RunScorer } from '../../src/scoring/model/scorer';

async function main(): Promise<void> {
  const [runDir, prompt, response, n, warmup, out] = process.argv.slice(2);
  if (!out) {
    console.error('usage: node --import tsx bench/onnx_latency/score.ts RUN_DIR PROMPT RESPONSE N WARMUP OUT.json');
    process.exit(2);
  }
  let t0 = performance.now();
  const scorer = await RunScorer.open(runDir, 0);
  const openMs = performance.now() - t0;
  let last = await scorer.score(prompt, response);
  for (let i = 1; i < Number(warmup); i++) last = await scorer.score(prompt, response);
  const times: number[] = [];
  for (let i = 0; i < Number(n); i++) {
    t0 = performance.now();
    last = await scorer.score(prompt, response);
    times.push(performance.now() - t0);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const result = {
    open_ms: openMs,
    median_ms: sorted[Math.floor(sorted.length / 2)],
    min_ms: sorted[0],
    times_ms: times,
    response_tokens: last.token_ids.length,
    logratio: last.logratio,
    token_logp_head: last.token_logp.slice(0, 5),
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify({ ...result, times_ms: undefined }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
