// Walking the trainer's JSON Schema (schemas/pacs-config.schema.json) along a config's key path:
// $ref, anyOf/oneOf branches, the object and array forms, enums and a one-line type summary.
// configDiagnostics.ts asks it for diagnostics, hovers and completions.

export type JsonSchema = Record<string, unknown>;

/** A key path into a config: object keys and array indexes. */
export type Segment = string | number;

// ------------------------------------------------------------------ schema walking

export function deref(root: JsonSchema, schema: JsonSchema | undefined): JsonSchema | undefined {
  let s = schema;
  for (let guard = 0; s && typeof s.$ref === 'string' && guard < 20; guard++) {
    const { $ref, ...rest } = s;
    const target = ($ref as string)
      .replace(/^#\/?/, '')
      .split('/')
      .filter(Boolean)
      .reduce<unknown>((acc, part) => (acc as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], root);
    s = { ...(target as JsonSchema), ...rest };
  }
  return s;
}

export function branches(schema: JsonSchema): JsonSchema[] {
  const list = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  return Array.isArray(list) ? list : [];
}

/** The schema's object form: itself, or the object branch of an anyOf (Optional[Model]). */
export function objectForm(root: JsonSchema, schema: JsonSchema | undefined): JsonSchema | undefined {
  const s = deref(root, schema);
  if (!s) return undefined;
  if (s.properties || s.type === 'object') return s;
  for (const b of branches(s)) {
    const d = deref(root, b);
    if (d?.properties) return d;
  }
  return undefined;
}

/** The schema of item `index` of an array (tuples use prefixItems). */
export function arrayItems(root: JsonSchema, schema: JsonSchema | undefined, index: number): JsonSchema | undefined {
  const s = deref(root, schema);
  if (!s) return undefined;
  for (const form of [s, ...branches(s).map((b) => deref(root, b))]) {
    const prefix = form?.prefixItems as JsonSchema[] | undefined;
    if (Array.isArray(prefix) && prefix[index]) return prefix[index];
    if (form?.items && typeof form.items === 'object') return form.items as JsonSchema;
  }
  return undefined;
}

/** The schema at a path (description and default kept from the property's own entry). */
export function schemaAt(root: JsonSchema, segments: Segment[]): JsonSchema | undefined {
  let current: JsonSchema | undefined = root;
  for (const seg of segments) {
    if (typeof seg === 'number') current = arrayItems(root, current, seg);
    else current = (objectForm(root, current)?.properties as Record<string, JsonSchema> | undefined)?.[seg];
    if (!current) return undefined;
  }
  return deref(root, current);
}

export function propertiesAt(root: JsonSchema, segments: Segment[]): Record<string, JsonSchema> {
  return (objectForm(root, schemaAt(root, segments))?.properties as Record<string, JsonSchema> | undefined) ?? {};
}

export function enumValues(root: JsonSchema, schema: JsonSchema | undefined): unknown[] {
  const s = deref(root, schema);
  if (!s) return [];
  if (Array.isArray(s.enum)) return s.enum;
  if ('const' in s) return [s.const];
  return branches(s).flatMap((b) => enumValues(root, b));
}

export function typeSummary(root: JsonSchema, schema: JsonSchema | undefined): string {
  const s = deref(root, schema);
  if (!s) return 'any';
  const bs = branches(s);
  if (bs.length) return bs.map((b) => typeSummary(root, b)).join(' | ');
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s.properties) return 'mapping';
  if (s.type === 'array') return `list of ${typeSummary(root, s.items as JsonSchema | undefined)}`;
  const bounds: string[] = [];
  if (typeof s.minimum === 'number') bounds.push(`≥ ${s.minimum}`);
  if (typeof s.exclusiveMinimum === 'number') bounds.push(`> ${s.exclusiveMinimum}`);
  if (typeof s.maximum === 'number') bounds.push(`≤ ${s.maximum}`);
  if (typeof s.exclusiveMaximum === 'number') bounds.push(`< ${s.exclusiveMaximum}`);
  const type = Array.isArray(s.type) ? s.type.join(' | ') : String(s.type ?? 'any');
  return bounds.length ? `${type} (${bounds.join(', ')})` : type;
}
