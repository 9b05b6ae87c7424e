// Exporter configuration files (`kind: ExporterConfig`): what an exporter serves and where it
// registers, read into a typed value. Every mistake is reported with the file and YAML path; only
// a driver's `config:` is left for the driver itself to check.

import { basename, extname, resolve } from "node:path";
import { ConfigError } from "./errors.ts";
import { describeValue, Fields } from "./fields.ts";
import { parseYamlMapping, readConfigFile } from "./source.ts";

/** The only `apiVersion` of exporter configs. */
export const EXPORTER_API_VERSION = "jumpstarter.dev/v1alpha1";

/** The accepted `kind`s: upstream writes `ExporterConfig`, `Exporter` is accepted as well. */
export const EXPORTER_KINDS = ["ExporterConfig", "Exporter"] as const;

/** What a failing lease hook does: warn and go on, end the lease, or take the exporter offline. */
export const HOOK_FAILURE_ACTIONS = ["warn", "endLease", "exit"] as const;

/** One entry of `export` (or of a `children` mapping): a driver, a composite or a ref. */
export interface DriverInstanceConfig {
  /** YAML path of this instance, e.g. `export.power` or `export.board.children.serial`. */
  path: string;
  /** The `type:` string; undefined for a bare `{children: ...}` (a composite) or a `ref`. */
  type?: string;
  description?: string;
  /** From `methods_description`: help text per method, overriding the driver's own. */
  methodsDescription: Record<string, string>;
  /** The `config:` mapping as parsed, `{}` when absent; the driver validates it. */
  config: Record<string, unknown>;
  /** Nested instances, in file order. */
  children: Record<string, DriverInstanceConfig>;
  /** `{ref: "board.serial"}`: this export is another one under a second name. */
  ref?: string;
}

/** A script run before or after each lease. */
export interface HookConfig {
  script: string;
  /** From `timeout`; default 120. */
  timeoutSeconds: number;
  /** Default `warn`. */
  onFailure: typeof HOOK_FAILURE_ACTIONS[number];
  /** The interpreter; chosen from the script when absent. */
  exec?: string;
}

/** A validated exporter config file. */
export interface ExporterConfig {
  /** Absolute path of the file it came from. */
  file: string;
  apiVersion: string;
  /** As the file spelt it. */
  kind: typeof EXPORTER_KINDS[number];
  /** `name` defaults to the alias (the file name without `.yaml`). */
  metadata: { name: string; namespace?: string };
  /** The controller's address; undefined when absent or empty (local use only). */
  endpoint?: string;
  /** Undefined when absent or empty. */
  token?: string;
  /** `ca` as written (base64 PEM or a path; resolved elsewhere), undefined when empty. */
  tls: { ca?: string; insecure: boolean };
  grpcOptions: Record<string, string | number>;
  description?: string;
  motd?: string;
  /** The exported driver instances, in file order. */
  export: Record<string, DriverInstanceConfig>;
  hooks: { beforeLease?: HookConfig; afterLease?: HookConfig };
  /** Default false. */
  exitOnLeaseEnd: boolean;
  /** Present when the file has `failureDetection`; its fields default to 5 and 60 seconds. */
  failureDetection?: { maxRapidFailures: number; rapidFailureWindow: number };
}

const TOP_KEYS = [
  "apiVersion",
  "kind",
  "metadata",
  "endpoint",
  "token",
  "tls",
  "grpcOptions",
  "description",
  "motd",
  "export",
  "hooks",
  "exitOnLeaseEnd",
  "failureDetection",
];
const INSTANCE_KEYS = ["type", "description", "methods_description", "config", "children", "ref"];
const HOOK_KEYS = ["script", "timeout", "onFailure", "exec"];

/**
 * Parses and validates the text of an exporter config; `file` names it in errors and gives the
 * default `metadata.name`. Throws a ConfigError such as
 * `bench.yaml: export.power: unknown key "typ" (did you mean "type"?); known keys: ...`.
 *
 * @example
 * ```ts
 * const config = parseExporterConfig(
 *   "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\n" +
 *     "export:\n  power:\n    type: jumpstarter_driver_power.driver.MockPower\n",
 *   "/etc/jumpstarter/exporters/bench.yaml",
 * );
 * config.metadata.name; // "bench"
 * config.export.power.type; // "jumpstarter_driver_power.driver.MockPower"
 * ```
 */
export function parseExporterConfig(text: string, file: string): ExporterConfig {
  const absolute = resolve(file);
  const data = parseYamlMapping(text, absolute, {
    emptyHint: "an exporter config needs apiVersion, kind and export",
    shape: "apiVersion: ..., kind: ..., export: ...",
  });
  const f = new Fields(data, { file: absolute, path: "" });
  f.expectKeys(TOP_KEYS);
  const apiVersion = f.choice("apiVersion", [EXPORTER_API_VERSION]);
  const kind = f.choice("kind", EXPORTER_KINDS);
  const metadata = readMetadata(f.mapping("metadata"), alias(absolute));
  const endpoint = f.optionalNonEmpty("endpoint");
  const token = f.optionalNonEmpty("token");
  const tlsFields = f.mapping("tls");
  tlsFields.expectKeys(["ca", "insecure"]);
  const tls = {
    ca: tlsFields.optionalNonEmpty("ca"),
    insecure: tlsFields.boolean("insecure", { default: false }),
  };
  const grpcOptions = f.scalarMap("grpcOptions");
  const description = f.optionalString("description");
  const motd = f.optionalString("motd");
  if (!f.has("export")) {
    throw f.error("export", "is required: the driver instances to serve, e.g. power: {type: ...}");
  }
  // An empty `export: {}` is what `jmp exporter create` writes; serving it is refused later.
  const exportFields = f.mapping("export");
  const exports = readInstances(exportFields);
  const hooks = readHooks(f.mapping("hooks"));
  const exitOnLeaseEnd = f.boolean("exitOnLeaseEnd", { default: false });
  const failureDetection = f.has("failureDetection")
    ? readFailureDetection(f.mapping("failureDetection"))
    : undefined;

  return withoutUndefined({
    file: absolute,
    apiVersion,
    kind,
    metadata,
    endpoint,
    token,
    tls: withoutUndefined(tls),
    grpcOptions,
    description,
    motd,
    export: exports,
    hooks: withoutUndefined(hooks),
    exitOnLeaseEnd,
    failureDetection,
  });
}

/**
 * Reads and validates the exporter config `file` (see `parseExporterConfig`). A missing file
 * fails with `FILE: cannot read: no such file`.
 *
 * @example
 * ```ts
 * const config = await loadExporterConfig(findExporterConfig("bench"));
 * ```
 */
export async function loadExporterConfig(file: string): Promise<ExporterConfig> {
  const absolute = resolve(file);
  return parseExporterConfig(await readConfigFile(absolute), absolute);
}

/** The alias a file stands for: its name without the extension (`bench.yaml` → `bench`). */
function alias(file: string): string {
  return basename(file, extname(file));
}

function readMetadata(f: Fields, fallbackName: string): ExporterConfig["metadata"] {
  f.expectKeys(["name", "namespace"]);
  return withoutUndefined({
    name: f.string("name", { default: fallbackName, nonEmpty: true }),
    namespace: f.optionalNonEmpty("namespace"),
  });
}

// Each name is one step of the dotted paths that address drivers (`ref: board.serial`, the `j`
// commands), so it must be non-empty and free of the separators.
function checkName(parent: Fields, name: string): void {
  const why = 'it is one step of the paths that name drivers ("board.serial", j board serial)';
  if (name === "") {
    throw new ConfigError(parent.source.file, parent.source.path, `a name is empty; ${why}`);
  }
  if (name.includes(".") || name.includes("/")) {
    throw new ConfigError(
      parent.source.file,
      parent.source.path,
      `name "${name}" must not contain "." or "/": ${why}`,
    );
  }
}

function readInstances(f: Fields): Record<string, DriverInstanceConfig> {
  const out: Record<string, DriverInstanceConfig> = {};
  for (const name of f.keys()) {
    checkName(f, name);
    define(out, name, readInstance(f.raw(name), f.source.file, f.pathOf(name)));
  }
  return out;
}

function readInstance(value: unknown, file: string, path: string): DriverInstanceConfig {
  if (typeof value === "string") {
    // The most likely slip: `power: some.Driver` instead of `power: {type: some.Driver}`.
    throw new ConfigError(
      file,
      path,
      `must be a mapping, got ${describeValue(value)} (did you mean "type: ${value}"?)`,
    );
  }
  const f = new Fields(value, { file, path });
  f.expectKeys(INSTANCE_KEYS);

  if (f.has("ref")) {
    // A ref stands for another export: its type, config and children are the target's.
    const extra = ["type", "methods_description", "config", "children"].filter((key) => f.has(key));
    if (extra.length > 0) {
      throw new ConfigError(
        file,
        path,
        `"ref" cannot be combined with ${
          extra.map((key) => `"${key}"`).join(", ")
        }: a ref entry is another export under a second name`,
      );
    }
    return withoutUndefined({
      path,
      ref: f.string("ref", { nonEmpty: true }),
      description: f.optionalString("description"),
      methodsDescription: {},
      config: {},
      children: {},
    });
  }

  const hasType = f.has("type");
  if (!hasType && !f.has("children")) {
    throw new ConfigError(
      file,
      path,
      'needs "type" (a driver), "children" (a composite of drivers) or "ref" (another export)',
    );
  }
  const type = hasType ? f.string("type", { nonEmpty: true }) : undefined;
  const description = f.optionalString("description");
  const methodsDescription = f.stringMap("methods_description");
  const config = f.raw("config") ?? {};
  if (typeof config !== "object" || Array.isArray(config)) {
    throw f.error("config", `must be a mapping, got ${describeValue(config)}`);
  }
  if (!hasType && Object.keys(config).length > 0) {
    throw f.error("config", 'only a driver has a config: add "type" or remove "config"');
  }
  return withoutUndefined({
    path,
    type,
    description,
    methodsDescription,
    config: config as Record<string, unknown>,
    children: readInstances(f.mapping("children")),
  });
}

function readHooks(f: Fields): ExporterConfig["hooks"] {
  f.expectKeys(["beforeLease", "afterLease"]);
  return {
    beforeLease: f.has("beforeLease") ? readHook(f.mapping("beforeLease")) : undefined,
    afterLease: f.has("afterLease") ? readHook(f.mapping("afterLease")) : undefined,
  };
}

function readHook(f: Fields): HookConfig {
  f.expectKeys(HOOK_KEYS);
  return withoutUndefined({
    script: f.string("script", { nonEmpty: true }),
    timeoutSeconds: f.number("timeout", { default: 120, integer: true, min: 1 }),
    onFailure: f.choice("onFailure", HOOK_FAILURE_ACTIONS, { default: "warn" }),
    exec: f.optionalNonEmpty("exec"),
  });
}

function readFailureDetection(f: Fields): NonNullable<ExporterConfig["failureDetection"]> {
  f.expectKeys(["maxRapidFailures", "rapidFailureWindow"]);
  return {
    maxRapidFailures: f.number("maxRapidFailures", { default: 5, integer: true, min: 1 }),
    // Seconds; 0 counts no failure as rapid, which turns the detection off.
    rapidFailureWindow: f.number("rapidFailureWindow", { default: 60, integer: true, min: 0 }),
  };
}

// Sets a key that came from the file; `__proto__` must become a key, not replace the prototype.
function define<T>(out: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

// Optional fields that are absent are left out rather than set to undefined, so the value
// compares equal to a hand-written literal and prints without noise.
function withoutUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] === undefined) delete value[key];
  }
  return value;
}
