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
