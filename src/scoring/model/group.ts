// The logged members of one group of a step (rollouts/step-NNNNNN.parquet or .jsonl), for ψ against the group.
import { readStepRecords, stepRecordsFile, type StepRecords } from '../../run/model/rolloutRecords';
import { RunFileError } from '../../run/model/runFiles';
import type { RolloutSample } from '../../run/model/runFormat';
import { ScoreError } from './implicitReward';

export interface SampleRef {
  step: number;
  group: number;
  index: number;
}

export function parseSampleRef(text: string): SampleRef {
  const parts = text.split(':');
  if (parts.length !== 3 || !parts.every((p) => /^\d+$/.test(p))) {
    throw new ScoreError(`--sample is ${JSON.stringify(text)}: use STEP:GROUP:INDEX, e.g. 12:3:5`);
  }
  const [step, group, index] = parts.map(Number);
  return { step, group, index };
}

/** The samples of (step, group), by index; the sample `index` must be among them. */
export async function readGroup(runDir: string, ref: SampleRef): Promise<RolloutSample[]> {
  const path = await stepRecordsFile(runDir, ref.step).catch(rethrowAsScoreError);
  const step = await readStepRecords(path).catch((err: unknown) =>
    err instanceof RunFileError || (err as NodeJS.ErrnoException).code !== 'ENOENT' ? rethrowAsScoreError(err) : null);
  const records = step?.samples ?? [];
  if (records.length === 0) {
    throw new ScoreError(`${path}: no rollout records; pick a step whose rollouts were logged (logging.rollouts_every)`);
  }
  const members = records.filter((r) => r.group === ref.group).sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  if (!members.some((m) => m.index === ref.index)) {
    const groups = [...new Set(records.map((r) => r.group))].sort((a, b) => a - b);
    throw new ScoreError(`${path}: no sample with group ${ref.group} and index ${ref.index}; groups in the file: [${groups.join(', ')}]`);
  }
  for (const m of members) {
    if (typeof m.prompt !== 'string' || typeof m.response !== 'string') {
      throw new ScoreError(`${path}: sample group ${ref.group} index ${m.index} has no prompt or response text`);
    }
  }
  return step ? withTokens(step, members) : members;
}

/** The members whole: their token details and whole responses (a Parquet step keeps them out of the light samples). */
async function withTokens(step: StepRecords, members: RolloutSample[]): Promise<RolloutSample[]> {
  return Promise.all(members.map(async (m) => (await step.sample(m.group, m.index)) ?? m));
}

/** A link or escape in the run folder, reported as the scorer reports its errors. */
function rethrowAsScoreError(err: unknown): never {
  throw err instanceof Error && !(err instanceof ScoreError) ? new ScoreError(err.message) : err;
}
