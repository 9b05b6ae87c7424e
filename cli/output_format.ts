// `-o text|json|yaml|name` for listing commands: one place that renders rows either way.

import { stringify } from "yaml";
import { type Context, usageError } from "./command.ts";

/** Formats a listing command offers. */
export const LIST_FORMATS = ["text", "json", "yaml", "name"] as const;
export type ListFormat = typeof LIST_FORMATS[number];

/** Checks `-o`'s value. */
export function listFormat(value: string, ctx: Context): ListFormat {
  if (!(LIST_FORMATS as readonly string[]).includes(value)) {
    throw usageError(`unknown output format "${value}", expected ${LIST_FORMATS.join(", ")}`, ctx);
  }
  return value as ListFormat;
}

/**
 * Renders `rows` as an aligned table under `columns` (text), as JSON or YAML (the rows as
 * objects), or one `name` per line.
 *
 * @example
 * ```ts
 * renderRows([{ alias: "lab", path: "/x" }], "text", [["ALIAS", "alias"], ["PATH", "path"]], "alias");
 * ```
 */
export function renderRows<T extends Record<string, unknown>>(
  rows: readonly T[],
  format: ListFormat,
  columns: readonly (readonly [string, keyof T])[],
  nameKey: keyof T,
): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(rows, null, 2)}\n`;
    case "yaml":
      return rows.length ? stringify(rows) : "[]\n";
    case "name":
      return rows.map((row) => `${row[nameKey]}\n`).join("");
    case "text": {
      const cells = [
        columns.map(([title]) => title),
        ...rows.map((row) => columns.map(([, key]) => String(row[key] ?? ""))),
      ];
      const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
      return cells.map((line) => line.map((c, i) => c.padEnd(widths[i])).join("   ").trimEnd())
        .join("\n") + "\n";
    }
  }
}

/** Where a shown value came from. */
export interface Provenance {
  source: string;
  detail: string;
}

/**
 * `show` output: the file, then one line per value with where it came from; or, with `json`,
 * `{file, values: {key: {value, source, detail}}}`.
 *
 * @example
 * ```ts
 * renderProvenance("/x.yaml", { endpoint: "e:1" }, { endpoint: { source: "env", detail: "JMP_ENDPOINT" } }, "text");
 * ```
 */
export function renderProvenance(
  file: string | undefined,
  shown: Record<string, unknown>,
  sources: Record<string, Provenance>,
  format: "text" | "json",
): string {
  if (format === "json") {
    const values = Object.fromEntries(
      Object.entries(shown).map(([key, value]) => [key, { value, ...sources[key] }]),
    );
    return `${JSON.stringify({ file: file ?? null, values }, null, 2)}\n`;
  }
  const width = Math.max(...Object.keys(shown).map((k) => k.length));
  const valueWidth = Math.max(...Object.values(shown).map((v) => String(v).length));
  const lines = Object.entries(shown).map(([key, value]) => {
    const from = sources[key] ? `(${sources[key].source}: ${sources[key].detail})` : "";
    return `  ${key.padEnd(width)}  ${String(value).padEnd(valueWidth)}  ${from}`.trimEnd();
  });
  return `config: ${file ?? "(environment only)"}\n${lines.join("\n")}\n`;
}
