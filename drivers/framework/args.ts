// Reading a method's positional arguments (upstream passes arguments positionally only) into
// typed values, with INVALID_ARGUMENT errors that name the argument.

import { InvalidArgumentError } from "./errors.ts";
import type { JsonValue } from "./value.ts";

/**
 * The arguments of one call, read by position.
 *
 * @example
 * ```ts
 * const a = new Args("cycle", args, 1);
 * const wait = a.number(0, "wait", 2);
 * ```
 */
export class Args {
  readonly #method: string;
  readonly #args: JsonValue[];

  /** Checks that at most `max` arguments were given. */
  constructor(method: string, args: JsonValue[], max: number) {
    this.#method = method;
    this.#args = args;
    if (args.length > max) {
      throw new InvalidArgumentError(
        `${method}() takes ${max === 0 ? "no" : `at most ${max}`} argument${
          max === 1 ? "" : "s"
        }, got ${args.length}`,
      );
    }
  }

  /** How many arguments were given. */
  get length(): number {
    return this.#args.length;
  }

  /** The argument at `index` as it came, or `undefined` when not given. */
  raw(index: number): JsonValue | undefined {
    return this.#args[index];
  }

  /** A number argument; `fallback` when absent or null. */
  number(index: number, name: string, fallback?: number): number {
    const value = this.#present(index, name, fallback);
    if (typeof value !== "number") throw this.#wrong(name, "a number", value);
    return value;
  }

  /** A string argument; `fallback` when absent or null. */
  string(index: number, name: string, fallback?: string): string {
    const value = this.#present(index, name, fallback);
    if (typeof value !== "string") throw this.#wrong(name, "a string", value);
    return value;
  }

  /** A boolean argument; `fallback` when absent or null. */
  boolean(index: number, name: string, fallback?: boolean): boolean {
    const value = this.#present(index, name, fallback);
    if (typeof value !== "boolean") throw this.#wrong(name, "true or false", value);
    return value;
  }

  /** An object argument (e.g. a map of environment variables); `fallback` when absent or null. */
  object(index: number, name: string, fallback?: Record<string, JsonValue>) {
    const value = this.#present(index, name, fallback);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw this.#wrong(name, "an object", value);
    }
    return value as Record<string, JsonValue>;
  }

  /** The arguments from `index` on, each as a string (a command's argv). */
  strings(from: number, name: string): string[] {
    return this.#args.slice(from).map((value, i) => {
      if (typeof value === "string") return value;
      if (typeof value === "number" || typeof value === "boolean") return String(value);
      throw this.#wrong(`${name}[${i}]`, "a string", value);
    });
  }

  #present<T>(index: number, name: string, fallback: T | undefined): JsonValue {
    const value = this.#args[index];
    if (value !== undefined && value !== null) return value;
    if (fallback !== undefined) return fallback as JsonValue;
    throw new InvalidArgumentError(`${this.#method}(): missing argument ${name}`);
  }

  #wrong(name: string, expected: string, value: JsonValue): InvalidArgumentError {
    return new InvalidArgumentError(
      `${this.#method}(): ${name} must be ${expected}, got ${JSON.stringify(value)}`,
    );
  }
}
