import { strict as assert } from "node:assert";
import { type Schema, schemaProblems, validate } from "./crd_schema.ts";

const SELECTOR: Schema = {
  type: "object",
  properties: {
    matchLabels: { type: "object", additionalProperties: { type: "string" } },
    matchExpressions: {
      type: "array",
      items: {
        type: "object",
        required: ["key", "operator"],
        properties: {
          key: { type: "string" },
          operator: { type: "string", enum: ["In", "NotIn", "Exists", "DoesNotExist"] },
          values: { type: "array", items: { type: "string" } },
        },
      },
    },
  },
};

const ROOT: Schema = {
  type: "object",
  properties: {
    metadata: { type: "object" },
    spec: {
      type: "object",
      required: ["name"],
      properties: {
        name: { type: "string", minLength: 1, maxLength: 8, pattern: "^[a-z-]+$" },
        count: { type: "integer", minimum: 0 },
        at: { type: "string", format: "date-time" },
        selector: SELECTOR,
        free: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
      },
    },
  },
};

Deno.test("validate accepts an object that matches, and leaves root metadata to the server", () => {
  assert.deepEqual(
    validate(ROOT, {
      metadata: { name: "x", labels: { a: "b" }, anything: [1] },
      spec: {
        name: "bench",
        count: 3,
        at: "2026-08-14T09:30:00.5+02:00",
        selector: { matchExpressions: [{ key: "a", operator: "Exists" }] },
      },
    }),
    [],
  );
});

Deno.test("validate reports each mismatch with the path of its field", () => {
  assert.deepEqual(
    validate(ROOT, {
      spec: {
        name: "Bench-Name",
        count: 1.5,
        at: "2026-08-14 09:30",
        selector: {
          matchLabels: { a: 1 },
          matchExpressions: [{ key: "a", operator: "in" }, { operator: "Exists" }],
        },
        client: { name: "x" },
      },
      status: {},
    }),
    [
      "spec.name: longer than 8 characters",
      'spec.name: "Bench-Name" does not match ^[a-z-]+$',
      "spec.count: expected integer, got number",
      'spec.at: "2026-08-14 09:30" is not an RFC 3339 date-time',
      "spec.selector.matchLabels.a: expected string, got integer",
      'spec.selector.matchExpressions[0].operator: "in" is not one of "In", "NotIn", "Exists", ' +
      '"DoesNotExist"',
      "spec.selector.matchExpressions[1].key: required",
      "spec.client: unknown field",
      "status: unknown field",
    ],
  );
});

Deno.test("validate reports missing required fields, nulls and negative numbers", () => {
  assert.deepEqual(validate(ROOT, { spec: { count: -1, selector: null } }), [
    "spec.name: required",
    "spec.count: -1 is below the minimum 0",
    "spec.selector: expected object, got null",
  ]);
  assert.deepEqual(validate(ROOT, []), ["(root): expected object, got array"]);
});

Deno.test("x-kubernetes-preserve-unknown-fields keeps fields the schema does not name", () => {
  assert.deepEqual(
    validate(ROOT, { spec: { name: "a", free: { anything: { nested: [1, "two"] } } } }),
    [],
  );
});

Deno.test("schemaProblems accepts a typed schema within the subset", () => {
  assert.deepEqual(schemaProblems(ROOT), []);
});

Deno.test("schemaProblems reports keywords outside the subset, untyped nodes and bad lists", () => {
  const schema = {
    type: "object",
    required: ["missing"],
    properties: {
      untyped: { description: "no type" },
      choice: { oneOf: [{ type: "string" }], type: "string" },
      list: { type: "array" },
      when: { type: "string", format: "duration" },
      map: { type: "object", additionalProperties: false },
      conditions: {
        type: "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        items: { type: "object", properties: { type: { type: "string" } } },
      },
      status: { type: "string", enum: ["True", 1] },
    },
  } as unknown as Schema;
  assert.deepEqual(schemaProblems(schema), [
    '(root): required "missing" is not a property',
    "untyped: no type",
    'choice: unsupported keyword "oneOf"',
    "list: array without items",
    'when: unsupported format "duration"',
    "map: additionalProperties must be a schema",
    'conditions: list map key "type" is not required',
    "status: enum value 1 expected string, got integer",
  ]);
});
