// Label selectors in upstream's text form (Kubernetes `labels.Parse` syntax) and in the
// protobuf-ish object form, with Kubernetes matching semantics.
//
// Text syntax: comma-separated requirements, each one of
//   key=value  key==value  key!=value  key in (a,b)  key notin (a,b)  key  !key
// Whitespace between tokens is ignored. An empty text is the empty selector (matches all).
//
// One deliberate difference from Kubernetes: `key=`, `key==` and `key!=` with nothing after
// the operator are errors here (Kubernetes reads them as "equals the empty value"). A
// forgotten value is far more often a typo than a wish; the empty value stays expressible
// as `key in ()` / `key notin ()`, which Kubernetes reads the same way.

import type { LabelSelector, SelectorRequirement } from "./store/types.ts";

/** A selector that cannot be parsed or is not valid; the message is one line. */
export class SelectorError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SelectorError";
  }
}

type Operator = SelectorRequirement["operator"];
const OPERATORS: readonly Operator[] = ["In", "NotIn", "Exists", "DoesNotExist"];

// ---------------------------------------------------------------------------------------
// Label key and value validation (Kubernetes IsQualifiedName / IsValidLabelValue)

const NAME_MAX = 63;
const PREFIX_MAX = 253;
const NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CHARSET =
  'letters, digits, "-", "_" and "." only, starting and ending with a letter or digit';

/**
 * Why `key` is not a valid Kubernetes label key (a phrase such as `name longer than 63
 * characters`), or undefined when it is valid.
 */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return `more than one "/"`;
  const name = parts[parts.length - 1];
  if (parts.length === 2) {
    const prefix = parts[0];
    if (prefix === "") return `empty prefix before "/"`;
    if (prefix.length > PREFIX_MAX) return `prefix longer than ${PREFIX_MAX} characters`;
    if (!DNS_SUBDOMAIN_RE.test(prefix)) {
      return `prefix must be a DNS subdomain (lowercase letters, digits, "-" and ".")`;
    }
  }
  if (name === "") return "empty name";
  if (name.length > NAME_MAX) return `name longer than ${NAME_MAX} characters`;
  if (!NAME_RE.test(name)) return `name must be ${CHARSET}`;
  return undefined;
}

/** Why `value` is not a valid Kubernetes label value, or undefined when it is valid. */
export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > NAME_MAX) return `longer than ${NAME_MAX} characters`;
  if (!NAME_RE.test(value)) return `must be ${CHARSET}`;
  return undefined;
}

const invalidKey = (key: string, problem: string) => `invalid key "${key}": ${problem}`;
const invalidValue = (value: string, problem: string) => `invalid value "${value}": ${problem}`;

// ---------------------------------------------------------------------------------------
// Text form: lexer

type TokenKind = "id" | "op" | "(" | ")" | ",";
interface Token {
  kind: TokenKind;
  text: string;
  /** Offset of the token's first character in the selector text. */
  pos: number;
}

// The characters that end an identifier, as in Kubernetes' lexer.
const SPECIAL = new Set(["!", "=", ",", "(", ")", "<", ">"]);
const isSpace = (c: string) => c === " " || c === "\t" || c === "\n" || c === "\r";

function lex(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (isSpace(c)) {
      i++;
    } else if (c === "(" || c === ")" || c === ",") {
      tokens.push({ kind: c, text: c, pos: i++ });
    } else if (SPECIAL.has(c)) {
      // "==" and "!=" are one operator each; "=", "!", "<", ">" stand alone.
      const two = text.slice(i, i + 2);
      const op = two === "==" || two === "!=" ? two : c;
      tokens.push({ kind: "op", text: op, pos: i });
      i += op.length;
    } else {
      const start = i;
      while (i < text.length && !isSpace(text[i]) && !SPECIAL.has(text[i])) i++;
      tokens.push({ kind: "id", text: text.slice(start, i), pos: start });
    }
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------
// Text form: parser

class Parser {
  private i = 0;
  /** Index of the first token of the requirement being parsed (for error messages). */
  private reqStart = 0;
  readonly selector: LabelSelector = { matchLabels: {}, matchExpressions: [] };

  constructor(private readonly text: string, private readonly tokens: Token[]) {}

  parse(): LabelSelector {
    if (this.tokens.length === 0) return this.selector;
    for (;;) {
      this.reqStart = this.i;
      this.requirement();
      const next = this.next();
      if (next === undefined) return this.selector;
      if (next.kind !== ",") {
        this.fail(`has an unexpected "${next.text}" (expected "," or the end)`);
      }
      if (this.peek() === undefined) this.fail(`nothing after the last ","`, true);
    }
  }

  private requirement(): void {
    const first = this.peek();
    if (first === undefined || first.kind === ",") {
      this.fail("empty requirement (two commas in a row, or a leading comma)", true);
    }
    if (first.kind === "op" && first.text === "!") return this.doesNotExist();
    if (first.kind === "op") this.fail(`needs a key before "${first.text}"`);
    if (first.kind !== "id") this.fail(`has an unexpected "${first.text}" where a key should be`);
    this.i++;
    const key = this.checkedKey(first.text);
    const op = this.peek();
    if (op === undefined || op.kind === ",") return this.push(key, "Exists", []);
    if (op.kind === "op") return this.comparison(key, op.text);
    if (op.kind === "id" && (op.text === "in" || op.text === "notin")) {
      this.i++;
      return this.push(key, op.text === "in" ? "In" : "NotIn", this.valueList(op.text));
    }
    this.fail(
      `has an unexpected "${op.text}" after key "${key}" (expected "=", "==", "!=", "in", "notin", "," or the end)`,
    );
  }

  private doesNotExist(): void {
    this.i++; // "!"
    const tok = this.next();
    if (tok === undefined || tok.kind !== "id") this.fail(`needs a key after "!"`);
    const key = this.checkedKey(tok.text);
    const after = this.peek();
    if (after !== undefined && after.kind !== ",") {
      this.fail(`has an unexpected "${after.text}": "!key" (does not exist) takes a key only`);
    }
    this.push(key, "DoesNotExist", []);
  }

  private comparison(key: string, op: string): void {
    this.i++;
    if (op === "<" || op === ">") {
      this.fail(
        `uses operator "${op}", which is not supported (use =, ==, !=, in, notin, key or !key)`,
      );
    }
    if (op === "!") this.fail(`has "!" after the key; "!${key}" means "${key}" does not exist`);
    const tok = this.peek();
    if (tok === undefined || tok.kind !== "id") this.fail(`needs a value after "${op}"`);
    this.i++;
    const value = this.checkedValue(tok.text);
    if (op === "!=") return this.push(key, "NotIn", [value]);
    // hasOwn: a key such as "toString" must not find Object.prototype's.
    const labels = this.selector.matchLabels;
    const previous = Object.hasOwn(labels, key) ? labels[key] : undefined;
    if (previous !== undefined && previous !== value) {
      this.fail(`contradicts the earlier "${key}=${previous}"`);
    }
    this.selector.matchLabels[key] = value;
  }

  /** `( v1, v2 )`; empty items are the empty value, as in Kubernetes (`()` is `("")`). */
  private valueList(keyword: string): string[] {
    const open = this.next();
    if (open === undefined || open.kind !== "(") {
      this.fail(`needs a parenthesized list after "${keyword}", like "key ${keyword} (a,b)"`);
    }
    const values: string[] = [];
    let expectValue = true;
    for (;;) {
      const tok = this.next();
      if (tok === undefined) this.fail(`is missing ")"`);
      if (tok.kind === ")") {
        if (expectValue) values.push("");
        return values;
      }
      if (tok.kind === ",") {
        if (expectValue) values.push("");
        expectValue = true;
      } else if (tok.kind === "id" && expectValue) {
        values.push(this.checkedValue(tok.text));
        expectValue = false;
      } else {
        this.fail(`has an unexpected "${tok.text}" in the value list (expected "," or ")")`);
      }
    }
  }

  private checkedKey(key: string): string {
    const problem = labelKeyProblem(key);
    if (problem) this.fail(`has an ${invalidKey(key, problem)}`);
    return key;
  }

  private checkedValue(value: string): string {
    const problem = labelValueProblem(value);
    if (problem) this.fail(`has an ${invalidValue(value, problem)}`);
    return value;
  }

  private push(key: string, operator: Operator, values: string[]): void {
    this.selector.matchExpressions.push({ key, operator, values });
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  private next(): Token | undefined {
    return this.tokens[this.i++];
  }

  /** Throws, naming the requirement being parsed (or, if `bare`, only the cause). */
  private fail(cause: string, bare = false): never {
    const where = bare ? "" : `"${this.currentPart()}" `;
    throw new SelectorError(`selector "${this.text}": ${where}${cause}`);
  }

  /** The text of the requirement being parsed: up to the next top-level comma. */
  private currentPart(): string {
    const start = this.tokens[this.reqStart]?.pos ?? this.text.length;
    let depth = 0;
    for (let j = this.reqStart; j < this.tokens.length; j++) {
      const tok = this.tokens[j];
      if (tok.kind === "(") depth++;
      if (tok.kind === ")") depth = Math.max(0, depth - 1);
      if (tok.kind === "," && depth === 0) return this.text.slice(start, tok.pos).trim();
    }
    return this.text.slice(start).trim();
  }
}

/** Parses upstream's label-selector text (Kubernetes syntax); throws SelectorError. */
export function parseSelector(text: string): LabelSelector {
  return new Parser(text, lex(text)).parse();
}

// ---------------------------------------------------------------------------------------
// Text form: formatting

/**
 * The text form of a (valid) selector: matchLabels sorted by key, then the expressions in
 * their order. The output is also valid Kubernetes syntax, so it can go to upstream as is.
 */
export function formatSelector(sel: LabelSelector): string {
  const parts: string[] = [];
  for (const key of Object.keys(sel.matchLabels).sort()) {
    const value = sel.matchLabels[key];
    // An empty value can't follow "=" here (see the header), and "in ()" means the same.
    parts.push(value === "" ? `${key} in ()` : `${key}=${value}`);
  }
  for (const req of sel.matchExpressions) parts.push(formatRequirement(req));
  return parts.join(",");
}

function formatRequirement({ key, operator, values }: SelectorRequirement): string {
  switch (operator) {
    case "In":
      return `${key} in (${values.join(",")})`;
    case "NotIn":
      if (values.length === 1 && values[0] !== "") return `${key}!=${values[0]}`;
      return `${key} notin (${values.join(",")})`;
    case "Exists":
      return key;
    case "DoesNotExist":
      return `!${key}`;
  }
}

// ---------------------------------------------------------------------------------------
// Matching

/** Whether `labels` satisfy `sel`, with Kubernetes semantics (all requirements must hold). */
export function matchesSelector(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(sel.matchLabels)) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  return sel.matchExpressions.every((req) => matchesRequirement(req, labels));
}

function matchesRequirement(req: SelectorRequirement, labels: Record<string, string>): boolean {
  const present = Object.hasOwn(labels, req.key);
  switch (req.operator) {
    case "In":
      return present && req.values.includes(labels[req.key]);
    case "NotIn":
      // An absent key is "not in" any set, as in Kubernetes.
      return !present || !req.values.includes(labels[req.key]);
    case "Exists":
      return present;
    case "DoesNotExist":
      return !present;
  }
}

/** Whether `sel` has no requirement at all (and so matches every label set). */
export function isEmptySelector(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels).length === 0 && sel.matchExpressions.length === 0;
}

// ---------------------------------------------------------------------------------------
// Object form

/**
 * A validated copy of a selector given as `{matchLabels?, matchExpressions?}` (protobuf or
 * JSON/YAML form), or as text. Undefined and null are the empty selector. Throws
 * SelectorError on an unknown operator, missing values for In/NotIn, values given to
 * Exists/DoesNotExist, or invalid keys and values.
 */
export function normalizeSelector(obj: unknown): LabelSelector {
  if (obj === undefined || obj === null) return { matchLabels: {}, matchExpressions: [] };
  if (typeof obj === "string") return parseSelector(obj);
  if (!isRecord(obj)) throw new SelectorError(`selector: expected an object, got ${typeName(obj)}`);
  return {
    matchLabels: normalizeMatchLabels(obj.matchLabels),
    matchExpressions: normalizeExpressions(obj.matchExpressions),
  };
}

function normalizeMatchLabels(raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) {
    throw new SelectorError(`selector matchLabels: expected a map, got ${typeName(raw)}`);
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    const where = `selector matchLabels "${key}"`;
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) throw new SelectorError(`selector matchLabels: ${invalidKey(key, keyProblem)}`);
    if (typeof value !== "string") {
      throw new SelectorError(`${where}: value must be a string, got ${typeName(value)}`);
    }
    const valueProblem = labelValueProblem(value);
    if (valueProblem) throw new SelectorError(`${where}: ${invalidValue(value, valueProblem)}`);
    out[key] = value;
  }
  return out;
}

function normalizeExpressions(raw: unknown): SelectorRequirement[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    throw new SelectorError(`selector matchExpressions: expected a list, got ${typeName(raw)}`);
  }
  return raw.map((item, index) =>
    normalizeRequirement(item, `selector matchExpressions[${index}]`)
  );
}

function normalizeRequirement(raw: unknown, where: string): SelectorRequirement {
  if (!isRecord(raw)) throw new SelectorError(`${where}: expected an object, got ${typeName(raw)}`);
  const { key, operator } = raw;
  if (typeof key !== "string") throw new SelectorError(`${where}: key must be a string`);
  const keyProblem = labelKeyProblem(key);
  if (keyProblem) throw new SelectorError(`${where}: ${invalidKey(key, keyProblem)}`);
  if (!OPERATORS.includes(operator as Operator)) {
    throw new SelectorError(
      `${where} ("${key}"): unknown operator ${
        JSON.stringify(operator)
      } (expected In, NotIn, Exists or DoesNotExist)`,
    );
  }
  const values = normalizeValues(raw.values, `${where} ("${key}" ${operator})`);
  const needsValues = operator === "In" || operator === "NotIn";
  if (needsValues && values.length === 0) {
    throw new SelectorError(`${where} ("${key}" ${operator}): needs at least one value`);
  }
  if (!needsValues && values.length > 0) {
    throw new SelectorError(`${where} ("${key}" ${operator}): takes no values`);
  }
  return { key, operator: operator as Operator, values };
}

function normalizeValues(raw: unknown, where: string): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new SelectorError(`${where}: values must be a list`);
  return raw.map((value) => {
    if (typeof value !== "string") {
      throw new SelectorError(`${where}: values must be strings, got ${typeName(value)}`);
    }
    const problem = labelValueProblem(value);
    if (problem) throw new SelectorError(`${where}: ${invalidValue(value, problem)}`);
    return value;
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}
