/**
 * A small JSON Schema (draft-07) checker for the keywords skaffold's published schemas use: $ref (to
 * #/definitions), type, properties, additionalProperties, required, items, enum and anyOf. Annotations
 * (description, default, examples, preferredOrder...) are ignored. Enough to check a skaffold.yaml
 * without skaffold.
 */

/** A schema node: only the keywords this checker reads. */
export interface SchemaNode {
  $ref?: string;
  type?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  required?: string[];
  items?: SchemaNode;
  enum?: unknown[];
  anyOf?: SchemaNode[];
}

/** A root schema with its definitions. */
export interface RootSchema extends SchemaNode {
  definitions: Record<string, SchemaNode>;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeMatches(want: string, v: unknown): boolean {
  const got = typeOf(v);
  return got === want || (want === "number" && got === "integer");
}

/** Every violation of `schema` by `value`, each as "<path>: <problem>"; empty when it conforms. */
export function check(root: RootSchema, value: unknown, schema: SchemaNode = root, path = ""): string[] {
  const at = path === "" ? "(root)" : path;
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace(/^#\/definitions\//, "");
    const target = root.definitions[name];
    if (target === undefined) return [`${at}: schema has no definition ${schema.$ref}`];
    return check(root, value, target, path);
  }
  if (schema.anyOf !== undefined) {
    // A value conforms if one branch takes it; otherwise report the branch that came closest: the one
    // that knows most of the value's own fields (so a typo inside `docker:` is reported there), then the
    // one with fewest errors.
    const tries = schema.anyOf.map((branch) => check(root, value, { ...schema, anyOf: undefined, ...branch }, path));
    if (tries.some((errors) => errors.length === 0)) return [];
    const prefix = path === "" ? "" : `${path}.`;
    const unknownHere = (errors: string[]) =>
      errors.filter((e) => e.startsWith(prefix) && /^[^.[]+: no such field$/.test(e.slice(prefix.length))).length;
    const rank = (errors: string[]) => unknownHere(errors) * 1_000_000 + errors.length;
    return tries.reduce((best, errors) => (rank(errors) < rank(best) ? errors : best));
  }
  if (schema.type !== undefined && !typeMatches(schema.type, value)) {
    return [`${at}: is ${typeOf(value)}, want ${schema.type}`];
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    return [`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`];
  }
  const errors: string[] = [];
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => {
      errors.push(...check(root, item, schema.items, `${path}[${i}]`));
    });
  }
  if (typeOf(value) === "object") {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) {
      if (!(key in obj)) errors.push(`${at}: required field ${key} is missing`);
    }
    for (const [key, v] of Object.entries(obj)) {
      const sub = path === "" ? key : `${path}.${key}`;
      const prop = schema.properties?.[key];
      if (prop !== undefined) errors.push(...check(root, v, prop, sub));
      else if (schema.additionalProperties === false) errors.push(`${sub}: no such field`);
      else if (typeof schema.additionalProperties === "object") {
        errors.push(...check(root, v, schema.additionalProperties, sub));
      }
    }
  }
  return errors;
}
