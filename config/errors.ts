// The one error type of configuration problems: which file, where in it, and what is wrong.

/**
 * A configuration file that cannot be used as written. The message reads
 * `FILE: export.serial.config.baudrate: must be a number, got "fast"`.
 */
export class ConfigError extends Error {
  /** The file, or a description of where the configuration came from. */
  readonly file: string;
  /** The YAML path of the offending value (`export.power.type`), empty for the whole file. */
  readonly path: string;
  /** What is wrong, without the file and path. */
  readonly problem: string;

  /** Creates an error for `path` in `file`. */
  constructor(file: string, path: string, cause: string) {
    super(`${file}: ${path ? `${path}: ` : ""}${cause}`);
    this.name = "ConfigError";
    this.file = file;
    this.path = path;
    this.problem = cause;
  }
}

/**
 * An exporter or client alias that cannot name a configuration file. It is a ConfigError whose
 * `file` describes the alias, so callers that report ConfigErrors report this one too.
 *
 * @example
 * ```ts
 * new AliasError("a/b", 'must not contain "/" or "\\"').message;
 * // 'alias "a/b": must not contain "/" or "\"'
 * ```
 */
export class AliasError extends ConfigError {
  /** The rejected alias. */
  readonly alias: string;

  /** Creates an error for `alias`. */
  constructor(alias: string, problem: string) {
    super(`alias "${alias}"`, "", problem);
    this.name = "AliasError";
    this.alias = alias;
  }
}
