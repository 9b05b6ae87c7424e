// The client config a command actually uses: the chosen file (explicit, from the environment,
// or the current client) with environment variables laid over it, and, for each value that
// matters, where it came from.

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { ConfigError } from "./errors.ts";
import {
  CLIENT_API_VERSION,
  type ClientConfig,
  clientConfigPath,
  LEASE_DEFAULTS,
  parseClientConfigSources,
  readDrivers,
  TRACKED_KEYS,
  type TrackedKey,
} from "./client_config.ts";
import { type Env } from "./client_paths.ts";
import { readConfigFile } from "./source.ts";
import { loadUserConfig } from "./user_config.ts";

/** Where a value came from: the client config file, an environment variable, or a default. */
export type Source = "file" | "env" | "default";

/** The origin of one value: `detail` is the file path, the variable's name, or the default. */
export interface SourceInfo {
  /** The kind of origin. */
  source: Source;
  /** The file's path, the environment variable's name, or what the default is. */
  detail: string;
}

/** A client config after environment overrides, with the origin of each tracked value. */
export interface EffectiveClientConfig {
  /** The config with the environment's values laid over the file's. */
  config: ClientConfig;
  /** Keyed by `endpoint`, `token`, `metadata.name`, `metadata.namespace`, `tls.insecure`,
   * `tls.ca`, `drivers.allow`, `drivers.unsafe`. */
  sources: Record<string, SourceInfo>;
}

/** Which client config to use; both default to the environment's and the user config's choice. */
export interface ResolveClientOptions {
  /** A client's alias (`--client`). */
  alias?: string;
  /** A client config file (`--client-config`). */
  file?: string;
  /** The environment; default `process.env`. */
  env?: Env;
}

/** The alias of a config made from environment variables only. */
export const ENV_ALIAS = "env";

/** Values that switch a boolean environment variable on. */
export const TRUE_WORDS = ["1", "true", "yes", "on"];
const FALSE_WORDS = ["0", "false", "no", "off"];

/**
 * The client config to use and where its values came from. The file is, in order: `file`,
 * `$JMP_CLIENT_CONFIG`, `alias`'s file, `$JMP_CLIENT`'s file, the current client of the user
 * config; with none of them the config is made from the environment alone. Then `JMP_ENDPOINT`,
 * `JMP_TOKEN`, `JMP_NAMESPACE`, `JMP_NAME`, `JMP_DRIVERS_ALLOW` (comma list; `UNSAFE` means
 * unsafe), `JMP_DRIVERS_UNSAFE`, `JUMPSTARTER_GRPC_INSECURE`/`JMP_GRPC_INSECURE` override the
 * file. Fails with a ConfigError when the endpoint or token is missing, saying how to set it,
 * e.g. ``no client config: run `jmp client create NAME` or set JMP_ENDPOINT and JMP_TOKEN``.
 *
 * @example
 * ```ts
 * const { config, sources } = await resolveClientConfig({ alias: flags.client });
 * sources.endpoint; // { source: "env", detail: "JMP_ENDPOINT" }
 * ```
 */
export async function resolveClientConfig(
  options: ResolveClientOptions = {},
): Promise<EffectiveClientConfig> {
  const env = options.env ?? process.env;
  const chosen = await chooseFile(options, env);
  let config: ClientConfig;
  let fromFile: Set<TrackedKey>;
  if (chosen.file !== undefined) {
    ({ config, fromFile } = parseClientConfigSources(
      await readConfigFile(chosen.file),
      chosen.file,
    ));
  } else {
    config = envOnlyConfig();
    fromFile = new Set();
  }

  const sources: Record<string, SourceInfo> = {};
  for (const key of TRACKED_KEYS) {
    sources[key] = fromFile.has(key) && config.file !== undefined
      ? { source: "file", detail: config.file }
      : { source: "default", detail: defaultDetail(key, config) };
  }
  applyEnv(config, sources, env);
  checkComplete(config, chosen.note);
  return { config, sources };
}

/**
 * A token as it may be shown: its first characters and its length, e.g. `eyJh…(412 chars)`;
 * `(not set)` when there is none. Short tokens show no characters at all.
 *
 * @example
 * ```ts
 * redactToken("eyJhbGciOiJFUzI1NiJ9.e30.c2ln"); // "eyJh…(28 chars)"
 * redactToken(undefined); // "(not set)"
 * ```
 */
export function redactToken(token?: string): string {
  if (!token) return "(not set)";
  const length = `(${token.length} char${token.length === 1 ? "" : "s"})`;
  return token.length >= 16 ? `${token.slice(0, 4)}…${length}` : `…${length}`;
}

interface Chosen {
  file?: string;
  /** Why no file was chosen although one was named (a current client whose file is gone). */
  note?: string;
}

async function chooseFile(options: ResolveClientOptions, env: Env): Promise<Chosen> {
  if (options.file) return { file: resolve(options.file) };
  if (env.JMP_CLIENT_CONFIG) return { file: resolve(env.JMP_CLIENT_CONFIG) };
  if (options.alias !== undefined) return { file: aliasFile(options.alias, env, "") };
  if (env.JMP_CLIENT) return { file: aliasFile(env.JMP_CLIENT, env, " (from JMP_CLIENT)") };
  const user = await loadUserConfig(env);
  if (user.currentClient === undefined) return {};
  const file = clientConfigPath(user.currentClient, env);
  // Upstream treats a current client whose file is gone as no current client.
  if (existsSync(file)) return { file };
  return {
    note: `the current client "${user.currentClient}" (${user.file}) has no config file ${file}`,
  };
}

function aliasFile(alias: string, env: Env, from: string): string {
  const file = clientConfigPath(alias, env);
  if (!existsSync(file)) {
    throw new ConfigError(
      `client "${alias}"${from}`,
      "",
      `no config file ${file}: run \`jmp client create ${alias}\`, or see \`jmp client list\``,
    );
  }
  return file;
}

function envOnlyConfig(): ClientConfig {
  return {
    alias: ENV_ALIAS,
    apiVersion: CLIENT_API_VERSION,
    kind: "ClientConfig",
    metadata: { name: ENV_ALIAS, namespace: "default" },
    tls: { insecure: false },
    grpcOptions: {},
    drivers: { allow: [], unsafe: false },
    shell: { useProfiles: false },
    leases: { ...LEASE_DEFAULTS },
  };
}

function defaultDetail(key: TrackedKey, config: ClientConfig): string {
  switch (key) {
    case "metadata.name":
      return `the alias (${config.alias})`;
    case "metadata.namespace":
      return '"default"';
    case "endpoint":
    case "token":
    case "tls.ca":
      return "not set";
    default:
      return "built-in default";
  }
}

function applyEnv(config: ClientConfig, sources: Record<string, SourceInfo>, env: Env): void {
  const set = (key: TrackedKey, name: string, apply: (value: string) => void): void => {
    const value = env[name];
    if (!value) return; // empty means unset
    apply(value);
    sources[key] = { source: "env", detail: name };
  };
  set("endpoint", "JMP_ENDPOINT", (value) => config.endpoint = value);
  set("token", "JMP_TOKEN", (value) => config.token = value);
  set("metadata.namespace", "JMP_NAMESPACE", (value) => config.metadata.namespace = value);
  set("metadata.name", "JMP_NAME", (value) => config.metadata.name = value);
  set("drivers.unsafe", "JMP_DRIVERS_UNSAFE", (value) => {
    config.drivers.unsafe = parseBoolean("JMP_DRIVERS_UNSAFE", value);
  });
  set("drivers.allow", "JMP_DRIVERS_ALLOW", (value) => {
    const globs = value.split(",").map((glob) => glob.trim()).filter((glob) => glob !== "");
    const drivers = readDrivers(globs, false);
    config.drivers.allow = drivers.allow;
    if (drivers.unsafe) {
      // As upstream: UNSAFE in the allow list wins over JMP_DRIVERS_UNSAFE.
      config.drivers.unsafe = true;
      sources["drivers.unsafe"] = { source: "env", detail: "JMP_DRIVERS_ALLOW" };
    }
  });
  for (const name of ["JUMPSTARTER_GRPC_INSECURE", "JMP_GRPC_INSECURE"]) {
    const value = env[name];
    if (value && TRUE_WORDS.includes(value.trim().toLowerCase())) {
      config.tls.insecure = true;
      sources["tls.insecure"] = { source: "env", detail: name };
      break;
    }
  }
}

function parseBoolean(name: string, value: string): boolean {
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw new ConfigError(
    "environment",
    name,
    `must be ${TRUE_WORDS.join(", ")} or ${FALSE_WORDS.join(", ")}, got ${JSON.stringify(value)}`,
  );
}

function checkComplete(config: ClientConfig, note: string | undefined): void {
  const missing: string[] = [];
  if (config.endpoint === undefined) missing.push("endpoint");
  if (config.token === undefined) missing.push("token");
  if (missing.length === 0) return;
  const vars = missing.map((key) => key === "endpoint" ? "JMP_ENDPOINT" : "JMP_TOKEN");
  if (config.file !== undefined) {
    throw new ConfigError(
      config.file,
      missing.length === 1 ? missing[0] : "",
      missing.length === 1
        ? `is not set: add it to the file or set ${vars[0]}`
        : `endpoint and token are not set: add them to the file or set JMP_ENDPOINT and JMP_TOKEN`,
    );
  }
  const fix = "run `jmp client create NAME` or set JMP_ENDPOINT and JMP_TOKEN";
  if (missing.length === 2) {
    throw new ConfigError("no client config", "", note ? `${note}; ${fix}` : fix);
  }
  const present = vars[0] === "JMP_ENDPOINT" ? "JMP_TOKEN" : "JMP_ENDPOINT";
  throw new ConfigError(
    "no client config",
    "",
    `${present} is set but ${vars[0]} is not${note ? ` (${note})` : ""}; ${fix}`,
  );
}
