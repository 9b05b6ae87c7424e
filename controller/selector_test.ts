import { strict as assert } from "node:assert";
import {
  formatSelector,
  isEmptySelector,
  matchesSelector,
  normalizeSelector,
  parseSelector,
  SelectorError,
} from "./selector.ts";
import type { LabelSelector, SelectorRequirement } from "./store/types.ts";

function sel(
  matchLabels: Record<string, string> = {},
  ...matchExpressions: SelectorRequirement[]
): LabelSelector {
  return { matchLabels, matchExpressions };
}

const req = (
  key: string,
  operator: SelectorRequirement["operator"],
  ...values: string[]
): SelectorRequirement => ({ key, operator, values });

function selectorError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SelectorError, `expected a SelectorError, got ${err}`);
    assert.ok(!err.message.includes("\n"), `message should be one line: ${err.message}`);
    return err.message;
  }
  assert.fail("expected a SelectorError");
}

const VALID: [string, LabelSelector][] = [
  ["", sel()],
  ["   ", sel()],
  ["board=rpi4", sel({ board: "rpi4" })],
  ["board==rpi4", sel({ board: "rpi4" })],
  [" board = rpi4 , env == prod ", sel({ board: "rpi4", env: "prod" })],
  ["board=rpi4,board==rpi4", sel({ board: "rpi4" })],
  ["env!=prod", sel({}, req("env", "NotIn", "prod"))],
  ["env in (a,b)", sel({}, req("env", "In", "a", "b"))],
  ["env in(a, b)", sel({}, req("env", "In", "a", "b"))],
  ["env notin ( a , b )", sel({}, req("env", "NotIn", "a", "b"))],
  ["env in ()", sel({}, req("env", "In", ""))],
  ["env in (,a)", sel({}, req("env", "In", "", "a"))],
  ["env in (a,)", sel({}, req("env", "In", "a", ""))],
  ["gpu", sel({}, req("gpu", "Exists"))],
  ["!gpu", sel({}, req("gpu", "DoesNotExist"))],
  ["! gpu", sel({}, req("gpu", "DoesNotExist"))],
  [
    "jumpstarter.dev/board=rpi4,example.com/x_y.z-1!=v.1_2-3",
    sel({ "jumpstarter.dev/board": "rpi4" }, req("example.com/x_y.z-1", "NotIn", "v.1_2-3")),
  ],
  [
    "a=1,b,!c,d in (x),e notin (y,z),f!=w",
    sel(
      { a: "1" },
      req("b", "Exists"),
      req("c", "DoesNotExist"),
      req("d", "In", "x"),
      req("e", "NotIn", "y", "z"),
      req("f", "NotIn", "w"),
    ),
  ],
  ["a=1,a!=2", sel({ a: "1" }, req("a", "NotIn", "2"))],
  ["toString=a,constructor=b", sel({ toString: "a", constructor: "b" })],
  [`k=${"v".repeat(63)}`, sel({ k: "v".repeat(63) })],
];

for (const [text, expected] of VALID) {
  Deno.test(`parseSelector accepts ${JSON.stringify(text)}`, () => {
    assert.deepEqual(parseSelector(text), expected);
  });
}

const CHARSET =
  'letters, digits, "-", "_" and "." only, starting and ending with a letter or digit';
const K64 = "k".repeat(64);
const V64 = "v".repeat(64);

const INVALID: [string, string][] = [
  ["board=rpi4,env!=", `selector "board=rpi4,env!=": "env!=" needs a value after "!="`],
  ["env=", `selector "env=": "env=" needs a value after "="`],
  ["env==,a", `selector "env==,a": "env==" needs a value after "=="`],
  ["=x", `selector "=x": "=x" needs a key before "="`],
  ["a=1,", `selector "a=1,": nothing after the last ","`],
  ["a=1,,b", `selector "a=1,,b": empty requirement (two commas in a row, or a leading comma)`],
  [",a", `selector ",a": empty requirement (two commas in a row, or a leading comma)`],
  ["a=1,a=2", `selector "a=1,a=2": "a=2" contradicts the earlier "a=1"`],
  [
    "a>1",
    `selector "a>1": "a>1" uses operator ">", which is not supported (use =, ==, !=, in, notin, key or !key)`,
  ],
  [
    "a<1",
    `selector "a<1": "a<1" uses operator "<", which is not supported (use =, ==, !=, in, notin, key or !key)`,
  ],
  [
    "a b",
    `selector "a b": "a b" has an unexpected "b" after key "a" (expected "=", "==", "!=", "in", "notin", "," or the end)`,
  ],
  ["a=b=c", `selector "a=b=c": "a=b=c" has an unexpected "=" (expected "," or the end)`],
  [
    "!a=1",
    `selector "!a=1": "!a=1" has an unexpected "=": "!key" (does not exist) takes a key only`,
  ],
  ["!", `selector "!": "!" needs a key after "!"`],
  ["a!", `selector "a!": "a!" has "!" after the key; "!a" means "a" does not exist`],
  [
    "a in b",
    `selector "a in b": "a in b" needs a parenthesized list after "in", like "key in (a,b)"`,
  ],
  [
    "a notin",
    `selector "a notin": "a notin" needs a parenthesized list after "notin", like "key notin (a,b)"`,
  ],
  ["a in (x,y", `selector "a in (x,y": "a in (x,y" is missing ")"`],
  [
    "a in (x y)",
    `selector "a in (x y)": "a in (x y)" has an unexpected "y" in the value list (expected "," or ")")`,
  ],
  [
    "a in (x,y)) ",
    `selector "a in (x,y)) ": "a in (x,y))" has an unexpected ")" (expected "," or the end)`,
  ],
  ["(a)", `selector "(a)": "(a)" has an unexpected "(" where a key should be`],
  ["-a=1", `selector "-a=1": "-a=1" has an invalid key "-a": name must be ${CHARSET}`],
  ["a@b", `selector "a@b": "a@b" has an invalid key "a@b": name must be ${CHARSET}`],
  ["a/b/c", `selector "a/b/c": "a/b/c" has an invalid key "a/b/c": more than one "/"`],
  ["/b", `selector "/b": "/b" has an invalid key "/b": empty prefix before "/"`],
  ["a/", `selector "a/": "a/" has an invalid key "a/": empty name`],
  [
    "Ex.com/b",
    `selector "Ex.com/b": "Ex.com/b" has an invalid key "Ex.com/b": prefix must be a DNS subdomain (lowercase letters, digits, "-" and ".")`,
  ],
  [K64, `selector "${K64}": "${K64}" has an invalid key "${K64}": name longer than 63 characters`],
  ["a=-x", `selector "a=-x": "a=-x" has an invalid value "-x": must be ${CHARSET}`],
  [
    `a=${V64}`,
    `selector "a=${V64}": "a=${V64}" has an invalid value "${V64}": longer than 63 characters`,
  ],
  [
    "ok=1, a in (x,_y)",
    `selector "ok=1, a in (x,_y)": "a in (x,_y)" has an invalid value "_y": must be ${CHARSET}`,
  ],
];

for (const [text, message] of INVALID) {
  Deno.test(`parseSelector rejects ${JSON.stringify(text)}`, () => {
    assert.equal(selectorError(() => parseSelector(text)), message);
  });
}

Deno.test("a key prefix may be 253 characters long, not more", () => {
  const label = "a".repeat(62);
  const prefix = [label, label, label, label].join(".") + ".b"; // 253 characters
  assert.equal(prefix.length, 253);
  assert.deepEqual(parseSelector(`${prefix}/n=v`), sel({ [`${prefix}/n`]: "v" }));
  assert.match(selectorError(() => parseSelector(`x${prefix}/n=v`)), /longer than 253/);
});

const FORMATTED: [LabelSelector, string][] = [
  [sel(), ""],
  [sel({ z: "1", a: "2" }), "a=2,z=1"],
  [sel({}, req("e", "NotIn", "x")), "e!=x"],
  [sel({}, req("e", "NotIn", "x", "y")), "e notin (x,y)"],
  [sel({}, req("e", "In", "x", "y")), "e in (x,y)"],
  [sel({}, req("e", "In", "x")), "e in (x)"],
  [sel({}, req("e", "Exists")), "e"],
  [sel({}, req("e", "DoesNotExist")), "!e"],
  [sel({}, req("e", "NotIn", "")), "e notin ()"],
  [sel({ e: "" }), "e in ()"],
  [
    sel({ b: "1", a: "1" }, req("c", "DoesNotExist"), req("c", "Exists"), req("d", "In", "", "x")),
    "a=1,b=1,!c,c,d in (,x)",
  ],
];

for (const [selector, text] of FORMATTED) {
  Deno.test(`formatSelector writes ${JSON.stringify(text)}`, () => {
    assert.equal(formatSelector(selector), text);
  });
}

Deno.test("parseSelector(formatSelector(s)) gives s back", () => {
  for (const [text, selector] of VALID) {
    assert.deepEqual(parseSelector(formatSelector(selector)), selector, text);
  }
  for (const [selector] of FORMATTED) {
    // The one exception: an empty matchLabels value comes back as the equivalent `In [""]`.
    if (Object.values(selector.matchLabels).includes("")) continue;
    assert.deepEqual(parseSelector(formatSelector(selector)), selector);
  }
});

Deno.test("an empty matchLabels value comes back as the equivalent In requirement", () => {
  assert.deepEqual(parseSelector(formatSelector(sel({ e: "" }))), sel({}, req("e", "In", "")));
});

const MATCHES: [string, Record<string, string>, boolean][] = [
  ["", {}, true],
  ["", { a: "1" }, true],
  ["a=1", { a: "1" }, true],
  ["a=1", { a: "2" }, false],
  ["a=1", {}, false],
  ["a in ()", {}, false],
  ["a in ()", { a: "" }, true],
  ["a!=1", {}, true],
  ["a!=1", { a: "1" }, false],
  ["a!=1", { a: "2" }, true],
  ["a in (1,2)", { a: "2" }, true],
  ["a in (1,2)", { a: "3" }, false],
  ["a in (1,2)", {}, false],
  ["a notin (1,2)", {}, true],
  ["a notin (1,2)", { a: "1" }, false],
  ["a notin (1,2)", { a: "3" }, true],
  ["a", { a: "" }, true],
  ["a", {}, false],
  ["!a", {}, true],
  ["!a", { a: "" }, false],
  ["a=1,b", { a: "1", b: "x" }, true],
  ["a=1,b", { a: "1" }, false],
  ["toString", {}, false],
  ["!constructor", {}, true],
];

for (const [text, labels, expected] of MATCHES) {
  Deno.test(`${JSON.stringify(text)} ${expected ? "matches" : "does not match"} ${JSON.stringify(labels)}`, () => {
    assert.equal(matchesSelector(parseSelector(text), labels), expected);
  });
}

Deno.test("isEmptySelector is true only without any requirement", () => {
  assert.equal(isEmptySelector(sel()), true);
  assert.equal(isEmptySelector(parseSelector(" ")), true);
  assert.equal(isEmptySelector(sel({ a: "1" })), false);
  assert.equal(isEmptySelector(sel({}, req("a", "Exists"))), false);
});

Deno.test("normalizeSelector accepts the object form, text, and nothing", () => {
  assert.deepEqual(normalizeSelector(undefined), sel());
  assert.deepEqual(normalizeSelector(null), sel());
  assert.deepEqual(normalizeSelector({}), sel());
  assert.deepEqual(normalizeSelector("a=1,!b"), sel({ a: "1" }, req("b", "DoesNotExist")));
  const input = {
    matchLabels: { board: "rpi4" },
    matchExpressions: [
      { key: "env", operator: "In", values: ["a", "b"] },
      { key: "gpu", operator: "Exists" },
      { key: "old", operator: "DoesNotExist", values: [] },
    ],
  };
  const out = normalizeSelector(input);
  assert.deepEqual(
    out,
    sel(
      { board: "rpi4" },
      req("env", "In", "a", "b"),
      req("gpu", "Exists"),
      req("old", "DoesNotExist"),
    ),
  );
  // A copy: changing the result leaves the input alone.
  out.matchExpressions[0].values.push("c");
  assert.deepEqual(input.matchExpressions[0].values, ["a", "b"]);
});

const INVALID_OBJECTS: [unknown, string][] = [
  [42, "selector: expected an object, got number 42"],
  [[], "selector: expected an object, got a list"],
  [{ matchLabels: [] }, "selector matchLabels: expected a map, got a list"],
  [{ matchLabels: { a: 1 } }, `selector matchLabels "a": value must be a string, got number 1`],
  [
    { matchLabels: { "-a": "1" } },
    `selector matchLabels: invalid key "-a": name must be ${CHARSET}`,
  ],
  [
    { matchLabels: { a: "x y" } },
    `selector matchLabels "a": invalid value "x y": must be ${CHARSET}`,
  ],
  [{ matchExpressions: {} }, "selector matchExpressions: expected a list, got an object"],
  [{ matchExpressions: ["a"] }, `selector matchExpressions[0]: expected an object, got string "a"`],
  [
    { matchExpressions: [{ operator: "Exists" }] },
    "selector matchExpressions[0]: key must be a string",
  ],
  [
    { matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }] },
    `selector matchExpressions[0] ("a"): unknown operator "Gt" (expected In, NotIn, Exists or DoesNotExist)`,
  ],
  [
    { matchExpressions: [{ key: "a", operator: "In" }] },
    `selector matchExpressions[0] ("a" In): needs at least one value`,
  ],
  [
    { matchExpressions: [{ key: "a", operator: "NotIn", values: [] }] },
    `selector matchExpressions[0] ("a" NotIn): needs at least one value`,
  ],
  [
    { matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] },
    `selector matchExpressions[0] ("a" Exists): takes no values`,
  ],
  [
    { matchExpressions: [{ key: "a", operator: "DoesNotExist", values: ["x"] }] },
    `selector matchExpressions[0] ("a" DoesNotExist): takes no values`,
  ],
  [
    { matchExpressions: [{ key: "a", operator: "In", values: "x" }] },
    `selector matchExpressions[0] ("a" In): values must be a list`,
  ],
  [
    { matchExpressions: [{ key: "a", operator: "In", values: [1] }] },
    `selector matchExpressions[0] ("a" In): values must be strings, got number 1`,
  ],
  [
    { matchExpressions: [{ key: "ok", operator: "Exists" }, { key: "a b", operator: "Exists" }] },
    `selector matchExpressions[1]: invalid key "a b": name must be ${CHARSET}`,
  ],
];

for (const [input, message] of INVALID_OBJECTS) {
  Deno.test(`normalizeSelector rejects ${JSON.stringify(input)}`, () => {
    assert.equal(selectorError(() => normalizeSelector(input)), message);
  });
}

// A small deterministic PRNG (mulberry32), so a failing case can be replayed from its seed.
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = ["a", "b", "c", "x.io/d"];
const VALUES = ["", "1", "2", "v-3"];

function randomSelector(rand: () => number): LabelSelector {
  const pick = <T>(items: T[]) => items[Math.floor(rand() * items.length)];
  const someValues = () => {
    const values = VALUES.filter(() => rand() < 0.4);
    return values.length > 0 ? values : [pick(VALUES)];
  };
  const matchLabels: Record<string, string> = {};
  for (const key of KEYS) if (rand() < 0.25) matchLabels[key] = pick(VALUES);
  const matchExpressions: SelectorRequirement[] = [];
  const count = Math.floor(rand() * 4);
  for (let i = 0; i < count; i++) {
    const operator = pick(["In", "NotIn", "Exists", "DoesNotExist"] as const);
    const values = operator === "In" || operator === "NotIn" ? someValues() : [];
    matchExpressions.push({ key: pick(KEYS), operator, values });
  }
  return { matchLabels, matchExpressions };
}

function randomLabels(rand: () => number): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const key of KEYS) {
    if (rand() < 0.6) labels[key] = VALUES[Math.floor(rand() * VALUES.length)];
  }
  return labels;
}

Deno.test("property: the text form of a random selector matches the same label sets", () => {
  for (let seed = 1; seed <= 500; seed++) {
    const rand = prng(seed);
    const selector = randomSelector(rand);
    const text = formatSelector(selector);
    const reparsed = parseSelector(text);
    if (!Object.values(selector.matchLabels).includes("")) {
      assert.deepEqual(reparsed, selector, `seed ${seed}: ${text}`);
    }
    for (let i = 0; i < 20; i++) {
      const labels = randomLabels(rand);
      assert.equal(
        matchesSelector(reparsed, labels),
        matchesSelector(selector, labels),
        `seed ${seed}: ${text} on ${JSON.stringify(labels)}`,
      );
    }
  }
});
