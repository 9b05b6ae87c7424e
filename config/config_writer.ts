// Writing configuration files safely: the new text replaces the old one atomically (a crash
// leaves either of them, never half of one), files holding secrets are private, and a rewrite
// by the CLI keeps the comments and layout of a hand-edited file.

import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseDocument } from "yaml";
import { ConfigError } from "./errors.ts";

/** File mode of configuration files that hold tokens. */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Replaces `file` with `text`: written to a temporary file beside it, flushed, then renamed over
 * it. Creates missing parent folders (mode 0700). Fails with a ConfigError naming the file.
 *
 * @example
 * ```ts
 * writeFileAtomic("/home/me/.config/jumpstarter/clients/lab.yaml", text, { mode: 0o600 });
 * ```
 */
export function writeFileAtomic(file: string, text: string, options: { mode?: number } = {}): void {
  const mode = options.mode ?? 0o644;
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const fd = openSync(temp, "wx", mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(temp, mode); // the umask may have narrowed or widened nothing; be exact
    renameSync(temp, file);
  } catch (err) {
    try {
      rmSync(temp, { force: true });
    } catch {
      // Its folder is the problem; there is no temp file to remove.
    }
    const code = (err as { code?: string }).code;
    const reason = code === "EACCES" || code === "EPERM"
      ? "permission denied"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new ConfigError(file, "", `cannot write: ${reason}`);
  }
}

/**
 * Sets values in a YAML text and returns the new text, keeping everything else (comments,
 * order, quoting) as it was. `undefined` removes a key. Paths are lists of keys.
 *
 * @example
 * ```ts
 * updateYaml("# mine\nconfig:\n  current-client: a\n", [[["config", "current-client"], "b"]]);
 * ```
 */
export function updateYaml(
  text: string,
  changes: readonly (readonly [readonly string[], unknown])[],
): string {
  const doc = parseDocument(text);
  for (const [path, value] of changes) {
    if (value === undefined) doc.deleteIn(path);
    else doc.setIn(path, value);
  }
  return doc.toString();
}
