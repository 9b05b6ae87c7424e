// Where configuration files live: the user's directory (XDG) first, then the system-wide one
// that production deployments (systemd units, containers) mount.

import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import process from "node:process";
import { AliasError, ConfigError } from "./errors.ts";

/** The system-wide configuration directory. */
export const SYSTEM_CONFIG_DIR = "/etc/jumpstarter";
/** Environment variable that moves the system-wide directory (tests, containers, packaging). */
export const SYSTEM_CONFIG_DIR_ENV = "JMP_SYSTEM_CONFIG_DIR";

/**
 * The system-wide directory: `$JMP_SYSTEM_CONFIG_DIR` when set, else `/etc/jumpstarter`.
 *
 * @example
 * ```ts
 * systemConfigDir({}); // "/etc/jumpstarter"
 * ```
 */
export function systemConfigDir(env: Record<string, string | undefined> = process.env): string {
  return env[SYSTEM_CONFIG_DIR_ENV] || SYSTEM_CONFIG_DIR;
}

/** Where to look; both default to the real ones, tests pass temporary directories. */
export interface ConfigPathOptions {
  /** Environment read for `XDG_CONFIG_HOME` and `HOME`; default `process.env`. */
  env?: Record<string, string | undefined>;
  /** The system-wide directory; default `systemConfigDir(env)`. */
  systemDir?: string;
}

/**
 * Fails with an AliasError unless `alias` can name a file of its own: it must not be empty,
 * `.` or `..`, nor contain `/` or `\`.
 *
 * @example
 * ```ts
 * validateAlias("bench-1"); // fine
 * validateAlias("../etc"); // throws: alias "../etc": must not contain "/" or "\" ...
 * ```
 */
export function validateAlias(alias: string): void {
  if (alias === "") throw new AliasError(alias, "must not be empty");
  if (alias === "." || alias === "..") {
    throw new AliasError(alias, "must not be . or .., it names a file");
  }
  if (alias.includes("/") || alias.includes("\\")) {
    throw new AliasError(
      alias,
      'must not contain "/" or "\\": it names a file in a fixed directory',
    );
  }
}

/**
 * The user's Jumpstarter configuration directory: `$XDG_CONFIG_HOME/jumpstarter`, or
 * `~/.config/jumpstarter` when that is unset (or relative, which the XDG spec says to ignore).
 *
 * @example
 * ```ts
 * userConfigDir({ HOME: "/home/ada" }); // "/home/ada/.config/jumpstarter"
 * ```
 */
export function userConfigDir(env: Record<string, string | undefined> = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), ".config");
  return join(base, "jumpstarter");
}

/**
 * The exporter config files for `alias`, in search order: the user's
 * (`$XDG_CONFIG_HOME/jumpstarter/exporters/ALIAS.yaml`), then the system's
 * (`/etc/jumpstarter/exporters/ALIAS.yaml`).
 *
 * @example
 * ```ts
 * exporterConfigPaths("bench", { env: { HOME: "/home/ada" } });
 * // ["/home/ada/.config/jumpstarter/exporters/bench.yaml", "/etc/jumpstarter/exporters/bench.yaml"]
 * ```
 */
export function exporterConfigPaths(alias: string, options: ConfigPathOptions = {}): string[] {
  validateAlias(alias);
  const file = `${alias}.yaml`;
  return [
    join(userConfigDir(options.env ?? process.env), "exporters", file),
    join(options.systemDir ?? systemConfigDir(options.env ?? process.env), "exporters", file),
  ];
}

/**
 * The user's exporter config file for `alias`, where a new one is written, whether it exists or
 * not.
 *
 * @example
 * ```ts
 * exporterConfigPath("bench"); // "/home/ada/.config/jumpstarter/exporters/bench.yaml"
 * ```
 */
export function exporterConfigPath(alias: string, options: ConfigPathOptions = {}): string {
  return exporterConfigPaths(alias, options)[0];
}

/**
 * The first existing exporter config file for `alias` in search order (see
 * `exporterConfigPaths`). Fails with a ConfigError listing the paths tried.
 *
 * @example
 * ```ts
 * const config = await loadExporterConfig(findExporterConfig("bench"));
 * ```
 */
export function findExporterConfig(alias: string, options: ConfigPathOptions = {}): string {
  const candidates = exporterConfigPaths(alias, options);
  const found = candidates.find((path) => existsSync(path));
  if (found !== undefined) return found;
  throw new ConfigError(
    `exporter "${alias}"`,
    "",
    `no config file; looked for ${candidates.join(" and ")}`,
  );
}
