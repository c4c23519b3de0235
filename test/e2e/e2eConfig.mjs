// Rewrites a copy of examples/arith.pacs.yaml for the end-to-end test: small fast steps, a run long
// enough to pause, reload and stop by hand, a short evaluation. Only the copy is changed.
// `e2eConfig.mjs FILE --slurm OUT` writes OUT instead: FILE (already rewritten) as a config that
// submits to Slurm, its job held (`--hold`) until the test releases it; `e2eConfig.mjs FILE --trl OUT`
// writes FILE as a config for the TRL engine on two CPU processes (torchrun, gloo).
import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { parseDocument } from 'yaml';

const file = process.argv[2];
const doc = parseDocument(readFileSync(file, 'utf8'));
if (process.argv[3] === '--slurm') {
  doc.set('name', 'arith-slurm');
  doc.set('device', 'cpu');
  doc.setIn(['launch'], doc.createNode({ backend: 'slurm', heartbeat_s: 5, slurm: { extra_sbatch_args: ['--hold'] } }));
  writeFileSync(process.argv[4], doc.toString());
  process.exit(0);
}
if (process.argv[3] === '--trl') {
  doc.set('name', 'arith-trl');
  doc.set('engine', 'trl');
  doc.set('device', 'cpu');
  doc.setIn(['launch'], doc.createNode({ num_processes: 2 }));
  writeFileSync(process.argv[4], doc.toString());
  process.exit(0);
}
const edits = {
  total_steps: 100000,
  eval_every: 0,
  checkpoint_every: 0,
  'rollout.prompts_per_step': 4,
  'rollout.n': 4,
  'optim.mini_batch_prompts': 4,
  'optim.micro_batch_prompts': 4,
  'eval.size': 8,
  'eval.samples': 2,
  'eval.k': [1, 2],
};
for (const [path, value] of Object.entries(edits)) {
  doc.setIn(path.split('.'), value);
  doc.getIn(path.split('.'), true).comment = ' set by test/e2e/e2eConfig.mjs';
}
writeFileSync(file, doc.toString());
