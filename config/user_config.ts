// The user config (`<base>/config.yaml`, `kind: UserConfig`): which client config is current.
// Rewrites keep the comments and other keys of a hand-edited file.

import { statSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { stringify } from "yaml";
import { ConfigError } from "./errors.ts";
import { describeValue, Fields } from "./fields.ts";
import { parseYaml, readConfigFile } from "./source.ts";
import { validateAlias } from "./paths.ts";
import { updateYaml, writeFileAtomic } from "./config_writer.ts";
import { clientConfigHome, type Env, readConfigFileSync } from "./client_paths.ts";

/** The only `apiVersion` of user configs. */
export const USER_CONFIG_API_VERSION = "jumpstarter.dev/v1alpha1";

/** The user config as read. */
export interface UserConfig {
  /** Absolute path of the file (which may not exist). */
  file: string;
  /** From `config.current-client`; undefined when absent, null or empty. */
  currentClient?: string;
}

/**
 * The user config file: `<base>/config.yaml`, where `<base>` is `$JMP_CLIENT_CONFIG_HOME` or
 * `$XDG_CONFIG_HOME/jumpstarter` (`~/.config/jumpstarter`).
 *
 * @example
 * ```ts
 * userConfigPath({ HOME: "/home/ada" }); // "/home/ada/.config/jumpstarter/config.yaml"
 * ```
 */
export function userConfigPath(env: Env = process.env): string {
  return join(clientConfigHome(env), "config.yaml");
}

/**
 * Parses and validates the text of a user config; `file` names it in errors. An empty document
 * is a user config with no current client.
 *
 * @example
 * ```ts
 * parseUserConfig("kind: UserConfig\nconfig:\n  current-client: lab\n", "config.yaml");
 * // { file: "/.../config.yaml", currentClient: "lab" }
 * ```
 */
export function parseUserConfig(text: string, file: string): UserConfig {
  const absolute = resolve(file);
  const data = parseYaml(text, absolute);
  if (data !== null && data !== undefined && (typeof data !== "object" || Array.isArray(data))) {
    throw new ConfigError(
      absolute,
      "",
      `must be a mapping (apiVersion: ..., kind: UserConfig, config: ...), got ${
        describeValue(data)
      }`,
    );
  }
  const f = new Fields(data, { file: absolute, path: "" });
  f.expectKeys(["apiVersion", "kind", "config"]);
  f.choice("apiVersion", [USER_CONFIG_API_VERSION], { default: USER_CONFIG_API_VERSION });
  f.choice("kind", ["UserConfig"], { default: "UserConfig" });
  const config = f.mapping("config");
  config.expectKeys(["current-client"]);
  const current = config.optionalString("current-client") || undefined;
  if (current !== undefined) {
    try {
      validateAlias(current);
    } catch (err) {
      const problem = err instanceof ConfigError ? err.problem : String(err);
      throw config.error("current-client", `"${current}" is not a client alias: ${problem}`);
    }
  }
  return current === undefined ? { file: absolute } : { file: absolute, currentClient: current };
}

/**
 * Reads the user config. A missing file is a user config with no current client; a malformed
 * one fails with a ConfigError naming the file and YAML path.
 *
 * @example
 * ```ts
 * const { currentClient } = await loadUserConfig();
 * ```
 */
export async function loadUserConfig(env: Env = process.env): Promise<UserConfig> {
  const file = userConfigPath(env);
  let text: string;
  try {
    text = await readConfigFile(file);
  } catch (err) {
    if (isMissing(file)) return { file };
    throw err;
  }
  return parseUserConfig(text, file);
}

/**
 * Makes `alias` the current client (`undefined`: none, written `current-client: null`). Creates
 * the user config when missing; otherwise changes only that value, keeping comments and other
 * keys. Does not check that the client config exists. Fails with an AliasError for a bad alias
 * and a ConfigError for a malformed user config.
 *
 * @example
 * ```ts
 * setCurrentClient("lab");
 * setCurrentClient(undefined); // no current client
 * ```
 */
export function setCurrentClient(alias: string | undefined, env: Env = process.env): void {
  if (alias !== undefined) validateAlias(alias);
  const file = userConfigPath(env);
  const value = alias ?? null;
  if (isMissing(file)) {
    writeFileAtomic(file, renderUserConfig(value));
    return;
  }
  const text = readConfigFileSync(file);
  const data = parseYaml(text, file);
  parseUserConfig(text, file); // refuse to rewrite a file we cannot read
  const hasConfigMapping = typeof data === "object" && data !== null &&
    typeof (data as Record<string, unknown>).config === "object" &&
    (data as Record<string, unknown>).config !== null;
  const updated = data === null || data === undefined
    ? renderUserConfig(value)
    : hasConfigMapping
    ? updateYaml(text, [[["config", "current-client"], value]])
    : updateYaml(text, [[["config"], { "current-client": value }]]);
  writeFileAtomic(file, updated, { mode: statSync(file).mode & 0o777 });
}

function renderUserConfig(current: string | null): string {
  return stringify({
    apiVersion: USER_CONFIG_API_VERSION,
    kind: "UserConfig",
    config: { "current-client": current },
  });
}

function isMissing(file: string): boolean {
  try {
    statSync(file);
    return false;
  } catch (err) {
    return (err as { code?: unknown }).code === "ENOENT";
  }
}
