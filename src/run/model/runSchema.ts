// The documented types of run.json and launcher.json fields (docs/run-format.md) as JSON Schemas,
// checked with ajv before any reader trusts a field: a wrong-typed field makes that one run
// unreadable with a message naming the file and the field, never a crash of the whole list.
// Every field may be missing (readers fill defaults); fields nobody documents are kept as they are.
import Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';

const str = { type: 'string' };
const strOrNull = { type: ['string', 'null'] };
const count = { type: 'number', minimum: 0 };
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', properties, required });
/** Null, or an object whose fields have their types (properties and required apply to objects only). */
const objOrNull = (properties: Record<string, unknown>, required: string[] = []) => ({ type: ['object', 'null'], properties, required });

const runInfoSchema = obj({
  format: { type: 'number' },
  id: str,
  name: str,
  algorithm: str,
  loss_metric: strOrNull,
  status: str,
  pid: { type: ['integer', 'null'], minimum: 0 },
  pid_start_time: { type: ['string', 'number', 'null'] },
  host: strOrNull,
  created_at: str,
  updated_at: str,
  step: count,
  total_steps: count,
  config_path: strOrNull,
  config_dir: strOrNull,
  seed: { type: ['number', 'null'] },
  heartbeat_s: { type: ['number', 'null'] },
  git: objOrNull({ commit: strOrNull, branch: strOrNull, remote: strOrNull, dirty: { type: 'boolean' }, snapshot: strOrNull, ref: strOrNull }),
  versions: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
  error: objOrNull({ message: str, traceback: strOrNull }, ['message']),
  source: obj({ path: str, trainer: str, imported_at: str, checkpoints: { type: 'array', items: obj({ step: count, path: str }) } }),
});

const launcherSchema = obj({
  pid: { type: ['integer', 'null'], minimum: 0 },
  pid_start_time: { type: ['string', 'number', 'null'] },
  host: str,
  python: str,
  args: { type: 'array', items: str },
  cwd: str,
  config_abs_path: str,
  config_repo_path: strOrNull,
  sets: { type: 'array', items: str },
  device: strOrNull,
  launched_at: str,
  resume: { type: 'boolean' },
  backend: { enum: ['local', 'slurm'] },
  job_id: str,
  script: str,
});

const ajv = new Ajv({ allErrors: false, strict: false });
const validateRunInfo = ajv.compile(runInfoSchema);
const validateLauncher = ajv.compile(launcherSchema);

/** `/git/commit` → `git.commit`. */
function fieldOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').filter(Boolean).join('.');
  const missing = error.keyword === 'required' ? String((error.params as { missingProperty?: string }).missingProperty) : '';
  return [path, missing].filter(Boolean).join('.') || '(the whole file)';
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

function expected(error: ErrorObject): string {
  const params = error.params as { type?: string | string[]; allowedValues?: unknown[]; limit?: number };
  switch (error.keyword) {
    case 'type':
      return [params.type ?? []].flat().join(' or ');
    case 'enum':
      return `one of ${(params.allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'minimum':
      return `a number from ${params.limit}`;
    default:
      return error.message ?? 'another value';
  }
}

function valueAt(root: unknown, instancePath: string): unknown {
  let value = root;
  for (const key of instancePath.split('/').filter(Boolean)) {
    value = (value as Record<string, unknown> | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return value;
}

function problem(validate: ValidateFunction, value: unknown): string | null {
  if (validate(value)) return null;
  const error = validate.errors?.[0];
  if (!error) return 'does not match its documented schema';
  const field = fieldOf(error);
  if (error.keyword === 'required') return `lacks "${field}"`;
  return `has "${field}" = ${typeOf(valueAt(value, error.instancePath))}, where docs/run-format.md says ${expected(error)}`;
}

/** Why run.json's fields do not have their documented types, or null when they do. */
export function runInfoProblem(raw: unknown): string | null {
  return problem(validateRunInfo, raw);
}

/** Why launcher.json's fields do not have their documented types, or null when they do. */
export function launcherProblem(raw: unknown): string | null {
  return problem(validateLauncher, raw);
}
