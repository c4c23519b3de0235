// Diagnostics, hovers and completions for *.pacs.yaml from the trainer's JSON Schema
// (schemas/pacs-config.schema.json, generated from the pydantic config). Positions are 0-based
// lines and UTF-16 columns, as VS Code counts them.
import { readFile } from 'node:fs/promises';
import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node as YamlNode, Pair, ScalarTag } from 'yaml';
import { branches, deref, enumValues, objectForm, propertiesAt, schemaAt, typeSummary, type JsonSchema, type Segment } from './configSchema';

export type { JsonSchema };

export interface ConfigDiagnostic {
  message: string;
  severity: 'error' | 'warning';
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** Dotted path of the key concerned (`optim.lr`, `eval.k[1]`); '' for the whole file. */
  key: string;
}

export interface ConfigHover {
  key: string;
  markdown: string;
}

export interface ConfigCompletion {
  label: string;
  /** `key` for a mapping key, `value` for an enum or boolean value. */
  kind: 'key' | 'value';
  detail: string;
  documentation: string;
  insertText: string;
}

/** Loads a JSON Schema file (e.g. schemas/pacs-config.schema.json). */
export async function loadSchema(path: string): Promise<JsonSchema> {
  return JSON.parse(await readFile(path, 'utf8')) as JsonSchema;
}

const validators = new WeakMap<JsonSchema, ValidateFunction>();

function validatorFor(schema: JsonSchema): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
    validate = ajv.compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}


// ------------------------------------------------------------------ positions

/** 0-based lines and UTF-16 columns, from the line starts yaml records while it parses (its LineCounter counts from 1). */
class Lines extends LineCounter {
  pos(offset: number): { line: number; column: number } {
    const { line, col } = this.linePos(offset);
    return { line: line - 1, column: col - 1 };
  }
  offset(line: number, column: number): number {
    return this.lineStarts[Math.min(Math.max(line, 0), this.lineStarts.length - 1)] + column;
  }
  range(start: number, end: number): Pick<ConfigDiagnostic, 'line' | 'column' | 'endLine' | 'endColumn'> {
    const a = this.pos(start);
    const b = this.pos(Math.max(start, end));
    return { line: a.line, column: a.column, endLine: b.line, endColumn: b.column };
  }
}

function nodeRange(node: YamlNode | null | undefined): [number, number] | null {
  const r = node?.range;
  return r ? [r[0], r[1]] : null;
}

function keyText(pair: Pair): string | null {
  return isScalar(pair.key) ? String(pair.key.value) : null;
}

/** The pair holding `segments` (for a key) and the node at the path. */
function locate(doc: Document, segments: Segment[]): { pair: Pair | null; node: YamlNode | null } {
  let node = doc.contents as YamlNode | null;
  let pair: Pair | null = null;
  for (const seg of segments) {
    if (isMap(node)) {
      const found = node.items.find((p) => keyText(p) === String(seg));
      if (!found) return { pair, node };
      pair = found;
      node = (found.value as YamlNode | null) ?? null;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = (node.items[seg] as YamlNode | undefined) ?? null;
      pair = null;
    } else {
      return { pair, node };
    }
  }
  return { pair, node };
}

function pathKey(segments: Segment[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

function parsePointer(pointer: string): Segment[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

// ------------------------------------------------------------------ diagnostics

/**
 * PyYAML's booleans beyond YAML 1.2's true/false. Not the yaml package's whole 1.1 schema: that
 * also reads `y` and `n` as booleans, and `n` is a config key (rollout.n) PyYAML keeps a string.
 */
const PYYAML_BOOL: ScalarTag = {
  tag: 'tag:yaml.org,2002:bool',
  default: true,
  test: /^(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$/,
  resolve: (text: string) => /^(?:yes|Yes|YES|on|On|ON)$/.test(text),
  identify: () => false,
};

/** Parses scalars as the trainer's PyYAML safe_load does, so the diagnostics agree with the trainer. */
function parseConfig(text: string, lines: Lines): Document {
  return parseDocument(text, { prettyErrors: false, uniqueKeys: true, customTags: [PYYAML_BOOL], lineCounter: lines });
}

/**
 * YAML syntax errors, unknown keys (with a "did you mean"), wrong types, values out of range or
 * not among the allowed ones, each positioned on the offending key or value.
 */
export function diagnoseConfig(text: string, schema: JsonSchema): ConfigDiagnostic[] {
  const lines = new Lines();
  const doc = parseConfig(text, lines);
  const out: ConfigDiagnostic[] = [];
  for (const e of doc.errors) {
    out.push({ message: `YAML: ${e.message.split('\n')[0]}`, severity: 'error', key: '', ...lines.range(e.pos[0], e.pos[1]) });
  }
  for (const w of doc.warnings) {
    out.push({ message: `YAML: ${w.message.split('\n')[0]}`, severity: 'warning', key: '', ...lines.range(w.pos[0], w.pos[1]) });
  }
  if (doc.errors.length) return out;

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    out.push({ message: `YAML: ${(err as Error).message}`, severity: 'error', key: '', ...lines.range(0, 0) });
    return out;
  }
  // An empty file means "all defaults".
  if (data === null || data === undefined) data = {};
  const validate = validatorFor(schema);
  if (validate(data)) return out;
  const seen = new Set<string>();
  for (const d of explainErrors(validate.errors ?? [], schema, doc, lines, data)) {
    const id = `${d.key}\u0000${d.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(d);
    }
  }
  return out;
}

function explainErrors(errors: ErrorObject[], root: JsonSchema, doc: Document, lines: Lines, data: unknown): ConfigDiagnostic[] {
  // Errors inside an anyOf (Optional[int], ...) are merged into one message per path.
  const anyOfPaths = new Map<string, string>();
  for (const e of errors) if (e.keyword === 'anyOf' || e.keyword === 'oneOf') anyOfPaths.set(`${e.instancePath}|${e.schemaPath}`, e.schemaPath);
  const merged = new Map<string, { segments: Segment[]; parts: Map<string, string[]> }>();
  const out: ConfigDiagnostic[] = [];

  for (const e of errors) {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    const segments = parsePointer(e.instancePath);
    const owner = [...anyOfPaths.keys()].find((k) => {
      const [path, schemaPath] = k.split('|');
      return path === e.instancePath && e.schemaPath.startsWith(`${schemaPath}/`);
    });
    if (owner) {
      const branch = e.schemaPath.slice(owner.split('|')[1].length + 1).split('/')[0];
      const m = merged.get(owner) ?? { segments, parts: new Map<string, string[]>() };
      m.parts.set(branch, [...(m.parts.get(branch) ?? []), requirement(e)]);
      merged.set(owner, m);
      continue;
    }
    out.push(single(e, segments, root, doc, lines, data));
  }
  for (const { segments, parts } of merged.values()) {
    const text = [...parts.values()].map((p) => p.join(' and ')).join(', or ');
    out.push(atValue(`${label(segments)} ${text} (got ${shown(valueAt(data, segments))})`, segments, doc, lines));
  }
  return out;
}

function single(e: ErrorObject, segments: Segment[], root: JsonSchema, doc: Document, lines: Lines, data: unknown): ConfigDiagnostic {
  if (e.keyword === 'additionalProperties') {
    const extra = String((e.params as { additionalProperty: string }).additionalProperty);
    const allowed = Object.keys(propertiesAt(root, segments));
    const guess = closest(extra, allowed);
    const where = segments.length ? ` in ${pathKey(segments)}` : '';
    const hint = guess ? ` Did you mean "${guess}"?` : allowed.length ? ` Valid keys: ${allowed.join(', ')}.` : '';
    const full = [...segments, extra];
    const { pair } = locate(doc, full);
    const range = nodeRange(pair?.key as YamlNode | undefined) ?? nodeRange(locate(doc, segments).node) ?? [0, 0];
    return { message: `Unknown key "${extra}"${where}.${hint}`, severity: 'error', key: pathKey(full), ...lines.range(range[0], range[1]) };
  }
  if (e.keyword === 'required') {
    const missing = String((e.params as { missingProperty: string }).missingProperty);
    return atValue(`${label(segments)} needs the key "${missing}"`, segments, doc, lines);
  }
  return atValue(`${label(segments)} ${requirement(e)} (got ${shown(valueAt(data, segments))})`, segments, doc, lines);
}

/** What the failed keyword asks for, in words: "must be an integer", "must be ≥ 1", ... */
function requirement(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type': {
      const names: Record<string, string> = { integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false', object: 'a mapping', array: 'a list', null: 'null' };
      const types = String(p.type).split(',');
      return `must be ${types.map((t) => names[t] ?? t).join(' or ')}`;
    }
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(p.comparison).replace('>=', '≥').replace('<=', '≤')} ${String(p.limit)}`;
    case 'pattern':
      return `must match ${String(p.pattern)}`;
    case 'minItems':
      return `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}`;
    case 'maxItems':
      return `must have at most ${String(p.limit)} items`;
    default:
      return e.message ?? `fails ${e.keyword}`;
  }
}

function label(segments: Segment[]): string {
  return segments.length ? pathKey(segments) : 'The config';
}

function valueAt(data: unknown, segments: Segment[]): unknown {
  return segments.reduce<unknown>((acc, s) => (acc as Record<string | number, unknown> | null | undefined)?.[s], data);
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function atValue(message: string, segments: Segment[], doc: Document, lines: Lines): ConfigDiagnostic {
  const { pair, node } = locate(doc, segments);
  const range = nodeRange(node) ?? nodeRange(pair?.key as YamlNode | undefined) ?? [0, 0];
  return { message, severity: 'error', key: pathKey(segments), ...lines.range(range[0], range[1]) };
}

/** The allowed name nearest to `word` when close enough to be a likely typo. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(2, Math.floor(word.length / 3));
  return best !== undefined && bestDistance <= limit ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

// ------------------------------------------------------------------ hover

/** The path of the key or value under the offset, or undefined. */
function pathAtOffset(node: unknown, offset: number, prefix: Segment[]): Segment[] | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const k = keyText(pair);
      if (k === null) continue;
      const keyRange = nodeRange(pair.key as YamlNode);
      const path = [...prefix, k];
      if (keyRange && offset >= keyRange[0] && offset <= keyRange[1]) return path;
      const value = pair.value as YamlNode | null;
      if (isMap(value) || isSeq(value)) {
        const inner = pathAtOffset(value, offset, path);
        if (inner) return inner;
      } else {
        const r = nodeRange(value);
        if (r && offset >= r[0] && offset <= r[1]) return path;
      }
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      const item = node.items[i] as YamlNode;
      const r = nodeRange(item);
      if (!r || offset < r[0] || offset > r[1]) continue;
      return isMap(item) || isSeq(item) ? (pathAtOffset(item, offset, [...prefix, i]) ?? [...prefix, i]) : [...prefix, i];
    }
  } else if (isPair(node)) {
    return undefined;
  }
  return undefined;
}

/** Documentation of the key (or value's key) at a 0-based position. */
export function hoverAt(text: string, schema: JsonSchema, line: number, column: number): ConfigHover | undefined {
  const lines = new Lines();
  const doc = parseConfig(text, lines);
  const path = pathAtOffset(doc.contents, lines.offset(line, column), []);
  if (!path?.length) return undefined;
  // Hover a list item as its list.
  while (typeof path[path.length - 1] === 'number') path.pop();
  const field = schemaAt(schema, path);
  if (!field) return undefined;
  const key = pathKey(path);
  return { key, markdown: fieldMarkdown(schema, key, field) };
}

function fieldMarkdown(root: JsonSchema, key: string, field: JsonSchema): string {
  const parts = [`**${key}**: \`${typeSummary(root, field)}\``];
  if (typeof field.description === 'string') parts.push(field.description);
  const values = enumValues(root, field);
  if (values.length) parts.push(`Allowed: ${values.map((v) => `\`${String(v)}\``).join(', ')}`);
  if ('default' in field && !(typeof field.default === 'object' && field.default !== null && !Array.isArray(field.default))) {
    parts.push(`Default: \`${JSON.stringify(field.default)}\``);
  }
  return parts.join('\n\n');
}

// ------------------------------------------------------------------ completion

const KEY_LINE = /^(\s*)(?:-\s+)?([A-Za-z0-9_.-]*)$/;
const VALUE_LINE = /^(\s*)(?:-\s+)?([A-Za-z0-9_.-]+):\s*(\S*)$/;
const BLOCK_KEY = /^(\s*)(?:-\s+)?([A-Za-z0-9_.-]+):\s*(#.*)?$/;
const ANY_KEY = /^(\s*)(?:-\s+)?([A-Za-z0-9_.-]+):/;

/** The keys of the enclosing block mappings above `line`, found by indentation (works while typing). */
function parentPath(textLines: string[], line: number, indent: number): Segment[] {
  const path: string[] = [];
  let limit = indent;
  for (let i = line - 1; i >= 0 && limit > 0; i--) {
    const t = textLines[i];
    if (!t.trim() || t.trimStart().startsWith('#')) continue;
    const ind = t.length - t.trimStart().length;
    if (ind >= limit) continue;
    const m = BLOCK_KEY.exec(t);
    if (!m) return path.reverse();
    path.push(m[2]);
    limit = ind;
  }
  return path.reverse();
}

/** Keys already present in the block at `indent` around `line`. */
function siblingKeys(textLines: string[], line: number, indent: number): Set<string> {
  const keys = new Set<string>();
  const scan = (from: number, step: number) => {
    for (let i = from; i >= 0 && i < textLines.length; i += step) {
      const t = textLines[i];
      if (!t.trim() || t.trimStart().startsWith('#')) continue;
      const ind = t.length - t.trimStart().length;
      if (ind < indent) return;
      const m = ANY_KEY.exec(t);
      if (ind === indent && m) keys.add(m[2]);
    }
  };
  scan(line - 1, -1);
  scan(line + 1, 1);
  return keys;
}

/** Keys valid at a 0-based position (minus those already present), or values of the key there. */
export function completionsAt(text: string, schema: JsonSchema, line: number, column: number): ConfigCompletion[] {
  const textLines = text.split(/\r?\n/);
  const before = (textLines[line] ?? '').slice(0, column);
  const valueMatch = VALUE_LINE.exec(before);
  if (valueMatch) {
    const indent = valueMatch[1].length;
    const path = [...parentPath(textLines, line, indent), valueMatch[2]];
    const field = schemaAt(schema, path);
    if (!field) return [];
    let values = enumValues(schema, field);
    if (!values.length && typeSummary(schema, field).split(' | ').includes('boolean')) values = [true, false];
    return values.map((v) => ({
      label: String(v),
      kind: 'value' as const,
      detail: typeSummary(schema, field),
      documentation: typeof field.description === 'string' ? field.description : '',
      insertText: typeof v === 'string' && /^[\s\d*&!|>'"%@`#,[\]{}-]|:\s|\s#/.test(v) ? JSON.stringify(v) : String(v),
    }));
  }
  const keyMatch = KEY_LINE.exec(before);
  if (!keyMatch) return [];
  const indent = keyMatch[1].length;
  const parents = parentPath(textLines, line, indent);
  const present = siblingKeys(textLines, line, indent);
  const properties = propertiesAt(schema, parents);
  return Object.entries(properties)
    .filter(([name]) => !present.has(name))
    .map(([name, prop]) => {
      const field = deref(schema, prop) ?? {};
      const isObject = Boolean(objectForm(schema, field)) && !branches(field).some((b) => deref(schema, b)?.type === 'null');
      const childIndent = ' '.repeat(indent + 2);
      return {
        label: name,
        kind: 'key' as const,
        detail: typeSummary(schema, field),
        documentation: fieldMarkdown(schema, pathKey([...parents, name]), field),
        insertText: isObject ? `${name}:\n${childIndent}` : `${name}: `,
      };
    });
}
