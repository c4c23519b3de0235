// A run's diagnostics state as the panel shows it (webview/diagnostics/contract.ts), read from
// its ledger.jsonl and heldout/ files through runFiles (no links out of the run folder). Node
// only, no VS Code: the panel, the webview tests and the screenshot script share it.
import { readdir } from 'node:fs/promises';
import type { DiagnosticsState } from '../../../webview/diagnostics/contract';
import { RUN_LIMITS } from '../../run/model/boundedJson';
import { isRealFolder, readRunFile, runFilePath } from '../../run/model/runFiles';
import { RUN_FILES } from '../../run/model/runFormat';
import type { RunStore } from '../../runs/model/runStore';
import { parseHeldout, resultOf } from './heldout';
import { parseLedger, sharesOverSteps, summarizePrompts } from './promptLedger';

export async function diagnosticsState(store: RunStore, runId: string): Promise<{ state: DiagnosticsState; heldoutFiles: Array<{ step: number; file: string }> } | null> {
  const run = store.get(runId);
  if (!run) return null;
  const ledger = parseLedger(await readOptional(run.dir, RUN_FILES.ledger));
  const files = await heldoutFiles(run.dir);
  const evaluations = [];
  for (const { step, file } of files) {
    evaluations.push({ step, results: parseHeldout(await readOptional(run.dir, file)).examples.map(resultOf) });
  }
  const state: DiagnosticsState = {
    runId: run.id, runName: run.info.name, prompts: summarizePrompts(ledger.rows), shares: sharesOverSteps(ledger.rows),
    ledgerProblems: ledger.bad.slice(0, 5), evaluations,
  };
  return { state, heldoutFiles: files };
}

/** A run file's text, '' when absent or unreadable (a run without a ledger or held-out files). */
export async function readOptional(dir: string, rel: string): Promise<string> {
  try {
    return await readRunFile(await runFilePath(dir, rel), RUN_LIMITS.maxRolloutFileBytes);
  } catch {
    return '';
  }
}

/** The run's held-out files by step: heldout/step-NNNNNN.jsonl, a real folder of the run's. */
async function heldoutFiles(dir: string): Promise<Array<{ step: number; file: string }>> {
  try {
    const folder = await runFilePath(dir, RUN_FILES.heldoutDir);
    if (!(await isRealFolder(folder))) return [];
    return (await readdir(folder))
      .map((name) => /^step-(\d{6,})\.jsonl$/.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ step: Number(m[1]), file: `heldout/${m[0]}` }))
      .sort((a, b) => a.step - b.step);
  } catch {
    return [];
  }
}
