// A small seeded random source for the fuzz tests: every input is drawn from a generator seeded
// per case, so a failure names the seed that regenerates exactly that input.

import type { JsonValue } from "@bufbuild/protobuf";

/**
 * The base seed of a run: `FUZZ_SEED` (decimal or 0x hex) when set, else a fixed default, so a
 * plain run is deterministic and a failing one replays with the seed it prints.
 */
export function baseSeed(): number {
  const text = Deno.env.get("FUZZ_SEED");
  if (!text) return 0x5eed_2026;
  const value = Number(text);
  if (!Number.isInteger(value)) throw new Error(`FUZZ_SEED must be an integer, got "${text}"`);
  return value >>> 0;
}

/**
 * The seed of case `index` of `category`: a hash of the three, so that cases are independent and
 * one can be regenerated alone.
 *
 * @example
 * ```ts
 * const rng = new Rng(caseSeed(baseSeed(), "jwt", 17));
 * ```
 */
export function caseSeed(base: number, category: string, index: number): number {
  let h = (base ^ 0x9e3779b9) >>> 0;
  for (const char of `${category}#${index}`) {
    h = Math.imul(h ^ char.charCodeAt(0), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  return Math.imul(h ^ (h >>> 16), 0xc2b2ae35) >>> 0;
}

/** Printable ASCII, the alphabet of most random text. */
export const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");

/** Characters that break lines, quoting, paths or parsers when they reach a message. */
export const NASTY = [
  "\n",
  "\r",
  "\r\n",
  "\t",
  "\0",
  "\u2028",
  "\u2029",
  "\u001b[31m",
  "\uFEFF",
  "\uFFFD",
  "\uD800",
  '"',
  "'",
  "\\",
  "%",
  "%0a",
  ":",
  ".",
  "/",
  "#",
  "&",
  "*",
  "!",
  "{",
  "}",
  "[",
  "]",
  "é",
  "😀",
  "__proto__",
  "constructor",
];

/**
 * mulberry32 with helpers for drawing fuzz inputs.
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * rng.int(10); // 0..9, the same every run
 * ```
 */
export class Rng {
  readonly seed: number;
  #state: number;

  /** A generator whose sequence is fixed by `seed`. */
  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A length that is mostly small and sometimes large: short, medium or up to `max`. */
  length(max: number): number {
    const roll = this.next();
    if (roll < 0.7) return this.int(Math.min(max, 16) + 1);
    if (roll < 0.95) return this.int(Math.min(max, 256) + 1);
    return this.int(max + 1);
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** Text of up to `max` characters from `alphabet`, sprinkled with NASTY pieces. */
  text(max: number, alphabet = PRINTABLE, nasty = 0.05): string {
    const n = this.length(max);
    let out = "";
    while (out.length < n) {
      out += this.chance(nasty) ? this.pick(NASTY) : alphabet[this.int(alphabet.length)];
    }
    return out;
  }

  /** A random UUID-shaped string (version 4 layout). */
  uuid(): string {
    const hex = Array.from(this.bytes(16), (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${hex.slice(16, 20)}-${
      hex.slice(20, 32)
    }`;
  }

  /** A number of an awkward kind: zero, negative, huge, tiny, fractional, beyond 2^53. */
  number(): number {
    return this.pick([
      () => 0,
      () => -0,
      () => this.int(100),
      () => -this.int(1_000_000),
      () => this.next(),
      () => 2 ** 53 + this.int(10),
      () => Number.MAX_VALUE,
      () => -Number.MAX_VALUE,
      () => Number.MIN_VALUE,
      () => this.int(2 ** 32) - 2 ** 31,
    ])();
  }

  /** A JSON value of random shape, nested at most `depth` levels. */
  json(depth = 3): JsonValue {
    const kinds = depth > 0 ? 7 : 4;
    switch (this.int(kinds)) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.number();
      case 3:
        return this.chance(0.02) ? "x".repeat(this.between(10_000, 100_000)) : this.text(40);
      case 4:
      case 5: {
        const out: Record<string, JsonValue> = {};
        const n = this.length(12);
        for (let i = 0; i < n; i++) {
          Object.defineProperty(out, this.text(12), {
            value: this.json(depth - 1),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return out;
      }
      default:
        return Array.from({ length: this.length(12) }, () => this.json(depth - 1));
    }
  }
}
