// Reads one YAML mapping into typed values, field by field, with errors that name the file and
// the YAML path, and a final check that reports keys nobody read (typos are not dropped).

import { ConfigError } from "./errors.ts";
import { didYouMean } from "./suggest.ts";

/** Where a mapping sits: its file and YAML path. */
export interface FieldsSource {
  file: string;
  path: string;
}

/**
 * How a value reads in an error message: `"fast"`, `3`, `null`, `a list`, `a mapping`.
 *
 * @example
 * ```ts
 * describeValue([1, 2]); // "a list"
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return JSON.stringify(value);
}

/**
 * Typed access to a mapping's keys. Every read marks the key as known; `done()` fails on the
 * rest.
 *
 * @example
 * ```ts
 * const f = new Fields(config, { file: "bench.yaml", path: "export.serial.config" });
 * const url = f.string("url");
 * const baudrate = f.number("baudrate", { default: 115200, integer: true, min: 1 });
 * f.done(); // "bench.yaml: export.serial.config: unknown key "baudrat" (did you mean ...)"
 * ```
 */
export class Fields {
  readonly source: FieldsSource;
  readonly #map: Record<string, unknown>;
  readonly #known = new Set<string>();

  /** Wraps `value`, which must be a mapping; null and undefined read as an empty one. */
  constructor(value: unknown, source: FieldsSource) {
    this.source = source;
    if (value === null || value === undefined) value = {};
    if (typeof value !== "object" || Array.isArray(value)) {
      throw new ConfigError(
        source.file,
        source.path,
        `must be a mapping, got ${describeValue(value)}`,
      );
    }
    this.#map = value as Record<string, unknown>;
  }

  /** The YAML path of `key` in this mapping. */
  pathOf(key: string): string {
    return this.source.path ? `${this.source.path}.${key}` : key;
  }

  /** An error about `key`. */
  error(key: string, problem: string): ConfigError {
    return new ConfigError(this.source.file, this.pathOf(key), problem);
  }

  /** True when `key` is present (and not null). */
  has(key: string): boolean {
    this.#known.add(key);
    return this.#map[key] !== undefined && this.#map[key] !== null;
  }

  /** The keys present in the mapping. */
  keys(): string[] {
    return Object.keys(this.#map);
  }

  /** The value of `key` as it is, marking it read. */
  raw(key: string): unknown {
    this.#known.add(key);
    return this.#map[key];
  }

  /** A required string, or the default. */
  string(key: string, options: { default?: string; nonEmpty?: boolean } = {}): string {
    const value = this.#required(key, options.default);
    if (typeof value !== "string") {
      throw this.error(key, `must be a string, got ${describeValue(value)}`);
    }
    if (options.nonEmpty && value === "") throw this.error(key, "must not be empty");
    return value;
  }

  /** A string or `undefined` when absent. */
  optionalString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : undefined;
  }

  /** A string, or `undefined` when absent, null or empty (upstream writes `""` for "not set"). */
  optionalNonEmpty(key: string): string | undefined {
    const value = this.optionalString(key);
    return value === "" ? undefined : value;
  }

  /**
   * A mapping of strings or whole numbers (gRPC channel options), empty when absent; any key,
   * `__proto__` included, becomes an ordinary entry.
   */
  scalarMap(key: string): Record<string, string | number> {
    const nested = this.mapping(key);
    const out: Record<string, string | number> = {};
    for (const name of nested.keys()) {
      const value = nested.raw(name);
      if (typeof value !== "string" && !(typeof value === "number" && Number.isInteger(value))) {
        throw nested.error(name, `must be a string or a whole number, got ${describeValue(value)}`);
      }
      Object.defineProperty(out, name, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }

  /** A number, or the default; optionally an integer within bounds. */
  number(
    key: string,
    options: { default?: number; integer?: boolean; min?: number; max?: number } = {},
  ): number {
    const value = this.#required(key, options.default);
    if (typeof value !== "number" || Number.isNaN(value)) {
      throw this.error(key, `must be a number, got ${describeValue(value)}`);
    }
    if (options.integer && !Number.isInteger(value)) {
      throw this.error(key, `must be a whole number, got ${value}`);
    }
    if (options.min !== undefined && value < options.min) {
      throw this.error(key, `must be at least ${options.min}, got ${value}`);
    }
    if (options.max !== undefined && value > options.max) {
      throw this.error(key, `must be at most ${options.max}, got ${value}`);
    }
    return value;
  }

  /** A boolean, or the default. */
  boolean(key: string, options: { default?: boolean } = {}): boolean {
    const value = this.#required(key, options.default);
    if (typeof value !== "boolean") {
      throw this.error(key, `must be true or false, got ${describeValue(value)}`);
    }
    return value;
  }

  /** One of `choices`, or the default; the errors name the accepted values, even when absent. */
  choice<T extends string>(key: string, choices: readonly T[], options: { default?: T } = {}): T {
    const expected = choices.length === 1 ? `"${choices[0]}"` : `one of ${choices.join(", ")}`;
    this.#known.add(key);
    const value = this.#map[key] ?? options.default;
    if (value === undefined || value === null) {
      throw this.error(key, `is required: must be ${expected}`);
    }
    if (typeof value !== "string" || !choices.includes(value as T)) {
      throw this.error(key, `must be ${expected}, got ${describeValue(value)}`);
    }
    return value as T;
  }

  /** A list of strings (empty when absent). */
  stringList(key: string): string[] {
    const value = this.raw(key) ?? [];
    if (!Array.isArray(value)) throw this.error(key, `must be a list, got ${describeValue(value)}`);
    return value.map((item, i) => {
      if (typeof item !== "string") {
        throw new ConfigError(
          this.source.file,
          `${this.pathOf(key)}[${i}]`,
          `must be a string, got ${describeValue(item)}`,
        );
      }
      return item;
    });
  }

  /** A mapping of strings to strings (empty when absent); numbers and booleans are stringified. */
  stringMap(key: string): Record<string, string> {
    const nested = this.mapping(key);
    const out: Record<string, string> = {};
    for (const name of nested.keys()) {
      const value = nested.raw(name);
      if (typeof value === "string") out[name] = value;
      else if (typeof value === "number" || typeof value === "boolean") out[name] = String(value);
      else throw nested.error(name, `must be a string, got ${describeValue(value)}`);
    }
    return out;
  }

  /** A nested mapping as its own Fields (empty when absent). */
  mapping(key: string): Fields {
    return new Fields(this.raw(key), { file: this.source.file, path: this.pathOf(key) });
  }

  /**
   * Declares every key this mapping may have and fails now on any other, as `done()` would. Call
   * it before reading, so that a misspelt required key is reported as unknown (with a suggestion)
   * rather than as missing.
   */
  expectKeys(keys: readonly string[]): void {
    for (const key of keys) this.#known.add(key);
    this.done();
  }

  /** Fails on the first key that was never read, suggesting the closest known one. */
  done(): void {
    for (const key of Object.keys(this.#map)) {
      if (!this.#known.has(key)) {
        const known = [...this.#known];
        throw new ConfigError(
          this.source.file,
          this.source.path,
          `unknown key "${key}"${didYouMean(key, known)}${
            known.length ? `; known keys: ${known.join(", ")}` : ""
          }`,
        );
      }
    }
  }

  #required(key: string, fallback: unknown): unknown {
    this.#known.add(key);
    const value = this.#map[key];
    if (value !== undefined && value !== null) return value;
    if (fallback !== undefined) return fallback;
    throw this.error(key, "is required");
  }
}
