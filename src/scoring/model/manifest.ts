// RUN_DIR/onnx/manifest.json, written by `python -m pacslab export-onnx` (docs/scoring.md).
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isRecord } from '../../run/model/events';
import { isRealFolder, pathInside, readRunFile, RunFileError, runFilePath, statRunFile } from '../../run/model/runFiles';
import { RUN_FILES } from '../../run/model/runFormat';

export const MANIFEST_FORMAT = 1;
export const MANIFEST_FILE = 'manifest.json';

export interface TokenizerInfo {
  file: string;
  config_file: string;
  vocab_size: number;
  eos_token: string;
  eos_token_id: number;
  pad_token_id: number | null;
  bos_token_id: number | null;
  unk_token: string | null;
  unk_token_id: number | null;
  /** Whether prompts get the tokenizer's special tokens, as `tokenizer(prompt)` in the trainer. */
  prompt_add_special_tokens: boolean;
}

export interface ReferenceEntry {
  kind: 'base' | 'step';
  step: number | null;
  /** model.path of the run's config, or `checkpoints/step-NNNNNN`. */
  source: string;
  file: string;
  max_abs_diff?: number;
}

export interface PolicyEntry {
  file: string;
  /** Relative to the run directory. */
  checkpoint: string;
  max_abs_diff?: number;
  created_at?: string;
}

export interface OnnxManifest {
  format: number;
  created_at: string;
  /** The step exported last. */
  step: number;
  beta: number;
  reward_method: 'logratio' | 'mean_logp' | string;
  adv_estimator: string;
  norm_by_std: boolean;
  reference: ReferenceEntry;
  /** By step, as a decimal string. */
  policies: Record<string, PolicyEntry>;
  files: string[];
  opset: number;
  tokenizer: TokenizerInfo;
  [key: string]: unknown;
}

export function onnxDir(runDir: string): string {
  return join(runDir, RUN_FILES.onnxDir);
}

/** The manifest, or null when there is none or it is of another format. */
export async function readManifest(runDir: string): Promise<OnnxManifest | null> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readRunFile(await runFilePath(runDir, join(RUN_FILES.onnxDir, MANIFEST_FILE))));
  } catch {
    return null;
  }
  if (!isRecord(parsed) || parsed.format !== MANIFEST_FORMAT || !isRecord(parsed.policies) || !isRecord(parsed.tokenizer) || !isRecord(parsed.reference)) {
    return null;
  }
  return parsed as OnnxManifest;
}

export function referenceSpec(reference: ReferenceEntry): string {
  return reference.kind === 'base' ? 'base' : `step:${reference.step}`;
}

/** Steps with a checkpoint folder (checkpoints/step-NNNNNN holding config.json), ascending. */
export async function checkpointSteps(runDir: string): Promise<number[]> {
  const root = join(runDir, RUN_FILES.checkpointsDir);
  let names: string[];
  try {
    if (!(await isRealFolder(root))) return [];
    names = await readdir(root);
  } catch {
    return [];
  }
  const steps = await Promise.all(
    names.map(async (name) => {
      const match = /^step-(\d+)$/.exec(name);
      if (!match) return null;
      const ok = await runFilePath(runDir, join(RUN_FILES.checkpointsDir, name, 'config.json')).then(statRunFile).then((s) => s !== null, () => false);
      return ok ? Number(match[1]) : null;
    }),
  );
  return steps.filter((s): s is number => s !== null).sort((a, b) => a - b);
}

export type ExportState = { ready: true; manifest: OnnxManifest } | { ready: false; reason: string };

/**
 * The path of a file the manifest names (`key` says where), refusing one that leaves the export
 * folder, by `..`, an absolute path or a link on the way (RunFileError).
 */
export async function exportFilePath(runDir: string, file: unknown, key: string): Promise<string> {
  const label = `${join(onnxDir(runDir), MANIFEST_FILE)}: ${key}`;
  pathInside(onnxDir(runDir), file, label);
  return runFilePath(runDir, join(RUN_FILES.onnxDir, file as string), label);
}

/**
 * Whether RUN_DIR/onnx can score `step`: the manifest lists it, every file it names is a regular
 * file inside the export folder, and the checkpoint was not rewritten after the export.
 */
export async function exportState(runDir: string, step: number): Promise<ExportState> {
  const manifest = await readManifest(runDir);
  if (!manifest) return { ready: false, reason: `${join(onnxDir(runDir), MANIFEST_FILE)} is missing or of another format` };
  const policy = manifest.policies[String(step)];
  if (!isRecord(policy)) return { ready: false, reason: `step ${step} is not exported (exported: ${Object.keys(manifest.policies).join(', ') || 'none'})` };
  let checkpointTime: number | null;
  try {
    for (const [key, file] of exportFiles(manifest, step)) {
      const path = await exportFilePath(runDir, file, key);
      if (!(await statRunFile(path))) return { ready: false, reason: `${path} is missing` };
    }
    const label = `${join(onnxDir(runDir), MANIFEST_FILE)}: policies.${step}.checkpoint`;
    pathInside(runDir, policy.checkpoint, label);
    checkpointTime = (await statRunFile(await runFilePath(runDir, join(policy.checkpoint, 'config.json'), label)))?.mtimeMs ?? null;
  } catch (err) {
    if (err instanceof RunFileError) return { ready: false, reason: err.message };
    throw err;
  }
  const exportedAt = Date.parse(policy.created_at ?? manifest.created_at);
  if (checkpointTime !== null && Number.isFinite(exportedAt) && checkpointTime > exportedAt + 1000) {
    return { ready: false, reason: `the checkpoint of step ${step} was rewritten after it was exported` };
  }
  return { ready: true, manifest };
}

/** The files scoring `step` reads, each with the manifest key that names it. */
export function exportFiles(manifest: OnnxManifest, step: number): Array<[key: string, file: unknown]> {
  return [
    [`policies.${step}.file`, manifest.policies[String(step)]?.file],
    ['reference.file', manifest.reference.file],
    ['tokenizer.file', manifest.tokenizer.file],
    ['tokenizer.config_file', manifest.tokenizer.config_file],
  ];
}

/** Arguments after the Python interpreter that export `step` (the newest checkpoint when undefined). */
export function exportOnnxArgs(runDir: string, step?: number, reference?: string): string[] {
  return [
    '-m',
    'pacslab',
    'export-onnx',
    '--run',
    runDir,
    ...(step === undefined ? [] : ['--step', String(step)]),
    ...(reference === undefined ? [] : ['--reference', reference]),
  ];
}
