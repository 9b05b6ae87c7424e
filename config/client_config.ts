// Client configuration files (`kind: ClientConfig`, `<base>/clients/ALIAS.yaml`): where a client
// finds its controller and the token it presents, read into a typed value; plus creating,
// listing and deleting them. Environment overrides are applied elsewhere (client_env.ts).

import { existsSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { stringify } from "yaml";
import { ConfigError } from "./errors.ts";
import { Fields } from "./fields.ts";
import { parseYamlMapping, readConfigFile } from "./source.ts";
import { validateAlias } from "./paths.ts";
import { PRIVATE_FILE_MODE, updateYaml, writeFileAtomic } from "./config_writer.ts";
import {
  aliasOfFile,
  clientConfigHome,
  type Env,
  readConfigFileSync,
  readProblem,
} from "./client_paths.ts";

/** The only `apiVersion` of client configs. */
export const CLIENT_API_VERSION = "jumpstarter.dev/v1alpha1";

/** The accepted `kind`s: upstream writes `ClientConfig`, the configuration document `Client`. */
export const CLIENT_KINDS = ["ClientConfig", "Client"] as const;

/** Lease timeouts (seconds) when the file does not set them, as upstream. */
export const LEASE_DEFAULTS = {
  acquisitionTimeout: 7200,
  dialTimeout: 60,
  retryTimeout: 300,
} as const;

/** The keys of a client config whose value may come from the file (see `client_env.ts`). */
export const TRACKED_KEYS = [
  "endpoint",
  "token",
  "metadata.name",
  "metadata.namespace",
  "tls.insecure",
  "tls.ca",
  "drivers.allow",
  "drivers.unsafe",
] as const;

/** One of `TRACKED_KEYS`. */
export type TrackedKey = typeof TRACKED_KEYS[number];

/** A validated client config. */
export interface ClientConfig {
  /** Absolute path of the file it came from; absent for a config made from the environment. */
  file?: string;
  /** The file name without `.yaml`, or `env` for a config made from the environment. */
  alias: string;
  /** Always `jumpstarter.dev/v1alpha1`. */
  apiVersion: string;
  /** As the file spelt it. */
  kind: typeof CLIENT_KINDS[number];
  /** `name` defaults to the alias, `namespace` to `default`. */
  metadata: { name: string; namespace: string };
  /** The controller's address; undefined when absent or empty. */
  endpoint?: string;
  /** Undefined when absent or empty. */
  token?: string;
  /** From `refresh_token`; undefined when absent or empty. */
  refreshToken?: string;
  /** `ca` as written (base64 PEM or a path), undefined when empty. */
  tls: { ca?: string; insecure: boolean };
  /** gRPC channel arguments (`grpc.keepalive_time_ms: 20000`), as written. */
  grpcOptions: Record<string, string | number>;
  /** Which driver client classes may be loaded (globs); `unsafe` allows any. */
  drivers: { allow: string[]; unsafe: boolean };
  /** From `shell.use_profiles`; default false. */
  shell: { useProfiles: boolean };
  /** From `leases`; seconds, see `LEASE_DEFAULTS`. */
  leases: { acquisitionTimeout: number; dialTimeout: number; retryTimeout: number };
}

/** What is needed to write a new client config file. */
export interface NewClientConfig {
  /** The file's name (without `.yaml`); the default `metadata.name`. */
  alias: string;
  /** `metadata.name`; default the alias. */
  name?: string;
  /** `metadata.namespace`; default `default`. */
  namespace?: string;
  /** The controller's address, `host:port`. */
  endpoint: string;
  /** The token the controller issued to this client. */
  token: string;
  /** `refresh_token`, written only when given. */
  refreshToken?: string;
  /** `tls.ca`: a base64 PEM or a path; default empty (the system's CAs). */
  ca?: string;
  /** `tls.insecure`; default false. */
  insecure?: boolean;
  /** `drivers.allow`; default none. */
  allow?: string[];
  /** `drivers.unsafe`; default false. */
  unsafe?: boolean;
  /** `grpcOptions`; default none. */
  grpcOptions?: Record<string, string | number>;
  /** `kind`; default `ClientConfig` (or the spelling of the file being overwritten). */
  kind?: typeof CLIENT_KINDS[number];
}

/** One file of the clients folder, as `listClientConfigs` found it. */
export interface ClientConfigEntry {
  /** The file name without `.yaml`. */
  alias: string;
  /** The file's absolute path. */
  file: string;
  /** The config, when the file is valid. */
  config?: ClientConfig;
  /** Why the file cannot be used (one line, naming the file), when it is not valid. */
  error?: string;
}

const TOP_KEYS = [
  "apiVersion",
  "kind",
  "metadata",
  "endpoint",
  "tls",
  "token",
  "refresh_token",
  "grpcOptions",
  "drivers",
  "shell",
  "leases",
];

/** The word in `drivers.allow` (or `JMP_DRIVERS_ALLOW`) that means `unsafe: true`. */
export const UNSAFE_WORD = "UNSAFE";

/**
 * Parses and validates the text of a client config; `file` names it in errors and gives the
 * alias (and so the default `metadata.name`). Throws a ConfigError such as
 * `/home/ada/.config/jumpstarter/clients/lab.yaml: tls: unknown key "insecur" (did you mean
 * "insecure"?); known keys: ca, insecure`.
 *
 * @example
 * ```ts
 * const config = parseClientConfig(
 *   "apiVersion: jumpstarter.dev/v1alpha1\nkind: ClientConfig\n" +
 *     "endpoint: jumpstarter.example.com:443\ntoken: eyJhbGciOi...\n",
 *   "/home/ada/.config/jumpstarter/clients/lab.yaml",
 * );
 * config.metadata; // { name: "lab", namespace: "default" }
 * ```
 */
export function parseClientConfig(text: string, file: string): ClientConfig {
  return parseClientConfigSources(text, file).config;
}

/**
 * Like `parseClientConfig`, and also tells which of `TRACKED_KEYS` the file sets (to a
 * non-empty value), so that an effective config can say where each value came from.
 *
 * @example
 * ```ts
 * const { fromFile } = parseClientConfigSources("endpoint: a:443\n", "lab.yaml");
 * fromFile.has("endpoint"); // true
 * fromFile.has("token"); // false
 * ```
 */
export function parseClientConfigSources(
  text: string,
  file: string,
): { config: ClientConfig; fromFile: Set<TrackedKey> } {
  const absolute = resolve(file);
  const data = parseYamlMapping(text, absolute, {
    emptyHint: "a client config needs at least endpoint and token (or run `jmp client create`)",
    shape: "apiVersion: ..., kind: ClientConfig, endpoint: ...",
  });
  const fromFile = new Set<TrackedKey>();
  const f = new Fields(data, { file: absolute, path: "" });
  f.expectKeys(TOP_KEYS);
  // Upstream defaults both, so a file without them is still a client config.
  const apiVersion = f.choice("apiVersion", [CLIENT_API_VERSION], {
    default: CLIENT_API_VERSION,
  });
  const kind = f.choice("kind", CLIENT_KINDS, { default: "ClientConfig" });
  const alias = aliasOfFile(absolute);

  const meta = f.mapping("metadata");
  meta.expectKeys(["name", "namespace"]);
  const name = meta.optionalNonEmpty("name");
  const namespace = meta.optionalNonEmpty("namespace");
  if (name !== undefined) fromFile.add("metadata.name");
  if (namespace !== undefined) fromFile.add("metadata.namespace");

  const endpoint = f.optionalNonEmpty("endpoint");
  if (endpoint !== undefined) fromFile.add("endpoint");
  const token = f.optionalNonEmpty("token");
  if (token !== undefined) fromFile.add("token");
  const refreshToken = f.optionalNonEmpty("refresh_token");

  const tlsFields = f.mapping("tls");
  tlsFields.expectKeys(["ca", "insecure"]);
  const ca = tlsFields.optionalNonEmpty("ca");
  if (ca !== undefined) fromFile.add("tls.ca");
  if (tlsFields.has("insecure")) fromFile.add("tls.insecure");
  const insecure = tlsFields.boolean("insecure", { default: false });

  const grpcOptions = f.scalarMap("grpcOptions");

  const driverFields = f.mapping("drivers");
  driverFields.expectKeys(["allow", "unsafe"]);
  if (driverFields.has("allow")) fromFile.add("drivers.allow");
  if (driverFields.has("unsafe")) fromFile.add("drivers.unsafe");
  const drivers = readDrivers(
    driverFields.stringList("allow"),
    driverFields.boolean("unsafe", { default: false }),
  );
  if (drivers.unsafe && !driverFields.has("unsafe")) fromFile.add("drivers.unsafe");

  const shellFields = f.mapping("shell");
  shellFields.expectKeys(["use_profiles"]);
  const shell = { useProfiles: shellFields.boolean("use_profiles", { default: false }) };

  const leaseFields = f.mapping("leases");
  leaseFields.expectKeys(["acquisition_timeout", "dial_timeout", "retry_timeout"]);
  const leases = {
    // Upstream: at least 5 seconds, its polling interval.
    acquisitionTimeout: leaseFields.number("acquisition_timeout", {
      default: LEASE_DEFAULTS.acquisitionTimeout,
      integer: true,
      min: 5,
    }),
    dialTimeout: leaseFields.number("dial_timeout", {
      default: LEASE_DEFAULTS.dialTimeout,
      min: 1,
    }),
    retryTimeout: leaseFields.number("retry_timeout", {
      default: LEASE_DEFAULTS.retryTimeout,
      min: 1,
    }),
  };

  const config: ClientConfig = withoutUndefined({
    file: absolute,
    alias,
    apiVersion,
    kind,
    metadata: { name: name ?? alias, namespace: namespace ?? "default" },
    endpoint,
    token,
    refreshToken,
    tls: withoutUndefined({ ca, insecure }),
    grpcOptions,
    drivers,
    shell,
    leases,
  });
  return { config, fromFile };
}

/**
 * Reads and validates the client config `file` (see `parseClientConfig`). A missing file fails
 * with `FILE: cannot read: no such file`.
 *
 * @example
 * ```ts
 * const config = await loadClientConfig(clientConfigPath("lab"));
 * ```
 */
export async function loadClientConfig(file: string): Promise<ClientConfig> {
  const absolute = resolve(file);
  return parseClientConfig(await readConfigFile(absolute), absolute);
}

/**
 * The folder of client config files: `<base>/clients`, where `<base>` is
 * `$JMP_CLIENT_CONFIG_HOME` or `$XDG_CONFIG_HOME/jumpstarter` (`~/.config/jumpstarter`).
 *
 * @example
 * ```ts
 * clientConfigDir({ HOME: "/home/ada" }); // "/home/ada/.config/jumpstarter/clients"
 * ```
 */
export function clientConfigDir(env: Env = process.env): string {
  return join(clientConfigHome(env), "clients");
}

/**
 * The client config file of `alias`, whether it exists or not. Fails with an AliasError for an
 * alias that cannot name a file (empty, `.`, `..`, containing `/` or `\`).
 *
 * @example
 * ```ts
 * clientConfigPath("lab", { HOME: "/home/ada" });
 * // "/home/ada/.config/jumpstarter/clients/lab.yaml"
 * ```
 */
export function clientConfigPath(alias: string, env: Env = process.env): string {
  validateAlias(alias);
  return join(clientConfigDir(env), `${alias}.yaml`);
}

/**
 * Every `*.yaml` file of the clients folder, sorted by alias, each with its config or, for a
 * file that cannot be used, its one-line error (nothing is thrown for a broken file). An absent
 * folder lists nothing.
 *
 * @example
 * ```ts
 * for (const { alias, config, error } of listClientConfigs()) {
 *   console.log(alias, config?.endpoint ?? `(broken: ${error})`);
 * }
 * ```
 */
export function listClientConfigs(env: Env = process.env): ClientConfigEntry[] {
  const dir = clientConfigDir(env);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return [];
    throw new ConfigError(dir, "", `cannot list: ${readProblem(err)}`);
  }
  const entries: ClientConfigEntry[] = [];
  for (const name of names) {
    if (!name.endsWith(".yaml") || name.startsWith(".")) continue;
    const alias = name.slice(0, -".yaml".length);
    const file = join(dir, name);
    try {
      entries.push({ alias, file, config: parseClientConfig(readConfigFileSync(file), file) });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      entries.push({ alias, file, error: message.split("\n")[0] });
    }
  }
  return entries.sort((a, b) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
}

/**
 * The YAML text of a new client config file, with upstream's keys, spelling and order (and its
 * defaults written out, as upstream's `jmp config client create` does).
 *
 * @example
 * ```ts
 * renderClientConfig({ alias: "lab", endpoint: "jmp.example.com:443", token: "eyJ..." });
 * // "apiVersion: jumpstarter.dev/v1alpha1\nkind: ClientConfig\nmetadata:\n  namespace: default\n..."
 * ```
 */
export function renderClientConfig(config: NewClientConfig): string {
  validateAlias(config.alias);
  const allow = config.allow ?? [];
  const document: Record<string, unknown> = {
    apiVersion: CLIENT_API_VERSION,
    kind: config.kind ?? "ClientConfig",
    metadata: {
      namespace: config.namespace || "default",
      name: config.name || config.alias,
    },
    endpoint: config.endpoint,
    tls: { ca: config.ca ?? "", insecure: config.insecure ?? false },
    token: config.token,
  };
  if (config.refreshToken) document.refresh_token = config.refreshToken;
  Object.assign(document, {
    grpcOptions: { ...config.grpcOptions },
    drivers: { allow: [...allow], unsafe: config.unsafe ?? false },
    shell: { use_profiles: false },
    leases: {
      acquisition_timeout: LEASE_DEFAULTS.acquisitionTimeout,
      dial_timeout: LEASE_DEFAULTS.dialTimeout,
      retry_timeout: LEASE_DEFAULTS.retryTimeout,
    },
  });
  // lineWidth 0: a token is one long word and must stay on one line.
  return stringify(document, { lineWidth: 0, minContentWidth: 0 });
}

// A valid existing file gets the new values set in place, so that its comments and any other
// settings survive; undefined when it cannot be read as a client config (it is then replaced).
function updateExisting(file: string, config: NewClientConfig): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
    parseClientConfig(text, file);
  } catch {
    return undefined;
  }
  return updateYaml(text, [
    [["metadata", "namespace"], config.namespace || "default"],
    [["metadata", "name"], config.name || config.alias],
    [["endpoint"], config.endpoint],
    [["tls", "ca"], config.ca ?? ""],
    [["tls", "insecure"], config.insecure ?? false],
    [["token"], config.token],
    [["drivers", "allow"], [...(config.allow ?? [])]],
    [["drivers", "unsafe"], config.unsafe ?? false],
  ]);
}

/**
 * Writes the client config of `config.alias` (see `renderClientConfig`) to
 * `<base>/clients/ALIAS.yaml`, atomically and readable by the owner only (0600). An existing file
 * is kept unless `overwrite` is set (then its `kind` spelling is kept). Returns the path.
 *
 * @example
 * ```ts
 * const file = saveClientConfig({ alias: "lab", endpoint: "jmp.example.com:443", token });
 * // "/home/ada/.config/jumpstarter/clients/lab.yaml"
 * ```
 */
export function saveClientConfig(
  config: NewClientConfig,
  env: Env = process.env,
  options: { overwrite?: boolean } = {},
): string {
  const file = clientConfigPath(config.alias, env);
  let kind = config.kind;
  if (existsSync(file)) {
    if (!options.overwrite) {
      throw new ConfigError(file, "", "already exists; delete it first or pass --force");
    }
    const updated = updateExisting(file, config);
    if (updated !== undefined) {
      writeFileAtomic(file, updated, { mode: PRIVATE_FILE_MODE });
      return file;
    }
    kind ??= existingKind(file);
  }
  writeFileAtomic(file, renderClientConfig({ ...config, kind }), { mode: PRIVATE_FILE_MODE });
  return file;
}

/**
 * Removes the client config file of `alias` and returns its path. Fails with a ConfigError when
 * there is none.
 *
 * @example
 * ```ts
 * deleteClientConfig("lab"); // "/home/ada/.config/jumpstarter/clients/lab.yaml"
 * ```
 */
export function deleteClientConfig(alias: string, env: Env = process.env): string {
  const file = clientConfigPath(alias, env);
  try {
    unlinkSync(file);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const problem = code === "ENOENT"
      ? `no client config "${alias}" to delete (see \`jmp client list\`)`
      : `cannot delete: ${readProblem(err)}`;
    throw new ConfigError(file, "", problem);
  }
  return file;
}

/** Splits `drivers.allow` (or `JMP_DRIVERS_ALLOW`): the word UNSAFE turns `unsafe` on. */
export function readDrivers(allow: string[], unsafe: boolean): ClientConfig["drivers"] {
  return {
    allow: allow.filter((glob) => glob !== UNSAFE_WORD),
    unsafe: unsafe || allow.includes(UNSAFE_WORD),
  };
}

// The `kind` spelling of a file about to be replaced; the upstream one when it cannot be read.
function existingKind(file: string): typeof CLIENT_KINDS[number] | undefined {
  try {
    return parseClientConfig(readConfigFileSync(file), file).kind;
  } catch {
    return undefined;
  }
}

// Absent optional fields are left out rather than set to undefined, so the value compares equal
// to a hand-written literal and prints without noise.
function withoutUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] === undefined) delete value[key];
  }
  return value;
}
