// Driver-call arguments and results travel as google.protobuf.Value: the JSON form of the value,
// numbers as doubles, as upstream encodes them.

import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";

export type { JsonValue };

/**
 * Converts a JavaScript value to a Value. Bytes become UTF-8 text, Dates ISO strings and
 * `undefined` null, like upstream's JSON dump; other non-JSON values are refused.
 *
 * @example
 * ```ts
 * toValue({ voltage: 5, current: 2 });
 * ```
 */
export function toValue(value: unknown): Value {
  return fromJson(ValueSchema, toJsonValue(value, "value"));
}

/** Converts a Value back to plain JSON data. */
export function fromValue(value: Value | undefined): JsonValue {
  if (value === undefined || value.kind.case === undefined) return null;
  return toJson(ValueSchema, value);
}

/** Plain JSON data of `value`, or a TypeError naming where a non-JSON value sits. */
export function toJsonValue(value: unknown, where: string): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`${where}: ${value} is not a JSON number`);
      return value;
    case "bigint":
      return Number(value);
    case "object":
      break;
    default:
      throw new TypeError(`${where}: a ${typeof value} cannot be sent as a driver value`);
  }
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item, i) => toJsonValue(item, `${where}[${i}]`));
  const out: Record<string, JsonValue> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) out[key] = toJsonValue(item, `${where}.${key}`);
  }
  return out;
}
