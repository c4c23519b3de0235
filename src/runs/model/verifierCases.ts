// Verifier regression cases (task.verifier_cases, trainer/pacslab/verifier_cases.py): Add as
// Verifier Case appends one JSON line to the config's cases file, made on first use (and named in
// the config then, with its comments kept).
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { isMap, parseDocument } from 'yaml';

export class VerifierCaseError extends Error {
  override name = 'VerifierCaseError';
}

export interface VerifierCase {
  prompt: string;
  response: string;
  answer: string;
  expected: 0 | 1;
  extra_info?: unknown;
  data_source?: string;
  note?: string;
}

export interface AddedCase {
  casesPath: string;
  /** 1-based line of the new case, as verify-cases names it. */
  line: number;
  /** True when the config had no task.verifier_cases and now names the new file. */
  keyAdded: boolean;
}

/** `exp.pacs.yaml` → `exp.cases.jsonl`, beside it. */
export function defaultCasesName(configPath: string): string {
  return `${basename(configPath).replace(/(\.pacs)?\.ya?ml$/i, '')}.cases.jsonl`;
}

/** The case as one JSONL line: only the fields the trainer reads, in a stable order. */
export function caseLine(c: VerifierCase): string {
  const out: Record<string, unknown> = { prompt: c.prompt, response: c.response, answer: c.answer, expected: c.expected };
  if (c.extra_info !== undefined && c.extra_info !== null) out.extra_info = c.extra_info;
  if (c.data_source) out.data_source = c.data_source;
  if (c.note) out.note = c.note;
  return `${JSON.stringify(out)}\n`;
}

/** Appends `c` to the cases file of the config at `configPath`, naming a new one in the config when it has none. */
export async function addVerifierCase(configPath: string, c: VerifierCase): Promise<AddedCase> {
  const text = await readFile(configPath, 'utf8');
  const doc = parseDocument(text);
  if (doc.errors.length) throw new VerifierCaseError(`${configPath} is not valid YAML (${doc.errors[0].message.split('\n')[0]}); fix it first`);
  if (!isMap(doc.contents)) throw new VerifierCaseError(`${configPath} is not a mapping of config keys; fix it first`);
  const named = doc.getIn(['task', 'verifier_cases']);
  if (named !== undefined && named !== null && typeof named !== 'string') {
    throw new VerifierCaseError(`task.verifier_cases in ${configPath} is not a file name; set it to a .jsonl file beside the config`);
  }
  const name = typeof named === 'string' && named ? named : defaultCasesName(configPath);
  const casesPath = isAbsolute(name) ? name : join(dirname(configPath), name);
  let existing = '';
  try {
    existing = await readFile(casesPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const prefix = existing && !existing.endsWith('\n') ? '\n' : '';
  await appendFile(casesPath, prefix + caseLine(c), 'utf8');
  const line = (existing + prefix).split('\n').length;
  const keyAdded = typeof named !== 'string' || !named;
  if (keyAdded) {
    if (!isMap(doc.get('task'))) doc.set('task', doc.createNode({}));
    doc.setIn(['task', 'verifier_cases'], name);
    await writeFile(configPath, doc.toString(), 'utf8');
  }
  return { casesPath, line, keyAdded };
}
