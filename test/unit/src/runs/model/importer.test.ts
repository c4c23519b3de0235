// `pacs-lab import` and importRuns against the real trainer's importer, on a verl rollout dump in
// the format of verl's RayPPOTrainer._dump_generations. Needs a Python with pacslab: $PACS_PYTHON,
// else .venv/bin/python.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { ImportRunsError, importRuns } from '../../../../../src/runs/model/importer';
import { RunStore } from '../../../../../src/runs/model/runStore';
import { REPO } from '../../../helpers/repo';

const PYTHON = process.env.PACS_PYTHON || join(REPO, '.venv', 'bin', 'python');
const CLI = [process.execPath, '--import', pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, join(REPO, 'src', 'cli.ts')];

function importerMissing(): string | false {
  const probe = spawnSync(PYTHON, ['-c', 'import importlib.util as u, sys; sys.exit(u.find_spec("pacslab.importers") is None)'], { encoding: 'utf8' });
  if (probe.error) return `no Python at ${PYTHON} (set PACS_PYTHON)`;
  return probe.status === 0 ? false : `pacslab with pacslab.importers is not installed for ${PYTHON}`;
}

/** Two steps of two prompts × two samples, one JSON object a line, as verl writes them. */
function verlDump(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const step of [1, 2]) {
    const rows = [['2+2?', '4', '4', 1], ['2+2?', '5', '4', 0], ['3+4?', '7', '7', 1], ['3+4?', '7', '7', 1]].map(([input, output, gts, score]) =>
      JSON.stringify({ input, output, gts, score, step }));
    writeFileSync(join(dir, `${step}.jsonl`), `${rows.join('\n')}\n`);
  }
}

const skip = importerMissing();

describe('importing runs', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'pacs-import-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  test('pacs-lab import makes a run the run store reads, and refuses the same source twice', async () => {
    verlDump(join(work, 'rollout_data'));
    const runs = join(work, 'runs');
    const cli = (...args: string[]) => spawnSync(CLI[0], [...CLI.slice(1), 'import', join(work, 'rollout_data'), '--runs-dir', runs, ...args], {
      encoding: 'utf8', env: { ...process.env, PACS_PYTHON: PYTHON },
    });
    const first = cli('--name', 'verl-gsm8k');
    assert.equal(first.status, 0, first.stderr);
    const [id] = readdirSync(runs);
    assert.match(id, /^\d{8}-\d{6}-verl-gsm8k-[0-9a-f]{4}$/);
    assert.match(first.stdout, new RegExp(`imported .*${id}`));

    const store = new RunStore({ roots: [runs], pollIntervalMs: 60000 });
    try {
      await store.start();
      const run = store.get(id);
      assert.ok(run, 'the imported run is listed');
      assert.equal(run.info.status, 'finished');
      assert.deepEqual(run.info.source, { ...(run.info.source as object), trainer: 'verl', path: join(work, 'rollout_data') });
      const reward = store.metricSeries(id).get('reward/mean');
      assert.deepEqual({ steps: reward?.steps, values: reward?.values }, { steps: [1, 2], values: [0.75, 0.75] });
      assert.deepEqual(store.rolloutSteps(id), [1, 2]);
      const { samples, badLines } = await store.loadRollouts(id, 2);
      assert.equal(badLines, 0);
      assert.deepEqual(samples.map((s) => [s.group, s.index, s.response, s.reward, s.answer]), [[0, 0, '4', 1, '4'], [0, 1, '5', 0, '4'], [1, 0, '7', 1, '7'], [1, 1, '7', 1, '7']]);
      assert.equal('psi' in samples[0], false);
    } finally {
      store.dispose();
    }

    const again = cli();
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already imported as/);
    assert.equal(readdirSync(runs).length, 1);
  });

  test('a folder with nothing to import is an ImportRunsError that says what it needs', async () => {
    mkdirSync(join(work, 'empty'));
    await assert.rejects(importRuns({ source: join(work, 'empty'), runsRoot: join(work, 'runs2'), python: PYTHON }),
      (err: unknown) => err instanceof ImportRunsError && /no TensorBoard event files/.test(err.message) && /trainer_state\.json/.test(err.message));
  });
});
