// Where the client side keeps its configuration: one base folder holding the user config
// (`config.yaml`, which client is current) and the client configs (`clients/ALIAS.yaml`).

import { readFileSync } from "node:fs";
import { basename, extname, resolve } from "node:path";
import process from "node:process";
import { ConfigError } from "./errors.ts";
import { userConfigDir } from "./paths.ts";

/** An environment to read variables from; `process.env` by default. */
export type Env = Record<string, string | undefined>;

/**
 * The base folder of client configuration: `$JMP_CLIENT_CONFIG_HOME` when set (made absolute),
 * else the user's configuration directory (`$XDG_CONFIG_HOME/jumpstarter` or
 * `~/.config/jumpstarter`).
 *
 * @example
 * ```ts
 * clientConfigHome({ HOME: "/home/ada" }); // "/home/ada/.config/jumpstarter"
 * clientConfigHome({ JMP_CLIENT_CONFIG_HOME: "/srv/jmp" }); // "/srv/jmp"
 * ```
 */
export function clientConfigHome(env: Env = process.env): string {
  const home = env.JMP_CLIENT_CONFIG_HOME;
  return home ? resolve(home) : userConfigDir(env);
}

const READ_PROBLEMS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "is a directory",
  ENOTDIR: "a parent of it is not a directory",
};

/**
 * The text of `file`, read synchronously; fails like `readConfigFile` with a ConfigError
 * `FILE: cannot read: no such file` (or `permission denied`, `is a directory`, ...).
 *
 * @example
 * ```ts
 * const text = readConfigFileSync("/home/ada/.config/jumpstarter/clients/lab.yaml");
 * ```
 */
export function readConfigFileSync(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, "", `cannot read: ${readProblem(err)}`);
  }
}

/**
 * A short reason for a failed file operation: `no such file`, `permission denied`, ...
 *
 * @example
 * ```ts
 * readProblem(Object.assign(new Error("ENOENT ..."), { code: "ENOENT" })); // "no such file"
 * ```
 */
export function readProblem(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return (typeof code === "string" && READ_PROBLEMS[code]) ||
    (err instanceof Error ? err.message : String(err));
}

/**
 * The alias a file stands for: its name without the extension.
 *
 * @example
 * ```ts
 * aliasOfFile("/home/ada/.config/jumpstarter/clients/lab.yaml"); // "lab"
 * ```
 */
export function aliasOfFile(file: string): string {
  return basename(file, extname(file));
}
