// How this program runs itself again (the exporter behind `jmp shell`, the `j` command): the
// binary alone when compiled, the runtime plus the script in a source checkout.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";

function findUp(start: string, name: string): string | undefined {
  for (let dir = start;; dir = dirname(dir)) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The command line that starts this program again, to be followed by its arguments.
 *
 * @example
 * ```ts
 * spawn(...selfCommand(), "exporter", "serve", ...);
 * ```
 */
export function selfCommand(): string[] {
  const script = process.argv[1];
  // A compiled binary's script path is virtual (Bun: /$bunfs/...), so it does not exist.
  if (!script || !/\.[cm]?[jt]s$/.test(script) || !existsSync(script)) return [process.execPath];
  if ("Deno" in globalThis) {
    // The import map lives in deno.json, which Deno looks up from the working directory only.
    const config = findUp(dirname(script), "deno.json");
    return [process.execPath, "run", "-A", ...(config ? ["--config", config] : []), script];
  }
  return [process.execPath, "run", script];
}
