// The exporter's side of "environment over file": JMP_ENDPOINT, JMP_TOKEN, JMP_NAMESPACE,
// JMP_NAME and JUMPSTARTER_GRPC_INSECURE override an exporter config, as they do a client's.

import process from "node:process";
import { type SourceInfo, TRUE_WORDS } from "./client_env.ts";
import type { ExporterConfig } from "./exporter_config.ts";

type Env = Record<string, string | undefined>;

/** An exporter config after the environment, and where each overridable value came from. */
export interface EffectiveExporterConfig {
  config: ExporterConfig;
  sources: Record<
    "endpoint" | "token" | "metadata.name" | "metadata.namespace" | "tls.insecure",
    SourceInfo
  >;
}

/**
 * `config` with the environment's values applied over the file's (empty variables count as
 * unset); the config itself is not changed.
 *
 * @example
 * ```ts
 * const { config, sources } = applyExporterEnv(await loadExporterConfig(file));
 * sources.endpoint; // { source: "env", detail: "JMP_ENDPOINT" }
 * ```
 */
export function applyExporterEnv(
  config: ExporterConfig,
  env: Env = process.env,
): EffectiveExporterConfig {
  const out: ExporterConfig = {
    ...config,
    metadata: { ...config.metadata },
    tls: { ...config.tls },
  };
  const fromFile = (present: boolean): SourceInfo =>
    present ? { source: "file", detail: config.file } : { source: "default", detail: "not set" };
  const sources: EffectiveExporterConfig["sources"] = {
    "endpoint": fromFile(config.endpoint !== undefined),
    "token": fromFile(config.token !== undefined),
    "metadata.name": { source: "file", detail: config.file },
    "metadata.namespace": fromFile(config.metadata.namespace !== undefined),
    "tls.insecure": fromFile(true),
  };
  const overrides: [keyof EffectiveExporterConfig["sources"], string, (v: string) => void][] = [
    ["endpoint", "JMP_ENDPOINT", (v) => (out.endpoint = v)],
    ["token", "JMP_TOKEN", (v) => (out.token = v)],
    ["metadata.namespace", "JMP_NAMESPACE", (v) => (out.metadata.namespace = v)],
    ["metadata.name", "JMP_NAME", (v) => (out.metadata.name = v)],
  ];
  for (const [key, variable, apply] of overrides) {
    const value = env[variable];
    if (!value) continue;
    apply(value);
    sources[key] = { source: "env", detail: variable };
  }
  for (const variable of ["JUMPSTARTER_GRPC_INSECURE", "JMP_GRPC_INSECURE"]) {
    if (TRUE_WORDS.includes(env[variable]?.trim().toLowerCase() ?? "")) {
      out.tls.insecure = true;
      sources["tls.insecure"] = { source: "env", detail: variable };
      break;
    }
  }
  return { config: out, sources };
}
