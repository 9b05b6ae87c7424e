// Checks objects against a CRD's openAPIV3Schema without an API server, for the subset of
// OpenAPI v3 our CRDs use. Strict on purpose: a field the schema does not name is an error (as
// with `kubectl apply --validate=strict`), and so is a schema keyword outside the subset.

/** One node of an openAPIV3Schema, as far as this checker understands it. */
export interface Schema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  additionalProperties?: Schema | boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  description?: string;
  default?: unknown;
  "x-kubernetes-map-type"?: string;
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
}

// Keywords that constrain values, each applied by checkValue.
const CHECKED = new Set([
  "type",
  "properties",
  "required",
  "items",
  "enum",
  "additionalProperties",
  "x-kubernetes-preserve-unknown-fields",
  "format",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
]);
// Keywords that document or steer the API server's merging and defaulting, not validation.
const ANNOTATIONS = new Set([
  "description",
  "default",
  "x-kubernetes-map-type",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
]);
const TYPES = new Set(["object", "array", "string", "integer", "number", "boolean"]);
const FORMATS = new Set(["date-time", "int32", "int64"]);
// RFC 3339, as metav1.Time serializes.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * What is wrong with a schema itself: keywords outside the checked subset, nodes without a
 * `type` (the API server's structural-schema rule), `required` names that are no property,
 * map-keyed lists whose keys are not required. Empty when the schema is usable.
 *
 * @example
 * ```ts
 * schemaProblems({ type: "object", properties: { a: {} } });
 * // ["properties.a: no type"]
 * ```
 */
export function schemaProblems(schema: Schema, path = "(root)"): string[] {
  const problems: string[] = [];
  for (const keyword of Object.keys(schema)) {
    if (!CHECKED.has(keyword) && !ANNOTATIONS.has(keyword)) {
      problems.push(`${path}: unsupported keyword "${keyword}"`);
    }
  }
  const preserve = schema["x-kubernetes-preserve-unknown-fields"] === true;
  if (schema.type === undefined) {
    if (!preserve) problems.push(`${path}: no type`);
  } else if (!TYPES.has(schema.type)) {
    problems.push(`${path}: unknown type "${schema.type}"`);
  }
  if (schema.format !== undefined && !FORMATS.has(schema.format)) {
    problems.push(`${path}: unsupported format "${schema.format}"`);
  }
  if (schema.properties !== undefined && schema.additionalProperties !== undefined) {
    problems.push(`${path}: properties and additionalProperties together`);
  }
  if (typeof schema.additionalProperties === "boolean") {
    problems.push(`${path}: additionalProperties must be a schema`);
  }
  for (const name of schema.required ?? []) {
    if (!schema.properties || !(name in schema.properties)) {
      problems.push(`${path}: required "${name}" is not a property`);
    }
  }
  for (const value of schema.enum ?? []) {
    const problem = typeProblem(schema.type, value);
    if (schema.type !== undefined && problem) {
      problems.push(`${path}: enum value ${JSON.stringify(value)} ${problem}`);
    }
  }
  if (schema.type === "array" && schema.items === undefined) {
    problems.push(`${path}: array without items`);
  }
  if (schema["x-kubernetes-list-type"] === "map") {
    const required = new Set(schema.items?.required ?? []);
    for (const key of schema["x-kubernetes-list-map-keys"] ?? []) {
      if (!required.has(key)) problems.push(`${path}: list map key "${key}" is not required`);
    }
  }
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    problems.push(...schemaProblems(child, join(path, name)));
  }
  if (typeof schema.additionalProperties === "object") {
    problems.push(...schemaProblems(schema.additionalProperties, `${path}.*`));
  }
  if (schema.items) problems.push(...schemaProblems(schema.items, `${path}[]`));
  return problems;
}

/**
 * Where `value` breaks `schema`, one line per problem with the field's path. The root
 * object's `metadata` is only checked to be an object: the API server validates it itself.
 *
 * @example
 * ```ts
 * validate({ type: "object", properties: { n: { type: "integer" } } }, { n: "1", x: 2 });
 * // ["n: expected integer, got string", "x: unknown field"]
 * ```
 */
export function validate(schema: Schema, value: unknown): string[] {
  const problems: string[] = [];
  checkValue(schema, value, "", problems);
  return problems;
}

function checkValue(schema: Schema, value: unknown, path: string, problems: string[]): void {
  const where = path || "(root)";
  const problem = typeProblem(schema.type, value);
  if (problem) {
    problems.push(`${where}: ${problem}`);
    return;
  }
  if (schema.enum && !schema.enum.includes(value)) {
    const allowed = schema.enum.map((v) => JSON.stringify(v)).join(", ");
    problems.push(`${where}: ${JSON.stringify(value)} is not one of ${allowed}`);
  }
  if (typeof value === "string") checkString(schema, value, where, problems);
  if (typeof value === "number" && schema.minimum !== undefined && value < schema.minimum) {
    problems.push(`${where}: ${value} is below the minimum ${schema.minimum}`);
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => checkValue(schema.items!, item, `${path}[${i}]`, problems));
  }
  if (isObject(value) && path !== "metadata") checkObject(schema, value, path, problems);
}

function checkString(schema: Schema, value: string, where: string, problems: string[]): void {
  const length = [...value].length;
  if (schema.minLength !== undefined && length < schema.minLength) {
    problems.push(`${where}: shorter than ${schema.minLength} characters`);
  }
  if (schema.maxLength !== undefined && length > schema.maxLength) {
    problems.push(`${where}: longer than ${schema.maxLength} characters`);
  }
  if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
    problems.push(`${where}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (schema.format === "date-time" && !DATE_TIME.test(value)) {
    problems.push(`${where}: ${JSON.stringify(value)} is not an RFC 3339 date-time`);
  }
}

function checkObject(
  schema: Schema,
  value: Record<string, unknown>,
  path: string,
  problems: string[],
): void {
  for (const name of schema.required ?? []) {
    if (value[name] === undefined) problems.push(`${join(path, name)}: required`);
  }
  const preserve = schema["x-kubernetes-preserve-unknown-fields"] === true;
  for (const [name, field] of Object.entries(value)) {
    const child = schema.properties?.[name] ??
      (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
    if (child) checkValue(child, field, join(path, name), problems);
    else if (!preserve) problems.push(`${join(path, name)}: unknown field`);
  }
}

// Why `value` is not of `type`, or undefined when it is (or no type is given).
function typeProblem(type: Schema["type"], value: unknown): string | undefined {
  if (type === undefined) return undefined;
  const ok = {
    object: isObject(value),
    array: Array.isArray(value),
    integer: Number.isInteger(value),
    number: typeof value === "number",
    string: typeof value === "string",
    boolean: typeof value === "boolean",
  }[type];
  return ok ? undefined : `expected ${type}, got ${describe(value)}`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && !Number.isInteger(value)) return "number";
  return typeof value === "number" ? "integer" : typeof value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function join(path: string, name: string): string {
  return path === "" || path === "(root)" ? name : `${path}.${name}`;
}
