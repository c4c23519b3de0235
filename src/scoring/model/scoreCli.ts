// `pacs-lab score --run RUN_DIR [--step N] --prompt TEXT --response TEXT [--sample STEP:GROUP:INDEX] [--no-eos]`:
// prints the same JSON as `python -m pacslab score` (docs/scoring.md).
import { parseArgs } from 'node:util';
import { ScoreError } from './implicitReward';
import { parseSampleRef } from './group';
import { RunScorer } from './scorer';

const USAGE = `usage: pacs-lab score --run RUN_DIR [--step N] --prompt TEXT --response TEXT [--no-eos]
       pacs-lab score --run RUN_DIR [--step N] --sample STEP:GROUP:INDEX [--prompt TEXT] [--response TEXT] [--no-eos]

Scores a response with the implicit critic of a run's ONNX export (python -m pacslab export-onnx):
r̂ = β·Σ_t (log π_step − log π_ref) over the response tokens, EOS included unless --no-eos.
With --sample, also ψ and σ(ψ) against the sample's group, every member re-scored.`;

export async function runScoreCli(args: string[], out: (text: string) => void = (t) => process.stdout.write(t), err: (text: string) => void = (t) => process.stderr.write(t)): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(args).values;
  } catch (e) {
    err(`score: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out(`${USAGE}\n`);
    return 0;
  }
  let scorer: RunScorer | undefined;
  try {
    if (!values.run) throw new ScoreError('--run RUN_DIR is required');
    const step = values.step === undefined ? undefined : parseStep(values.step);
    if (values.sample === undefined && (values.prompt === undefined || values.response === undefined)) {
      throw new ScoreError('give --prompt and --response (or --sample STEP:GROUP:INDEX to score a logged sample)');
    }
    scorer = await RunScorer.open(values.run, step);
    const result =
      values.sample !== undefined
        ? await scorer.scoreInGroup(parseSampleRef(values.sample), {
            prompt: values.prompt,
            response: values.response,
            eos: values['no-eos'] ? false : undefined,
          })
        : await scorer.score(values.prompt!, values.response!, !values['no-eos']);
    out(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof ScoreError)) throw e;
    err(`score: ${e.message}\n`);
    return 2;
  } finally {
    await scorer?.release();
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    options: {
      run: { type: 'string' },
      step: { type: 'string' },
      prompt: { type: 'string' },
      response: { type: 'string' },
      sample: { type: 'string' },
      'no-eos': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
}

function parseStep(text: string): number {
  if (!/^\d+$/.test(text)) throw new ScoreError(`--step is ${JSON.stringify(text)}: use a checkpoint step number`);
  return Number(text);
}
