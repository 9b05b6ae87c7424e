// Malformed configuration texts for the fuzz tests: a valid document mutated at the byte level
// (flips, truncation, stray bytes, non-UTF-8), the line level (duplicated keys, reordering) and
// the value level (wrong types at real keys, unknown keys, huge strings, deep nesting).

import { parse, stringify } from "yaml";
import type { Rng } from "./prng.ts";

/** A mutation of a config text; `name` goes into failure messages. */
interface Mutation {
  name: string;
  apply(text: string, rng: Rng): string;
}

const encoder = new TextEncoder();
const lenient = new TextDecoder("utf-8");
const latin1 = new TextDecoder("latin1");

/** Splices `insert` into `text` at a random position. */
function spliceAt(text: string, rng: Rng, insert: string): string {
  const at = rng.int(text.length + 1);
  return text.slice(0, at) + insert + text.slice(at);
}

function lines(text: string): string[] {
  return text.split("\n");
}

// YAML tokens that change how the rest of a line (or document) is read.
const YAML_SPECIALS = [
  "&a ",
  "*a",
  "*missing",
  "!!binary ",
  "!!set ",
  "!!omap ",
  "!!timestamp ",
  "!!int ",
  "!!float ",
  "!custom ",
  "!<tag:example.com:x> ",
  "? ",
  "- ",
  ": ",
  "{",
  "}",
  "[",
  "]",
  '"',
  "'",
  "|",
  ">-",
  "%YAML 1.1\n",
  "%TAG ! tag:x:\n",
  "---\n",
  "...\n",
  "\t",
  "# ",
  "<<: *a\n",
  "\0",
  "\uFEFF",
  "\r",
  "\x85",
  "\u2028",
  ",",
  "@",
  "`",
];

/** A value of a wrong (or right but odd) type for any key. */
function oddValue(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => null,
    () => true,
    () => false,
    () => rng.number(),
    () => -1,
    () => 1.5,
    () => "",
    () => rng.text(30),
    () => "x".repeat(rng.between(50_000, 1_000_000)),
    () => [],
    () => [rng.text(5), rng.number()],
    () => ({}),
    () => ({ [rng.text(8)]: rng.text(8) }),
    () => new Date(rng.int(2 ** 40)),
    () => rng.json(3),
  ])();
}

/** A key a config does not have, often with characters that break messages. */
function oddKey(rng: Rng): string {
  return rng.pick<() => string>([
    () => rng.text(12),
    () => `${rng.text(4)}\n${rng.text(4)}`,
    () => "__proto__",
    () => "constructor",
    () => "toString",
    () => "",
    () => " ",
    () => "a.b",
    () => "a/b",
    () => "x".repeat(rng.between(1000, 100_000)),
    () => "typ",
    () => "exprot",
  ])();
}

// Walks plain parsed data; every mapping and list, with the path of keys that reaches it.
function containers(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== "object" || value === null) return [];
  const out = [path];
  for (const [key, item] of Object.entries(value)) {
    out.push(...containers(item, [...path, Array.isArray(value) ? Number(key) : key]));
  }
  return out;
}

function at(root: unknown, path: (string | number)[]): Record<string, unknown> {
  let value = root as Record<string, unknown>;
  for (const key of path) value = value[key] as Record<string, unknown>;
  return value;
}

/** Parses `text`, changes one place with `change`, and writes it back as YAML. */
function restructure(
  text: string,
  rng: Rng,
  change: (container: Record<string, unknown>, keys: string[]) => void,
): string {
  let data: unknown;
  try {
    data = parse(text, { logLevel: "silent" });
  } catch {
    return text; // an earlier mutation already broke the syntax
  }
  if (typeof data !== "object" || data === null) return text;
  const container = at(data, rng.pick(containers(data)));
  change(container, Object.keys(container));
  try {
    return stringify(data, { lineWidth: 0 });
  } catch {
    return text; // too deep for the writer's recursion
  }
}

function nested(rng: Rng): string {
  const depth = rng.between(50, 5000);
  return rng.pick<() => string>([
    () => "[".repeat(depth) + "]".repeat(depth),
    () => "{a: ".repeat(depth) + "1" + "}".repeat(depth),
    () =>
      "\n" + Array.from({ length: Math.min(depth, 400) }, (_, i) => `${" ".repeat(i + 2)}a:`)
        .join("\n"),
    () => "- ".repeat(Math.min(depth, 1000)) + "x",
  ])();
}

// Aliases that expand exponentially ("billion laughs").
function laughs(rng: Rng): string {
  const levels = rng.between(3, 9);
  let out = "lol0: &l0 [lol]\n";
  for (let i = 1; i <= levels; i++) {
    out += `lol${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(", ")}]\n`;
  }
  return out;
}

const MUTATIONS: readonly Mutation[] = [
  {
    name: "flip bits",
    apply(text, rng) {
      const bytes = encoder.encode(text);
      for (let n = rng.between(1, 8); n > 0 && bytes.length > 0; n--) {
        bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
      }
      return (rng.chance(0.5) ? lenient : latin1).decode(bytes);
    },
  },
  {
    name: "non-UTF-8 bytes",
    apply(text, rng) {
      const bytes = rng.bytes(rng.between(1, 32)).map((b) => b | 0x80);
      const raw = rng.chance(0.5) ? lenient.decode(bytes) : latin1.decode(bytes);
      return spliceAt(text, rng, raw);
    },
  },
  {
    name: "random bytes",
    apply(_text, rng) {
      return latin1.decode(rng.bytes(rng.length(2000)));
    },
  },
  {
    name: "truncate",
    apply(text, rng) {
      return text.slice(0, rng.int(text.length + 1));
    },
  },
  {
    name: "YAML token",
    apply(text, rng) {
      return spliceAt(text, rng, rng.pick(YAML_SPECIALS));
    },
  },
  {
    name: "duplicate a line",
    apply(text, rng) {
      const all = lines(text);
      const line = rng.pick(all);
      all.splice(rng.int(all.length + 1), 0, line);
      return all.join("\n");
    },
  },
  {
    name: "duplicate a top-level key",
    apply(text, rng) {
      const top = lines(text).filter((line) => /^[A-Za-z]\w*:/.test(line));
      if (top.length === 0) return text;
      return `${text}\n${rng.pick(top).split(":")[0]}: ${rng.text(10, "abc123")}\n`;
    },
  },
  {
    name: "delete a line",
    apply(text, rng) {
      const all = lines(text);
      all.splice(rng.int(all.length), 1);
      return all.join("\n");
    },
  },
  {
    name: "re-indent a line",
    apply(text, rng) {
      const all = lines(text);
      const i = rng.int(all.length);
      all[i] = " ".repeat(rng.int(8)) + all[i].trimStart();
      return all.join("\n");
    },
  },
  {
    name: "wrong type at a real key",
    apply(text, rng) {
      return restructure(text, rng, (container, keys) => {
        if (keys.length > 0) container[rng.pick(keys)] = oddValue(rng);
      });
    },
  },
  {
    name: "unknown key",
    apply(text, rng) {
      return restructure(text, rng, (container) => {
        if (Array.isArray(container)) container.push(oddValue(rng));
        else {
          Object.defineProperty(container, oddKey(rng), {
            value: oddValue(rng),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
      });
    },
  },
  {
    name: "remove a key",
    apply(text, rng) {
      return restructure(text, rng, (container, keys) => {
        if (keys.length > 0) delete container[rng.pick(keys)];
      });
    },
  },
  {
    name: "misspell a key",
    apply(text, rng) {
      return restructure(text, rng, (container, keys) => {
        if (keys.length === 0 || Array.isArray(container)) return;
        const key = rng.pick(keys);
        const i = rng.int(key.length + 1);
        const typo = key.slice(0, i) + rng.pick(["", "x", "\n", "."]) + key.slice(i + 1);
        const value = container[key];
        delete container[key];
        container[typo] = value;
      });
    },
  },
  {
    name: "huge string",
    apply(text, rng) {
      const huge = rng.pick(["x", "é", "😀", " "]).repeat(rng.between(100_000, 1_000_000));
      return text.replace(/: .*$/m, `: "${huge}"`);
    },
  },
  {
    name: "deep nesting",
    apply(text, rng) {
      return rng.chance(0.5)
        ? `${text}\nexport: ${nested(rng)}\n`
        : `${rng.text(8, "abc")}: ${nested(rng)}`;
    },
  },
  {
    name: "alias bomb",
    apply(text, rng) {
      return rng.chance(0.5) ? laughs(rng) : `${text}\n${laughs(rng)}`;
    },
  },
  {
    name: "several documents",
    apply(text, rng) {
      return `${text}\n---\n${rng.pick([text, "", "- a", rng.text(20)])}`;
    },
  },
];

/**
 * One malformed input: `base` with one to three random mutations; returns the text and the
 * names of the mutations (for the failure message).
 *
 * @example
 * ```ts
 * const { text, steps } = mutateConfig(demoYaml, new Rng(7));
 * ```
 */
export function mutateConfig(base: string, rng: Rng): { text: string; steps: string[] } {
  let text = base;
  const steps: string[] = [];
  for (let n = rng.between(1, 3); n > 0; n--) {
    const mutation = rng.pick(MUTATIONS);
    text = mutation.apply(text, rng);
    steps.push(mutation.name);
  }
  return { text, steps };
}
