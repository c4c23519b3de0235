// PACS: Re-verify Run… (python -m pacslab verify, with the config's verifier, a built-in or a Python
// file from the workspace) and Add as Verifier Case (a sample of the inspector into task.verifier_cases).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import * as vscode from 'vscode';
import { parse as parseYaml } from 'yaml';
import type { SampleRef } from '../../webview/rollouts/contract';
import { LIVE_STATUSES } from '../run/model/runFormat';
import { isCorrect } from '../run/model/runModel';
import { hasHeldoutResults, reverifyMessage, reverifyRun } from '../runs/model/reverify';
import { addVerifierCase } from '../runs/model/verifierCases';
import { pickRun } from '../runs/pickRun';
import { TrainerFeature, type TrainerServices } from '../runs/trainerFeature';
import { requireTrust } from '../trust/trust';
import type { RolloutsFeature } from './rolloutsFeature';

interface VerifierChoice extends vscode.QuickPickItem {
  spec?: string;
  config?: string;
  file?: boolean;
}

export class VerifierCommands extends TrainerFeature {
  constructor(
    services: TrainerServices,
    private readonly rollouts: RolloutsFeature,
  ) {
    super(services);
    this.track(vscode.commands.registerCommand('pacs.reverifyRun', (arg?: unknown) => this.reverify(arg)));
    this.track(vscode.commands.registerCommand('pacs.addVerifierCase', (arg?: unknown) => this.addCase(arg)));
  }

  /** The run's config in the workspace, when it is there. */
  private configOf(runId: string): string | null {
    const run = this.store.get(runId);
    const path = run ? this.roots.configPathOf(run) : null;
    return path && existsSync(path) ? path : null;
  }

  private async reverify(arg: unknown): Promise<boolean> {
    if (!(await requireTrust('re-verify runs (it runs a verifier from this workspace)'))) return false;
    const run = await pickRun(this.store, arg, { placeHolder: 'Select a run to re-verify its recorded samples' });
    if (!run) return false;
    if (LIVE_STATUSES.includes(run.status)) {
      void vscode.window.showErrorMessage(`PACS Lab: run ${run.id} is still being written (${run.status}); re-verify it once it has finished.`);
      return false;
    }
    const config = this.configOf(run.id);
    const choice = await this.pickVerifier(config);
    if (!choice) return false;
    const heldout = await pickHeldout(run.dir);
    if (heldout === undefined) return false;
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(config ?? run.root)) ?? vscode.workspace.workspaceFolders?.[0];
    const python = await this.python.require(folder?.uri);
    if (!python) return false;
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `PACS Lab: re-verifying ${run.info.name}` },
        () => reverifyRun({ runDir: run.dir, python, verifier: choice.spec, config: choice.config, eval: heldout }),
      );
      const message = reverifyMessage(run.id, result);
      this.log.info(`${message} Written to ${result.file}.`);
      this.rollouts.reloadRun(run.id);
      const show = 'Show in Rollout Inspector';
      void vscode.window.showInformationMessage(`PACS Lab: ${message}`, show).then((picked) => {
        if (picked === show) void this.rollouts.inspect({ runId: run.id });
      });
      return true;
    } catch (err) {
      this.log.error((err as Error).message);
      void vscode.window.showErrorMessage(`PACS Lab: re-verifying ${run.id} failed: ${(err as Error).message}`);
      return false;
    }
  }

  private async pickVerifier(config: string | null): Promise<VerifierChoice | undefined> {
    const items: VerifierChoice[] = [];
    if (config) {
      const spec = await configVerifier(config);
      items.push({ label: "The config's verifier", description: spec ?? 'exact', detail: relative(vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '', config) || config, config });
    }
    items.push(
      { label: 'exact', description: 'built-in: normalised string or number', spec: 'exact', config: config ?? undefined },
      { label: 'math', description: 'built-in: math-verify equivalence', spec: 'math', config: config ?? undefined },
      { label: 'Python file…', description: 'a function in a .py file of this workspace (python:, verl or TRL form)', file: true, config: config ?? undefined },
    );
    const choice = await vscode.window.showQuickPick(items, { title: 'Re-verify with', placeHolder: 'Pick the verifier to re-run over the recorded samples' });
    if (!choice?.file) return choice;
    const [file] = (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Python: ['py'] }, openLabel: 'Use as verifier' })) ?? [];
    if (!file) return undefined;
    const names = [...(await readFile(file.fsPath, 'utf8')).matchAll(/^def\s+([A-Za-z_]\w*)\s*\(/gm)].map((m) => m[1]);
    if (!names.length) {
      void vscode.window.showErrorMessage(`PACS Lab: ${file.fsPath} defines no top-level function to verify with.`);
      return undefined;
    }
    const name = names.length === 1 ? names[0] : await vscode.window.showQuickPick(names, { title: 'Verifier function' });
    return name ? { label: name, spec: `python:${file.fsPath}:${name}`, config: config ?? undefined } : undefined;
  }

  private async addCase(arg: unknown): Promise<boolean> {
    const ref = arg as Partial<SampleRef> | undefined;
    const run = typeof ref?.runId === 'string' ? this.store.get(ref.runId) : undefined;
    if (!run || typeof ref?.step !== 'number') return false;
    const config = this.configOf(run.id);
    if (!config) {
      void vscode.window.showErrorMessage(`PACS Lab: run ${run.id}'s config is not in this workspace, so there is no task.verifier_cases to add to. Open the folder holding its config.`);
      return false;
    }
    const sample = typeof ref.group === 'number' && typeof ref.index === 'number'
      ? await this.store.loadSample(run.id, ref.step, ref.group, ref.index) : null;
    if (!sample || typeof sample.answer !== 'string') {
      void vscode.window.showErrorMessage('PACS Lab: this sample has no reference answer, so it cannot be a verifier case.');
      return false;
    }
    const now = isCorrect(sample.reward) ? 1 : 0;
    const label = await vscode.window.showQuickPick(
      [
        { label: 'Correct (expected 1)', description: now === 1 ? 'as the verifier said' : 'the verifier said 0', expected: 1 as const },
        { label: 'Wrong (expected 0)', description: now === 0 ? 'as the verifier said' : 'the verifier said 1', expected: 0 as const },
      ],
      { title: 'Add as Verifier Case', placeHolder: 'Which label is right for this response?' },
    );
    if (!label) return false;
    try {
      const added = await addVerifierCase(config, {
        prompt: sample.prompt, response: sample.response, answer: sample.answer, expected: label.expected,
        extra_info: sample.extra_info, data_source: typeof sample.data_source === 'string' ? sample.data_source : undefined,
        note: `run ${run.id} step ${ref.step} sample ${sample.group}:${sample.index}`,
      });
      const named = added.keyAdded ? ` (task.verifier_cases now names it in ${config})` : '';
      this.log.info(`Added verifier case line ${added.line} to ${added.casesPath}${named}.`);
      const open = 'Open Cases File';
      void vscode.window.showInformationMessage(`PACS Lab: added verifier case line ${added.line} to ${added.casesPath}${named}.`, open).then((picked) => {
        if (picked === open) void vscode.window.showTextDocument(vscode.Uri.file(added.casesPath));
      });
      return true;
    } catch (err) {
      void vscode.window.showErrorMessage(`PACS Lab: ${(err as Error).message}`);
      return false;
    }
  }
}

/** Whether to re-verify the run's held-out results too (asked only when it recorded some: a
 * `heldout/` folder); undefined when the pick was dismissed. */
async function pickHeldout(runDir: string): Promise<boolean | undefined> {
  if (!(await hasHeldoutResults(runDir))) return false;
  const picked = await vscode.window.showQuickPick(
    [
      { label: 'Training rollouts and held-out results', description: "also each evaluation's greedy and sampled responses (heldout/): flips, accuracy and pass@k before → after", heldout: true },
      { label: 'Training rollouts', description: 'only the samples each step recorded (rollouts/)', heldout: false },
    ],
    { title: 'Re-verify which samples', placeHolder: 'Include the held-out results of every evaluation?' },
  );
  return picked?.heldout;
}

async function configVerifier(config: string): Promise<string | null> {
  try {
    const parsed = parseYaml(await readFile(config, 'utf8')) as { task?: { verifier?: unknown } } | null;
    return typeof parsed?.task?.verifier === 'string' ? parsed.task.verifier : null;
  } catch {
    return null;
  }
}
