// From a configuration file to plain data: reading its text and parsing its YAML, with errors
// that name the file (and, for syntax errors, the line and column).

import { readFile } from "node:fs/promises";
import { type Document, isCollection, LineCounter, parseDocument, visit } from "yaml";
import { ConfigError } from "./errors.ts";
import { describeValue } from "./fields.ts";

// Anchors and aliases are fine in a hand-written bench file; thousands of them are an attack.
const MAX_ALIASES = 1000;

const READ_PROBLEMS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "is a directory",
  ENOTDIR: "a parent of it is not a directory",
};

/**
 * The text of `file`. Fails with a ConfigError `FILE: cannot read: no such file` (or
 * `permission denied`, `is a directory`, ...).
 *
 * @example
 * ```ts
 * const text = await readConfigFile("/etc/jumpstarter/exporters/bench.yaml");
 * ```
 */
export async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const reason = (typeof code === "string" && READ_PROBLEMS[code]) ||
      (err instanceof Error ? err.message : String(err));
    throw new ConfigError(file, "", `cannot read: ${reason}`);
  }
}

/**
 * Parses one YAML document into plain values (mappings become objects, in file order). An empty
 * document is `null`. Syntax errors, several documents and non-scalar mapping keys fail with a
 * one-line ConfigError: `FILE: invalid YAML at 3:7: <the parser's reason>`.
 *
 * @example
 * ```ts
 * parseYaml("export:\n  power: {type: MockPower}\n", "bench.yaml");
 * // { export: { power: { type: "MockPower" } } }
 * ```
 */
export function parseYaml(text: string, file: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const [error] = doc.errors;
  if (error) {
    const at = error.linePos?.[0] ?? lines.linePos(error.pos[0]);
    // The parser's message continues with "at line L, column C:" and a source excerpt; the
    // position is given once, up front, and the excerpt would break the one-line message.
    const reason = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new ConfigError(file, "", `invalid YAML at ${at.line}:${at.col}: ${reason}`);
  }
  const keyProblem = collectionKeyProblem(doc, lines);
  if (keyProblem) throw new ConfigError(file, "", keyProblem);
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new ConfigError(file, "", `invalid YAML: ${reason}`);
  }
}

/**
 * Parses a configuration document that must be a mapping. An empty document fails with
 * `FILE: is empty; <emptyHint>`, anything else with `FILE: must be a mapping (<shape>), got ...`.
 *
 * @example
 * ```ts
 * const data = parseYamlMapping(text, file, { emptyHint: "add endpoint and token", shape: "endpoint: ..." });
 * ```
 */
export function parseYamlMapping(
  text: string,
  file: string,
  hints: { emptyHint: string; shape: string },
): Record<string, unknown> {
  const data = parseYaml(text, file);
  if (data === null || data === undefined) {
    throw new ConfigError(file, "", `is empty; ${hints.emptyHint}`);
  }
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError(
      file,
      "",
      `must be a mapping (${hints.shape}), got ${describeValue(data)}`,
    );
  }
  return data as Record<string, unknown>;
}

/**
 * Says where a list or mapping is used as a mapping key, if anywhere: it would be stringified
 * into something nobody wrote (`[ a, b ]`), with a runtime warning on the console.
 */
export function collectionKeyProblem(doc: Document, lines: LineCounter): string | undefined {
  let problem: string | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (!isCollection(pair.key)) return;
      const at = lines.linePos(pair.key.range?.[0] ?? 0);
      problem =
        `invalid YAML at ${at.line}:${at.col}: a mapping key must be a plain value, not a list or mapping`;
      return visit.BREAK;
    },
  });
  return problem;
}
