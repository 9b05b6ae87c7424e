// Configuration files: loading, validating and locating them.

export { AliasError, ConfigError } from "./errors.ts";
export { describeValue, Fields, type FieldsSource } from "./fields.ts";
export { closest, didYouMean } from "./suggest.ts";
export { collectionKeyProblem, parseYaml, readConfigFile } from "./source.ts";
export {
  type ConfigPathOptions,
  exporterConfigPath,
  exporterConfigPaths,
  findExporterConfig,
  SYSTEM_CONFIG_DIR,
  SYSTEM_CONFIG_DIR_ENV,
  systemConfigDir,
  userConfigDir,
  validateAlias,
} from "./paths.ts";
export {
  type DriverInstanceConfig,
  EXPORTER_API_VERSION,
  EXPORTER_KINDS,
  type ExporterConfig,
  HOOK_FAILURE_ACTIONS,
  type HookConfig,
  loadExporterConfig,
  parseExporterConfig,
} from "./exporter_config.ts";
export { PRIVATE_FILE_MODE, updateYaml, writeFileAtomic } from "./config_writer.ts";
export {
  aliasOfFile,
  clientConfigHome,
  type Env,
  readConfigFileSync,
  readProblem,
} from "./client_paths.ts";
export {
  CLIENT_API_VERSION,
  CLIENT_KINDS,
  type ClientConfig,
  clientConfigDir,
  type ClientConfigEntry,
  clientConfigPath,
  deleteClientConfig,
  LEASE_DEFAULTS,
  listClientConfigs,
  loadClientConfig,
  type NewClientConfig,
  parseClientConfig,
  parseClientConfigSources,
  readDrivers,
  renderClientConfig,
  saveClientConfig,
  TRACKED_KEYS,
  type TrackedKey,
  UNSAFE_WORD,
} from "./client_config.ts";
export {
  loadUserConfig,
  parseUserConfig,
  setCurrentClient,
  USER_CONFIG_API_VERSION,
  type UserConfig,
  userConfigPath,
} from "./user_config.ts";
export {
  type EffectiveClientConfig,
  ENV_ALIAS,
  redactToken,
  resolveClientConfig,
  type ResolveClientOptions,
  type Source,
  type SourceInfo,
} from "./client_env.ts";
export { applyExporterEnv, type EffectiveExporterConfig } from "./exporter_env.ts";
